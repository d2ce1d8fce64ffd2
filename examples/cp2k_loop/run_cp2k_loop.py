"""One real iteration of `lammps-uq learn` with CP2K labels, next to the same with xTB (issue 25).

    python examples/cp2k_loop/run_cp2k_loop.py --work /tmp/cp2k_loop [--calculator cp2k xtb]
    python examples/cp2k_loop/run_cp2k_loop.py --docs docs/cp2k.md README.md   # the table only

For each calculator (one after the other, on this machine's cores with nothing else running):

1. **data**: ``--initial`` + ``--test`` cells of 16 molecules carved from frames of the default
   committee's test set (one O centre per frame, at the parent's density, the border relaxed
   with the default committee's mean as the loop's cells),
   labelled with ``lammps-uq label --calculator C`` (its defaults: for CP2K RPBE-D3(zero),
   DZVP-MOLOPT-SR-GTH, GTH-PBE, 800 Ry). The loop's committees learn from these labels only,
   so every label a committee is trained on comes from one method;
2. **loop**: ``lammps-uq learn`` for one iteration: iteration 0 adopts the default committee
   (the explorer only: it is never trained on), iteration 1 explores the shipped water template
   (128 molecules, 350 K, ``drive mean``) for ``--steps`` steps, carves up to ``--centres``
   cells of 16 molecules, labels them with C, trains ``--members`` MACE members from scratch on
   the C-labelled cells (E0s: C's own isolated atoms), calibrates and tests.

Written: ``results/cp2k_loop.json`` (wall time of the data labels, per cell, and of every
stage of the iteration, per calculator) and, with ``--docs``, the table of ``docs/cp2k.md`` and
the README.
The work folder keeps the loops (resumable: a second run continues them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cp2k_loop.json"
MARK = "<!-- cp2k loop table -->"


def carve_cells(folder: Path, frames: range, seed: int) -> None:
    """One 16-molecule cell per frame of the default test set, centred on a random O, its
    border relaxed with the default committee's mean (as the loop carves)."""
    import ase.io

    from lammps_uq.committee.calculator import CommitteeCalculator
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir
    from lammps_uq.extract.carve import CarveOptions, carve, relax_border

    if folder.is_dir():
        return
    scratch = folder.with_name(folder.name + ".part")
    scratch.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    test = ase.io.read(default_committee_dir() / "test.extxyz", ":")
    mean = CommitteeCalculator(sorted(str(p) for p in default_committee_dir().glob("*.model")))
    options = CarveOptions(molecules=16)
    for k in frames:
        frame = test[k]
        oxygens = [i for i, s in enumerate(frame.get_chemical_symbols()) if s == "O"]
        centre = int(rng.choice(oxygens))
        cell = carve(frame, centre, options, parent_volume=frame.get_volume(),
                     parent_natoms=len(frame))
        relax_border(cell, mean, options)
        ase.io.write(scratch / f"cell_{k}_{centre}_00000.extxyz", cell)
    scratch.rename(folder)


def label(cells: Path, output: Path, calculator: str) -> float:
    """``lammps-uq label`` as a user runs it (one worker with every core); its wall time."""
    if output.is_file():
        return json.loads(output.with_suffix(".seconds.json").read_text())["seconds"]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lammps_uq.cli", "label", str(cells), "-o",
                    str(output), "--calculator", calculator, "--workers", "1"], check=True)
    seconds = time.perf_counter() - start
    output.with_suffix(".seconds.json").write_text(json.dumps({"seconds": seconds}))
    return seconds


def config_text(args, calculator: str) -> str:
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir

    models = " ".join(str(p) for p in sorted(default_committee_dir().glob("*.model")))
    return (f'work_dir = "work"\niterations = 1\nseed = 1\nmax_centres = {args.centres}\n'
            f'initial_data = "initial.extxyz"\ntest_data = "test.extxyz"\n'
            f'initial_committee = "{models}"\n'
            f"[explore]\nsteps = {args.steps}\nranks = 2\n"
            f'[extract]\nmolecules = 16\ncentre_element = "O"\n'
            f'[label]\ncalculator = "{calculator}"\n'
            f"[train]\nmembers = {args.members}\nepochs = {args.epochs}\nthreads = 2\n"
            "mace = { batch_size = 1, valid_fraction = 0.25 }  # a few frames\n"
            # one of 3 cells held out (initial and new): alpha is fitted on 2 cells
            f"[calibrate]\nholdout_fraction = 0.34\n[executor]\nworkers = 1\n")


def run_one(args, calculator: str) -> dict:
    """Data labels and one iteration of the loop with ``calculator``; their wall times."""
    work = args.work / calculator
    work.mkdir(parents=True, exist_ok=True)
    n = args.initial + args.test
    carve_cells(work / "cells_initial", range(args.initial), seed=1)
    carve_cells(work / "cells_test", range(args.initial, n), seed=2)
    data_seconds = (label(work / "cells_initial", work / "initial.extxyz", calculator)
                    + label(work / "cells_test", work / "test.extxyz", calculator))
    (work / "learn.toml").write_text(config_text(args, calculator))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lammps_uq.cli", "learn", str(work / "learn.toml")],
                   check=True)
    loop_seconds = time.perf_counter() - start  # a resumed loop: only its last part
    return {"calculator": calculator, "data_cells": n,
            "data_label_seconds_per_cell": round(data_seconds / n, 1),
            "loop_wall_seconds": round(loop_seconds, 1), **iteration_record(work / "work")}


def iteration_record(work: Path) -> dict:
    """Stage times and counts of iteration 1 and the E0s of the loop."""
    from lammps_uq.learn.state import iteration_dir

    prov = json.loads((iteration_dir(work, 1) / "provenance.json").read_text())
    e0s = json.loads((work / "e0s.json").read_text())
    return {"iteration_1_timings_s": prov["timings_s"],
            "iteration_1_counts": prov.get("counts", {}), "e0s": e0s}


def markdown(data: dict) -> str:
    """Per calculator: time per data label, and the iteration's stages (s)."""
    rows = ["| labels | data label per 16-molecule cell | explore | carve + label (cells) "
            "| train | iteration |", "|---|---|---|---|---|---|"]
    for r in data["runs"]:
        t = r["iteration_1_timings_s"]
        cells = r["iteration_1_counts"].get("labelled", "?")
        labelling = t["extract"] + t["label"]
        rows.append(f"| {r['calculator']} | {r['data_label_seconds_per_cell']:.1f} s | "
                    f"{t.get('explore', 0):.0f} s | {labelling:.0f} s ({cells}) | "
                    f"{t.get('train', 0):.0f} s | {sum(t.values()):.0f} s |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("cp2k_loop_work"))
    parser.add_argument("--calculator", nargs="+", default=["cp2k", "xtb"])
    parser.add_argument("--initial", type=int, default=3, help="initial_data cells")
    parser.add_argument("--test", type=int, default=1, help="test_data cells")
    parser.add_argument("--centres", type=int, default=3, help="cells labelled by the iteration")
    parser.add_argument("--steps", type=int, default=500, help="MD steps of the exploration")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--docs", type=Path, nargs="+", help="only write the table into these "
                        "pages (between two MARK lines)")
    args = parser.parse_args(argv)
    if args.docs:
        from lammps_uq.docs_blocks import write_between

        for page in args.docs:
            write_between(page, MARK, MARK, markdown(json.loads(RESULTS.read_text())))
        return 0
    args.work = args.work.resolve()
    runs = [run_one(args, c) for c in args.calculator]
    data = {"machine": f"{platform.node()} ({os.cpu_count()} cores)",
            "date": time.strftime("%Y-%m-%d"), "settings": {k: v for k, v in vars(args).items()
                                                           if k not in ("work", "docs")},
            "runs": runs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
