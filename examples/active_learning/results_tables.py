"""The replicated run's tables in docs/active_learning.md, rendered from the result files.

    python examples/active_learning/results_tables.py            # print them
    python examples/active_learning/results_tables.py --docs     # rewrite docs' block
    python examples/active_learning/results_tables.py --results results/walkers --docs

The mechanism check (``results/selection_check_seedS.json``, ``selection_check.py``) and the
primary and bulk endpoints (``results/score.json``, ``score.py``), between the markers below in
docs/active_learning.md; ``tests/test_score.py`` checks that the page holds exactly this text.
A run published into a subfolder of ``results/`` (``--results``) has its own block, whose
markers name the subfolder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parents[1] / "docs" / "active_learning.md"
BEGIN = "<!-- results_tables.py: begin -->"
END = "<!-- results_tables.py: end -->"


def markers(results: Path = RESULTS) -> tuple[str, str]:
    """The block's markers: BEGIN and END, naming the subfolder of ``results/`` if it is one."""
    if results.resolve() == RESULTS or RESULTS not in results.resolve().parents:
        return BEGIN, END
    tag = results.resolve().relative_to(RESULTS).as_posix()
    return f"<!-- results_tables.py {tag}: begin -->", f"<!-- results_tables.py {tag}: end -->"


def mechanism_table(results: Path, seeds: list[str]) -> list[str]:
    rows = ["| seed | iteration | cells unc / rnd | core force error, eV/Å: unc / rnd | ratio | "
            "s^loc at the centre: unc / rnd | Mann–Whitney p |", "|---|---|---|---|---|---|---|"]
    for seed in seeds:
        check = json.loads((results / f"selection_check_seed{seed}.json").read_text())
        for row in check["iterations"]:
            u, r = row["uncertainty"], row["random"]
            rows.append(f"| {seed} | {row['iteration']} | {u['n']} / {r['n']} | "
                        f"{u['median_core_error']:.3f} / {r['median_core_error']:.3f} | "
                        f"{row['ratio']:.2f} | {u['median_s_loc_centre']:.3f} / "
                        f"{r['median_s_loc_centre']:.3f} | {row['mannwhitney_p']:.2g} |")
    return rows


def endpoint_table(score: dict) -> list[str]:
    rows = ["| seed | hard-set core MAE, uncertainty: k = 0 / 1 / 2 | random: k = 0 / 1 / 2 | "
            "d (unc − rnd, mean of k ≥ 1) | bulk force MAE, unc / rnd at the last k | bulk d |",
            "|---|---|---|---|---|---|"]
    bulk = score["bulk_test"]
    for seed, arms in score["curves"].items():
        u, r = (arms[a] for a in ("uncertainty", "random"))
        last = max(bulk["curves"][seed]["uncertainty"], key=int)
        bu, br = (bulk["curves"][seed][a][last]["force_mae"] for a in ("uncertainty", "random"))
        rows.append(f"| {seed} | {' / '.join(f'{u[k]:.3f}' for k in sorted(u, key=int))} | "
                    f"{' / '.join(f'{r[k]:.3f}' for k in sorted(r, key=int))} | "
                    f"{score['paired_difference'][seed]:+.4f} | {bu:.4f} / {br:.4f} | "
                    f"{bulk['force_mae_paired']['per_seed'][seed]:+.4f} |")
    return rows


def summary_lines(score: dict) -> list[str]:
    def line(what: str, stats: dict, unit: str, digits: int) -> str:
        if stats["sd"] is None:  # one seed so far: no spread, no test
            return (f"- {what}: d = {stats['mean']:+.{digits}f} {unit} (1 seed: no SD and no "
                    f"test yet), uncertainty lower in {stats['uncertainty_lower']} of 1")
        return (f"- {what}: d = {stats['mean']:+.{digits}f} ± {stats['sd']:.{digits}f} {unit} "
                f"(mean ± SD over {stats['seeds']} seeds), uncertainty lower in "
                f"{stats['uncertainty_lower']} of {stats['seeds']}, one-sided Wilcoxon p = "
                f"{stats['wilcoxon_p_one_sided']:.2f}, sign test p = "
                f"{stats['sign_test_p_one_sided']:.2f}")
    bulk = score["bulk_test"]
    default = score["shipped_default"]
    return [line("Hard set (primary)", score["across_seeds"], "eV/Å", 4),
            line("Bulk frames, force MAE", bulk["force_mae_paired"]["across_seeds"], "eV/Å", 4),
            line("Bulk frames, energy MAE with the per-frame offset removed",
                 bulk["energy_mae_offset_removed_paired"]["across_seeds"], "eV/atom", 5),
            f"- The shipped default committee: hard set {default['hard_core_mae']:.3f} eV/Å, "
            f"bulk force MAE {default['force_mae']:.4f} eV/Å"]


def block(results: Path = RESULTS) -> str:
    score = json.loads((results / "score.json").read_text())
    checked = sorted(int(path.stem[len("selection_check_seed"):])
                     for path in results.glob("selection_check_seed*.json"))
    seeds = [str(s) for s in checked]  # a seed may be checked before its endpoint is scored
    begin, end = markers(results)
    lines = [begin, "", *mechanism_table(results, seeds), "", *endpoint_table(score), "",
             *summary_lines(score), "", end]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", action="store_true", help=f"rewrite the block in {PAGE.name}")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="a published run: results/ or a subfolder of it")
    args = parser.parse_args(argv)
    text = block(args.results.resolve())
    if not args.docs:
        print(text)
        return 0
    from lammps_uq.docs_blocks import write_between

    begin, end = markers(args.results)
    write_between(PAGE, begin, end, text[len(begin) + 1:len(text) - len(end) - 1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
