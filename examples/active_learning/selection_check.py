"""Does uncertainty selection pick cells the committee predicts worse than random ones?

    python examples/active_learning/selection_check.py UNCERTAINTY_DIR RANDOM_DIR
        [--rcut 4.0] [-o table.json]

A cheap mechanism check of ``lammps-uq learn`` (issue 22, item 1), run on the work dirs of the
two arms of one seed (``run_fig7.py``: ``uncertainty_seedS/`` and ``random_seedS/``) before
hours are spent on training.  It needs, per arm, ``iter_KKK/labelled.extxyz`` (the labelled
cells: ``REF_forces``, ``cell_id`` and, kept from the carved cell, ``carve_centre_index``;
``cells/<cell_id>.extxyz`` is read when the labelled frame lacks it) and
``iter_{K-1}/committee/member_*.model``.

What is computed.  For every iteration k >= 1 with labelled cells in both dirs, and for each
arm, the arm's committee of iteration k-1 -- the committee that explored, chose and carved the
cells of iteration k -- is evaluated (``CommitteeCalculator``, float64, CPU) on every labelled
cell of iteration k of that arm.  Per cell:

- the core: the atoms whose minimum-image distance to the centre atom (``carve_centre_index``)
  is <= rcut, the centre included (the atoms of ``s_loc``'s sum, paper Eq. 10);
- the core force error (eV/Å): the mean absolute component of ``F_mean - REF_forces`` over the
  core atoms and x, y, z, i.e. mean_{j in core} (1/3) sum_a |F_mean,ja - F_REF,ja| (the metric
  of the learning curve's test force MAE, and per component as ``s_loc`` is);
- ``s_loc`` at the centre: the committee's ``s_local`` (rcut) of the centre atom, in the cell.

Per iteration, uncertainty vs random: n cells per arm, the median core error of each arm and
their ratio (uncertainty / random), the median centre ``s_loc`` of each arm, and the p-value of
a one-sided Mann-Whitney U test (``scipy.stats.mannwhitneyu``, alternative "greater": the
uncertainty arm's core errors tend to be larger than the random arm's).

Why.  Uncertainty selection is only worth its cost if the committee is really worse where it
is uncertain: the cells it picks should have clearly larger true errors than random cells.
Decision rule (issue 22): if uncertainty-selected cores are not clearly worse-predicted (ratio
of median core errors >= 1.5), fix the selection before spending hours on training.

At k = 1 both arms' committees are the same iteration-0 committee (the random arm adopts the
uncertainty arm's, ``initial_committee``): the cleanest comparison, the same model judging
both sets of cells (the table says whether the two committees' files are identical).  At
k >= 2 each arm is judged by its own committee of k-1, trained on different cells.

Caveats: the cells are the carved (16-molecule, periodic) cells, their border relaxed with the
committee of k-1, so ``s_loc`` here is the cell's, not fix uq's in the exploration box, and
core atoms outside the carve's fixed core were moved by that relaxation.

Output: a progress line per cell (stderr), the table (stdout) and a JSON file (``-o``,
default ``UNCERTAINTY_DIR/selection_check.json``) with the table's lines, every row and the
per-cell values (cell_id, core error, centre s_loc, atoms in the core).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ARMS = ("uncertainty", "random")
THRESHOLD = 1.5
METRIC = ("core force error: mean over the core atoms (minimum-image distance to the centre "
          "<= rcut, centre included) and x, y, z of |F_mean - REF_forces| (eV/Å), F_mean the "
          "committee mean of iteration k-1")
RULE = ("if uncertainty-selected cores are not clearly worse-predicted (ratio of median core "
        "errors >= 1.5), fix the selection before spending hours on training")


def fail(message: str):
    raise SystemExit(f"selection_check: {message}")


def say(message: str) -> None:
    print(f"selection_check: {message}", file=sys.stderr, flush=True)


def labelled_iterations(work: Path, arm: str) -> set[int]:
    """The iterations k >= 1 of ``work`` with labelled cells (a non-empty labelled.extxyz)."""
    if not work.is_dir():
        fail(f"{arm} dir {str(work)!r} is not a folder; expected a lammps-uq learn work_dir")
    found = set()
    for folder in work.glob("iter_[0-9][0-9][0-9]"):
        labelled = folder / "labelled.extxyz"
        if int(folder.name[5:]) >= 1 and labelled.is_file() and labelled.stat().st_size:
            found.add(int(folder.name[5:]))
    return found


def check_arm(work: Path, arm: str) -> None:
    """Refuse a dir whose provenance says it ran the other selection (dirs swapped)."""
    for path in sorted(work.glob("iter_[0-9][0-9][0-9]/provenance.json")):
        try:
            selection = json.loads(path.read_text()).get("selection")
        except (OSError, ValueError, AttributeError):
            continue
        if selection not in (None, arm):
            fail(f"{arm} dir {str(work)!r} ran selection = {selection!r} ({path}); expected "
                 f"the {arm} arm there (UNCERTAINTY_DIR first, then RANDOM_DIR)")


def common_iterations(dirs: dict[str, Path]) -> list[int]:
    found = {arm: labelled_iterations(work, arm) for arm, work in dirs.items()}
    common = sorted(set.intersection(*found.values()))
    if not common:
        fail(f"no iteration >= 1 has labelled cells in both {str(dirs['uncertainty'])!r} "
             f"({sorted(found['uncertainty']) or 'none'}) and {str(dirs['random'])!r} "
             f"({sorted(found['random']) or 'none'}); expected iter_KKK/labelled.extxyz in both")
    for arm, ks in found.items():
        if ks - set(common):
            say(f"{arm}: iteration(s) {sorted(ks - set(common))} not in the other dir, skipped")
    return common


def committee_paths(work: Path, k: int) -> list[Path]:
    """The member models of iteration k-1 (the committee that chose iteration k's cells)."""
    folder = work / f"iter_{k - 1:03d}" / "committee"
    paths = sorted(folder.glob("member_*.model"))
    if len(paths) < 2:
        fail(f"{str(folder)!r} holds {len(paths)} member_*.model; expected the committee of "
             f"iteration {k - 1} (at least two members), which chose iteration {k}'s cells")
    return paths


def committee_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def centre_index(frame, folder: Path) -> int:
    """``carve_centre_index`` of a labelled cell: its own info, else its carved cell file's."""
    if "carve_centre_index" in frame.info:
        return int(frame.info["carve_centre_index"])
    import ase.io

    path = folder / "cells" / f"{str(frame.info.get('cell_id')).split(':')[0]}.extxyz"
    if not path.is_file():
        fail(f"labelled cell {frame.info.get('cell_id')!r} of {str(folder)!r} has no "
             f"carve_centre_index and {str(path)!r} is missing; expected the carved cells")
    info = ase.io.read(path, 0).info
    if "carve_centre_index" not in info:
        fail(f"{str(path)!r} has no info carve_centre_index; expected a carved cell")
    return int(info["carve_centre_index"])


def core_mask(atoms, centre: int, rcut: float) -> np.ndarray:
    """Atoms within rcut (minimum image) of the centre, the centre included."""
    distance = atoms.get_distances(centre, np.arange(len(atoms)), mic=bool(np.any(atoms.pbc)))
    mask = distance <= rcut
    mask[centre] = True
    return mask


def cell_values(frame, calc, centre: int, rcut: float) -> dict:
    """Core error, centre s_loc and core size of one labelled cell under ``calc``."""
    if "REF_forces" not in frame.arrays:
        fail(f"labelled cell {frame.info.get('cell_id')!r} has no REF_forces")
    calc.calculate(frame, ["energy", "forces"])
    mask = core_mask(frame, centre, rcut)
    error = np.abs(calc.results["forces"] - frame.arrays["REF_forces"])[mask]
    return {"cell_id": str(frame.info.get("cell_id")), "core_error": float(error.mean()),
            "s_loc_centre": float(calc.results["s_local"][centre]),
            "natoms_core": int(mask.sum()), "natoms": len(frame), "centre_index": centre}


def evaluate_arm(work: Path, arm: str, k: int, rcut: float) -> dict:
    """Every labelled cell of iteration k of one arm under that arm's committee of k-1."""
    from lammps_uq.committee.calculator import CommitteeCalculator
    from lammps_uq.learn.state import read_frames

    folder = work / f"iter_{k:03d}"
    paths = committee_paths(work, k)
    calc = CommitteeCalculator([str(p) for p in paths], rcut=rcut, label=f"{arm} committee")
    cells = []
    for frame in sorted(read_frames(folder / "labelled.extxyz"),
                        key=lambda f: str(f.info.get("cell_id"))):
        cell = cell_values(frame, calc, centre_index(frame, folder), rcut)
        cells.append(cell)
        say(f"iteration {k} {arm} {cell['cell_id']} ({cell['natoms_core']} of {cell['natoms']} "
            f"atoms in the core): core error {cell['core_error']:.4f} eV/Å, centre s_loc "
            f"{cell['s_loc_centre']:.4f} eV/Å")
    errors = [c["core_error"] for c in cells]
    return {"committee": [str(p) for p in paths], "committee_digest": committee_digest(paths),
            "n": len(cells), "median_core_error": float(np.median(errors)),
            "median_s_loc_centre": float(np.median([c["s_loc_centre"] for c in cells])),
            "cells": cells}


def compare(k: int, arms: dict[str, dict]) -> dict:
    """One row of the table: uncertainty vs random at iteration k."""
    from scipy.stats import mannwhitneyu

    unc, rnd = arms["uncertainty"], arms["random"]
    ratio = unc["median_core_error"] / rnd["median_core_error"] \
        if rnd["median_core_error"] > 0 else float("inf")
    p = mannwhitneyu([c["core_error"] for c in unc["cells"]],
                     [c["core_error"] for c in rnd["cells"]], alternative="greater").pvalue
    return {"iteration": k, "ratio": float(ratio), "mannwhitney_p": float(p),
            "reaches_threshold": bool(ratio >= THRESHOLD),
            "same_committee": unc["committee_digest"] == rnd["committee_digest"], **arms}


HEADER = (f"{'iter':>4} {'n unc':>5} {'n rnd':>5} {'med err unc':>11} {'med err rnd':>11} "
          f"{'ratio':>7} {'s_loc unc':>9} {'s_loc rnd':>9} {'p (MW)':>8} {'>= 1.5':>6}  committees")


def row_line(row: dict) -> str:
    unc, rnd = row["uncertainty"], row["random"]
    same = "each arm's own"
    if row["same_committee"]:
        same = "same (iteration 0: cleanest)" if row["iteration"] == 1 else "same"
    return (f"{row['iteration']:>4} {unc['n']:>5} {rnd['n']:>5} {unc['median_core_error']:>11.4f} "
            f"{rnd['median_core_error']:>11.4f} {row['ratio']:>7.3f} "
            f"{unc['median_s_loc_centre']:>9.4f} {rnd['median_s_loc_centre']:>9.4f} "
            f"{row['mannwhitney_p']:>8.2g} {'yes' if row['reaches_threshold'] else 'NO':>6}  "
            f"{same}")


def verdict(row: dict) -> str:
    k, ratio = row["iteration"], row["ratio"]
    if row["reaches_threshold"]:
        return (f"iteration {k}: ratio {ratio:.3f} >= {THRESHOLD}: uncertainty-selected cores "
                "are clearly worse-predicted")
    return (f"iteration {k}: ratio {ratio:.3f} < {THRESHOLD}: uncertainty-selected cores are "
            "NOT clearly worse-predicted: fix the selection before spending hours on training")


def table_lines(rows: list[dict], rcut: float) -> list[str]:
    return ([f"selection check, rcut {rcut} Å: the committee of iteration k-1 on the labelled "
             "cells of iteration k of each arm",
             f"{METRIC}; s_loc: its s_local (rcut) at the centre atom; medians over cells; "
             "p: one-sided Mann-Whitney U (uncertainty core errors greater)",
             HEADER] + [row_line(row) for row in rows]
            + [f"decision rule (issue 22): {RULE}"] + [verdict(row) for row in rows])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uncertainty_dir", type=Path, metavar="UNCERTAINTY_DIR")
    parser.add_argument("random_dir", type=Path, metavar="RANDOM_DIR")
    parser.add_argument("--rcut", type=float, default=4.0, help="core radius and s_loc's, Å")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="JSON table (default: UNCERTAINTY_DIR/selection_check.json)")
    args = parser.parse_args(argv)
    if not args.rcut > 0:
        fail(f"--rcut: got {args.rcut}; expected a radius > 0 Å")
    dirs = dict(zip(ARMS, (args.uncertainty_dir, args.random_dir)))
    if dirs["uncertainty"].resolve() == dirs["random"].resolve():
        fail(f"got {str(dirs['random'])!r} for both arms; expected two work dirs")
    iterations = common_iterations(dirs)
    for arm, work in dirs.items():
        check_arm(work, arm)
    rows = []
    for k in iterations:
        rows.append(compare(k, {arm: evaluate_arm(work, arm, k, args.rcut)
                                for arm, work in dirs.items()}))
    lines = table_lines(rows, args.rcut)
    print("\n".join(lines), flush=True)
    output = args.output or dirs["uncertainty"] / "selection_check.json"
    output.write_text(json.dumps({
        "uncertainty_dir": str(dirs["uncertainty"]), "random_dir": str(dirs["random"]),
        "rcut": args.rcut, "error_metric": METRIC, "decision_rule": RULE,
        "threshold": THRESHOLD, "table": lines, "iterations": rows}, indent=1) + "\n")
    say(f"table written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
