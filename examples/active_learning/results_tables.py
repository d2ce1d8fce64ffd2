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
    """One row per seed and iteration, then per iteration checked in 2 seeds or more the cells
    of all those seeds pooled (the decision rule's row: 10 cells per arm and seed are few)."""
    rows = ["| seed | iteration | cells unc / rnd | core force error, eV/Å: unc / rnd | ratio | "
            "s^loc at the centre: unc / rnd | Mann–Whitney p |", "|---|---|---|---|---|---|---|"]
    pooled: dict[int, list] = {}
    for seed in seeds:
        check = json.loads((results / f"selection_check_seed{seed}.json").read_text())
        for row in check["iterations"]:
            pooled.setdefault(row["iteration"], []).append((seed, row))
            rows.append(row_cells(seed, row))
    for k, found in sorted(pooled.items()):
        if len(found) > 1:
            rows.append(row_cells(f"pooled ({', '.join(s for s, _ in found)})",
                                  pooled_row(k, [row for _, row in found])))
    return rows


EARLY = 30  # steps: the first 6 of an exploration's 60 checks


def early_picks(results: Path, seeds: list[str]) -> str:
    """The mechanism check's cells by the step they were carved at (``cell_<step>_<atom>_<n>``):
    the uncertainty picks from the first ``EARLY`` steps of an exploration, the later ones, and
    the random cells; counts and median core errors over every seed and iteration checked."""
    import numpy as np

    groups: dict[str, list] = {"early": [], "later": [], "random": []}
    for seed in seeds:
        check = json.loads((results / f"selection_check_seed{seed}.json").read_text())
        for row in check["iterations"]:
            for cell in row["uncertainty"]["cells"]:
                step = int(cell["cell_id"].split("_")[1])
                groups["early" if step <= EARLY else "later"].append(cell["core_error"])
            groups["random"] += [cell["core_error"] for cell in row["random"]["cells"]]
    if not all(groups.values()):
        return "- Picks by step: too few cells checked"
    n = len(groups["early"]) + len(groups["later"])
    return (f"- Uncertainty picks from the first {EARLY} steps of an exploration: "
            f"{len(groups['early'])} of {n}, median core error "
            f"{np.median(groups['early']):.3f} eV/Å; the later ones "
            f"{np.median(groups['later']):.3f}; the random cells "
            f"{np.median(groups['random']):.3f} (every seed and iteration above)")


def row_cells(seed: str, row: dict) -> str:
    u, r = row["uncertainty"], row["random"]
    return (f"| {seed} | {row['iteration']} | {u['n']} / {r['n']} | "
            f"{u['median_core_error']:.3f} / {r['median_core_error']:.3f} | "
            f"{row['ratio']:.2f} | {u['median_s_loc_centre']:.3f} / "
            f"{r['median_s_loc_centre']:.3f} | {row['mannwhitney_p']:.2g} |")


def pooled_row(k: int, rows: list[dict]) -> dict:
    """The check's row at iteration ``k`` over the cells of every seed in ``rows``."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    arms = {}
    for arm in ("uncertainty", "random"):
        cells = [cell for row in rows for cell in row[arm]["cells"]]
        arms[arm] = {"n": len(cells),
                     "errors": [c["core_error"] for c in cells],
                     "median_core_error": float(np.median([c["core_error"] for c in cells])),
                     "median_s_loc_centre": float(np.median([c["s_loc_centre"]
                                                             for c in cells]))}
    u, r = arms["uncertainty"], arms["random"]
    p = mannwhitneyu(u["errors"], r["errors"], alternative="greater").pvalue
    return {"iteration": k, "ratio": u["median_core_error"] / r["median_core_error"],
            "mannwhitney_p": float(p), **arms}


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
            f"bulk force MAE {default['force_mae']:.4f} eV/Å", default_comparison(score)]


def default_comparison(score: dict) -> str:
    """Item 6: the final committee of every seed and arm (its last iteration) against the
    shipped default, on the hard set, the bulk forces and the offset-removed bulk energies."""
    default, finals = score["shipped_default"], {"hard": [], "force": [], "energy": []}
    for seed, arms in score["curves"].items():
        for arm, curve in arms.items():
            last = max(curve, key=int)
            bulk = score["bulk_test"]["curves"][seed][arm][last]
            finals["hard"].append(curve[last])
            finals["force"].append(bulk["force_mae"])
            finals["energy"].append(bulk["energy_mae_offset_removed"])

    def versus(values: list, reference: float, unit: str, digits: int) -> str:
        low, high = min(values), max(values)
        verb = "beat" if high < reference else "fall short of" if low > reference else (
            f"{sum(v < reference for v in values)} of {len(values)} beat")
        return (f"{low:.{digits}f}–{high:.{digits}f} {unit} ({verb} the default's "
                f"{reference:.{digits}f})")
    return (f"- Item 6, the {len(finals['hard'])} final committees (last iteration of every seed "
            f"and arm): hard set {versus(finals['hard'], default['hard_core_mae'], 'eV/Å', 3)}; "
            f"bulk forces {versus(finals['force'], default['force_mae'], 'eV/Å', 4)}; bulk "
            "energies, offset removed, "
            + versus(finals["energy"], default["energy_mae_offset_removed"], "eV/atom", 5))


def block(results: Path = RESULTS) -> str:
    score = json.loads((results / "score.json").read_text())
    checked = sorted(int(path.stem[len("selection_check_seed"):])
                     for path in results.glob("selection_check_seed*.json"))
    seeds = [str(s) for s in checked]  # a seed may be checked before its endpoint is scored
    begin, end = markers(results)
    lines = [begin, "", *mechanism_table(results, seeds), "", early_picks(results, seeds), "",
             *endpoint_table(score), "", *summary_lines(score), "", end]
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
