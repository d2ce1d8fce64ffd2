"""The primary endpoint of the Fig. 7 experiment (issue 22), across seeds.

    python examples/active_learning/score.py OUT --seeds 1 2 3 4 5 [--hard HARD.extxyz] [--rcut 4]
    python examples/active_learning/score.py RESULTS --replot   # score.png from score.json
    python examples/active_learning/score.py examples/active_learning/results --seeds 1 2 3 4 5

(the last scores a published folder again from the hard-set errors it keeps, e.g. against a new
shipped default)

For every seed S, arm (``uncertainty_seedS``, ``random_seedS`` in ``OUT``, made by
``run_fig7.py``) and iteration k with a committee: the **hard-set core force MAE** — for each
cell of the hard set (``data/hard_set.extxyz``, ``hard_set.py``), the mean absolute force
component of the committee mean over the atoms within ``rcut`` of the cell's centre O
(``info['centre_index']``), against GFN2-xTB (:func:`selection_check.cell_values`, the same
core as the mechanism check); averaged over the cells.  Kept per committee in
``iter_KKK/hard_errors.json`` (computed once; a rerun only adds new iterations).

Per seed, the paired difference d_S = mean over the iterations k >= 1 that both arms have of
(uncertainty - random).  Across seeds: mean and SD of d_S, the number of seeds where
uncertainty is lower, a one-sided Wilcoxon signed-rank test and a one-sided sign test (H1:
uncertainty lower).  Written to ``OUT/score.json`` and drawn in ``OUT/score.png`` (every
seed, both arms, each arm's mean ± SD over the seeds; the differences with their mean ± SD;
axes from 0).

Secondary, the same analysis of the bulk test frames (``test_errors.json``: force MAE, and the
energy MAE per atom with the mean per-atom offset over the frames removed), and the shipped
default committee on both sets (``OUT/default_hard_errors.json``, ``default_test_errors.json``):
item 6 ships the loop's committee only if it beats these.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ARMS = ("uncertainty", "random")


def hard_errors(folder: Path, hard: list, rcut: float) -> dict:
    """``folder/hard_errors.json``: the committee of ``folder`` on the hard set (once)."""
    return committee_hard_errors(sorted((folder / "committee").glob("member_*.model")),
                                 folder / "hard_errors.json", hard, rcut)


def committee_hard_errors(paths: list, path: Path, hard: list, rcut: float) -> dict:
    """The committee of ``paths`` on the hard set, kept in ``path`` (computed once)."""
    from lammps_uq.committee.calculator import CommitteeCalculator
    from lammps_uq.learn.state import read_json, write_json

    sys.path.insert(0, str(HERE))
    from selection_check import cell_values

    done = read_json(path)
    if done is not None and done.get("rcut") == rcut and done.get("cells") == len(hard):
        return done
    folder = path.parent
    calc = CommitteeCalculator([str(p) for p in paths], rcut=rcut, label=str(folder))
    errors = [cell_values(frame, calc, int(frame.info["centre_index"]), rcut)["core_error"]
              for frame in hard]
    kinds = [str(frame.info.get("hard_kind", "")) for frame in hard]
    result = {"rcut": rcut, "cells": len(hard), "core_mae": float(np.mean(errors)),
              "per_kind": {kind: float(np.mean([e for e, k in zip(errors, kinds) if k == kind]))
                           for kind in sorted(set(kinds))}, "per_cell": errors}
    write_json(path, result)
    print(f"score: {folder}: hard-set core MAE {result['core_mae']:.4f} eV/Å", flush=True)
    return result


def arm_curve(work: Path, hard: list, rcut: float) -> dict[int, float]:
    """{iteration: hard-set core MAE} of every iteration of one arm that has a committee."""
    curve = {}
    for folder in sorted(work.glob("iter_[0-9][0-9][0-9]")):
        kept = (folder / "hard_errors.json").is_file()  # all a published iteration holds
        if kept or any((folder / "committee").glob("member_*.model")):
            curve[int(folder.name[5:])] = hard_errors(folder, hard, rcut)["core_mae"]
    return curve


def paired(curves: dict[str, dict[int, float]]) -> float | None:
    """Mean over the iterations k >= 1 both arms have of uncertainty - random."""
    common = sorted(set(curves[ARMS[0]]) & set(curves[ARMS[1]]) - {0})
    if not common:
        return None
    return float(np.mean([curves[ARMS[0]][k] - curves[ARMS[1]][k] for k in common]))


def bulk_curve(work: Path) -> dict[int, dict]:
    """{iteration: bulk test force MAE, energy MAE per atom raw and with the mean per-atom
    offset over the test frames removed} of one arm (``iter_KKK/test_errors.json``)."""
    from lammps_uq.learn.state import read_json

    curve = {}
    for folder in sorted(work.glob("iter_[0-9][0-9][0-9]")):
        errors = read_json(folder / "test_errors.json")
        if errors is not None:
            curve[int(folder.name[5:])] = bulk_numbers(errors)
    return curve


def bulk_numbers(errors: dict) -> dict:
    from lammps_uq.science.calibrate import offset_removed_mae

    signed = np.array(errors["energy_signed_error_per_atom"])
    return {"force_mae": float(np.mean(errors["force_mae"])),
            "energy_mae": float(np.mean(np.abs(signed))),
            "energy_mae_offset_removed": offset_removed_mae(signed)}


def default_reference(out: Path, hard: list, rcut: float) -> dict:
    """The shipped default committee on the hard set and on the bulk test frames (item 6)."""
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir
    from lammps_uq.learn.state import read_json

    paths = sorted(default_committee_dir().glob("member_*.model"))
    result = {"hard_core_mae": committee_hard_errors(paths, out / "default_hard_errors.json",
                                                     hard, rcut)["core_mae"]}
    bulk = read_json(out / "default_test_errors.json")
    if bulk is not None and "energy_signed_error_per_atom" in bulk:
        result.update(bulk_numbers(bulk))
    return result


def paired_bulk(curves: dict[str, dict], key: str) -> float | None:
    """Mean over the iterations k >= 1 both arms have of uncertainty - random of ``key``."""
    common = sorted(set(curves[ARMS[0]]) & set(curves[ARMS[1]]) - {0})
    if not common:
        return None
    return float(np.mean([curves[ARMS[0]][k][key] - curves[ARMS[1]][k][key] for k in common]))


def across_seeds(differences: dict[int, float]) -> dict:
    """Mean, SD, wins and one-sided tests of the per-seed paired differences."""
    from scipy.stats import binomtest, wilcoxon

    d = np.array(list(differences.values()))
    wins = int(np.sum(d < 0))
    out = {"seeds": len(d), "mean": float(d.mean()) if len(d) else None,
           "sd": float(d.std(ddof=1)) if len(d) > 1 else None, "uncertainty_lower": wins}
    if len(d) >= 2:
        out["wilcoxon_p_one_sided"] = float(wilcoxon(d, alternative="less").pvalue)
        out["sign_test_p_one_sided"] = float(binomtest(wins, len(d), 0.5,
                                                       alternative="greater").pvalue)
    return out


def plot(curves: dict, differences: dict, path: Path) -> None:
    """Left: every seed's curve of each arm (thin) and each arm's mean ± SD over the seeds
    (error bars); right: every seed's paired difference and their mean ± SD.  Axes from 0."""
    from lammps_uq.science.plots import _pyplot

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for arm, colour, style, shift in zip(ARMS, ("C0", "C1"), ("-", "--"), (-0.04, 0.04)):
        per_seed = [{int(k): v for k, v in arms[arm].items()} for arms in curves.values()]
        for curve in per_seed:
            ks = sorted(curve)
            left.plot(ks, [curve[k] for k in ks], style, color=colour, alpha=0.35, lw=1)
        ks = sorted(set().union(*per_seed)) if per_seed else []
        values = [[c[k] for c in per_seed if k in c] for k in ks]
        left.errorbar([k + shift for k in ks], [np.mean(v) for v in values],
                      yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in values],
                      color=colour, lw=2, capsize=4, marker="o",
                      label=f"{arm}: mean ± SD over {len(per_seed)} seeds (thin: each seed)")
    left.set(xlabel="iteration k", ylabel="hard-set core force MAE (eV/Å)", ylim=(0, None))
    left.set_xticks(sorted({int(k) for arms in curves.values() for c in arms.values()
                            for k in c}))
    left.legend(fontsize=7, loc="lower left")
    names = [str(s) for s in differences]
    d = np.array([differences[s] for s in differences])
    right.bar(names, d, color="grey")
    if len(d) > 1:
        right.bar(["mean"], [d.mean()], yerr=[d.std(ddof=1)], capsize=6, color="k")
    right.axhline(0, color="k", lw=0.5)
    right.set(xlabel="seed", ylabel="uncertainty − random, mean over k ≥ 1 (eV/Å)",
              title="below 0: uncertainty better")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def replot(results: Path) -> None:
    """``score.png`` again from ``results/score.json`` (a published run has no committees)."""
    result = json.loads((results / "score.json").read_text())
    plot(result["curves"], result["paired_difference"], results / "score.png")


def score(out: Path, seeds: list[int], hard_path: Path, rcut: float) -> dict:
    from lammps_uq.inputs import read_frames

    hard = read_frames(hard_path, "--hard")
    curves, bulk, differences = {}, {}, {}
    for seed in seeds:
        works = {arm: out / f"{arm}_seed{seed}" for arm in ARMS}
        if not all(w.is_dir() for w in works.values()):
            print(f"score: seed {seed}: both arms' folders are needed; skipped", flush=True)
            continue
        curves[seed] = {arm: arm_curve(w, hard, rcut) for arm, w in works.items()}
        bulk[seed] = {arm: bulk_curve(w) for arm, w in works.items()}
        difference = paired(curves[seed])
        if difference is not None:
            differences[seed] = difference
    secondary = {key: {s: d for s in bulk if (d := paired_bulk(bulk[s], key)) is not None}
                 for key in ("force_mae", "energy_mae_offset_removed")}
    shown = hard_path.resolve()
    result = {"hard_set": str(shown.relative_to(HERE.parents[1]) if shown.is_relative_to(
                  HERE.parents[1]) else shown), "rcut": rcut, "error": "mean |F_mean - REF| "
              "component over the atoms within rcut of each cell's centre O, mean over cells",
              "curves": {str(s): {a: {str(k): v for k, v in c.items()} for a, c in arms.items()}
                         for s, arms in curves.items()},
              "paired_difference": {str(s): d for s, d in differences.items()},
              "across_seeds": across_seeds(differences),
              "bulk_test": {"curves": {str(s): {a: {str(k): v for k, v in c.items()}
                                                for a, c in arms.items()}
                                       for s, arms in bulk.items()},
                            **{f"{key}_paired": {"per_seed": {str(s): d for s, d in v.items()},
                                                 "across_seeds": across_seeds(v)}
                               for key, v in secondary.items()}},
              "shipped_default": default_reference(out, hard, rcut)}
    (out / "score.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result["curves"], result["paired_difference"], out / "score.png")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="run_fig7.py's --out folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--hard", type=Path, default=HERE / "data" / "hard_set.extxyz")
    parser.add_argument("--rcut", type=float, default=4.0)
    parser.add_argument("--replot", action="store_true",
                        help="only draw OUT/score.png again from OUT/score.json")
    args = parser.parse_args(argv)
    if args.replot:
        replot(args.out.resolve())
        return 0
    result = score(args.out.resolve(), args.seeds, args.hard, args.rcut)
    print(json.dumps(result["across_seeds"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
