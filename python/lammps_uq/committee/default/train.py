"""Reproduce the default water committee: ``python -m lammps_uq.committee.default.train``.

Stages (each resumable; rerunning skips what is already done):

1. ``data``: 64-molecule SPC/Fw liquid water (LAMMPS) at 0.86-1.0 g/cm^3 and 300-450 K,
   labelled with GFN2-xTB (tblite). Frames are appended one at a time, with fsync, to
   ``WORK/labelled.extxyz``; a rerun continues after the last complete frame.
2. ``e0s``: each element's isolated atom (one atom in a 12 Å box, not periodic) with the
   same GFN2-xTB settings, kept in ``WORK/e0s.json`` and passed to every member as ``--E0s``
   (as ``lammps-uq learn`` does with ``train.e0s = "isolated"``), so that the committee learns
   xTB's interaction energy and its energy error is a fit error, not a per-atom offset.
3. ``train``: five MACE models through mace-torch's own ``mace_run_train`` that differ only
   in ``--seed`` (which also draws their 80:20 train/validation split of the same pool).
   mace's ``--restart_latest`` resumes an interrupted member.
4. ``ship``: the models, the held-out test set and ``provenance.json`` (recipe,
   hyperparameters, E0s, seeds, force MAE per member and of the mean, energy MAE raw and
   with the per-frame mean offset removed, Spearman correlations and
   the fitted alpha) into the package's ``data/water_committee`` folder.

Training takes about an hour on 2 cores; it is not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from ..training import HYPER, e0s_option, isolated_atom, mace_train_command


# (density g/cm^3, temperature K, seed): 24 short runs, frames every 200 fs after 200 fs
CONDITIONS = [(d, t, 10 * i + j) for i, d in enumerate((0.86, 0.92, 0.96, 1.0))
              for j, t in enumerate((300.0, 350.0, 400.0, 450.0, 375.0, 325.0))]
# test-only extrapolation: hotter and denser or sparser than any training frame
EXTRAPOLATION = [(1.08, 600.0, 90), (1.12, 700.0, 91), (0.80, 650.0, 92)]
FRAMES_PER_RUN = 5
STEPS_BETWEEN = 400          # 0.5 fs steps
SEEDS = (1, 2, 3, 4, 5)
XTB = {"method": "GFN2-xTB", "electronic_temperature": 300.0, "accuracy": 1.0}
E0S_METHOD = "GFN2-xTB (tblite, XTB settings), one atom in a 12 A box, not periodic"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "data" / "water_committee"


def md_frames():
    """All unlabelled frames, in a fixed order (deterministic given the seeds)."""
    from .water import spcfw_frames

    for kind, conditions in (("training", CONDITIONS), ("extrapolation", EXTRAPOLATION)):
        for density, temperature, seed in conditions:
            frames = spcfw_frames(64, density=density, temperature=temperature,
                                  steps=STEPS_BETWEEN * (FRAMES_PER_RUN + 1),
                                  every=STEPS_BETWEEN, seed=seed + 1)
            for frame in frames[1:]:
                frame.info.update(density=density, temperature=temperature, md_seed=seed + 1,
                                  kind=kind)
                yield frame


def complete_frames(path: Path) -> tuple[int, str]:
    """(number, text) of the complete frames of an extxyz file; a torn last frame is left out."""
    if not path.exists():
        return 0, ""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]  # a torn last line
    k = count = 0
    while k < len(lines) and k + 2 + int(lines[k]) <= len(lines):
        k += 2 + int(lines[k])
        count += 1
    return count, "".join(lines[:k])


def count_frames(path: Path) -> int:
    """Number of complete frames in an extxyz file (a torn last frame does not count)."""
    return complete_frames(path)[0]


def label(frame):
    """GFN2-xTB energy and forces (eV, eV/Å) in REF_energy / REF_forces."""
    from tblite.ase import TBLite

    atoms = frame.copy()
    for key in ("mol", "id"):
        atoms.arrays.pop(key, None)
    atoms.calc = TBLite(verbosity=0, **XTB)
    energy = float(atoms.get_potential_energy())
    forces = atoms.get_forces().copy()
    atoms.calc = None
    atoms.info["REF_energy"] = energy
    atoms.arrays["REF_forces"] = forces
    return atoms


def stage_data(work: Path) -> Path:
    import ase.io

    path = work / "labelled.extxyz"
    done = _truncate_to_complete(path)
    total = (len(CONDITIONS) + len(EXTRAPOLATION)) * FRAMES_PER_RUN
    for k, frame in enumerate(md_frames()):
        if k < done:
            continue
        atoms = label(frame)
        with open(path, "a") as handle:
            ase.io.write(handle, atoms, format="extxyz")
            handle.flush()
            os.fsync(handle.fileno())
        print(f"data: labelled frame {k + 1}/{total}", flush=True)
    return path


def _truncate_to_complete(path: Path) -> int:
    """Cut a torn last frame off (a run killed while writing); returns the frames kept."""
    done, text = complete_frames(path)
    if path.exists():
        path.write_text(text)
    return done


def split(work: Path) -> tuple[Path, Path]:
    """Every 5th training-condition frame and all extrapolation frames are the test set."""
    import ase.io

    frames = ase.io.read(work / "labelled.extxyz", ":")
    n_in = len(CONDITIONS) * FRAMES_PER_RUN
    test = [f for k, f in enumerate(frames[:n_in]) if k % 5 == 4] + frames[n_in:]
    pool = [f for k, f in enumerate(frames[:n_in]) if k % 5 != 4]
    ase.io.write(work / "pool.extxyz", pool)
    ase.io.write(work / "test.extxyz", test)
    return work / "pool.extxyz", work / "test.extxyz"


def stage_e0s(work: Path) -> dict:
    """{symbol: eV} of the isolated H and O atoms with GFN2-xTB, kept in ``WORK/e0s.json``."""
    path = work / "e0s.json"
    if path.exists():
        return json.loads(path.read_text())["energies"]
    energies = {}
    for symbol in ("H", "O"):
        energies[symbol] = label(isolated_atom(symbol)).info["REF_energy"]
        print(f"e0s: isolated {symbol} with GFN2-xTB: {energies[symbol]:.6f} eV", flush=True)
    path.write_text(json.dumps({"method": E0S_METHOD, "energies": energies}, indent=1) + "\n")
    return energies


def hyperparameters(work: Path) -> dict:
    """HYPER with ``E0s`` the isolated atoms' energies of ``WORK/e0s.json`` ({Z: eV})."""
    return {**HYPER, "E0s": e0s_option(stage_e0s(work))}


def train_command(work: Path, seed: int, pool: Path) -> list[str]:
    return mace_train_command(f"member_{seed}", seed, pool, work / f"member_{seed}",
                              hyperparameters(work), restart=True)


def stage_train(work: Path, pool: Path, seeds=SEEDS, jobs: int = 3) -> list[Path]:
    """Train the members not yet trained, ``jobs`` at a time with one thread each."""
    models = [work / f"member_{seed}" / f"member_{seed}.model" for seed in seeds]
    todo = [seed for seed, model in zip(seeds, models) if not model.exists()]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    running = []
    while todo or running:
        while todo and len(running) < jobs:
            seed = todo.pop(0)
            print(f"train: member seed {seed} (log {work / f'train_{seed}.log'})", flush=True)
            log = open(work / f"train_{seed}.log", "a")
            running.append((seed, log, subprocess.Popen(train_command(work, seed, pool), env=env,
                                                         stdout=log, stderr=subprocess.STDOUT,
                                                         cwd=work)))
        seed, log, proc = running.pop(0)
        if proc.wait() != 0:
            raise SystemExit(f"train: member seed {seed} failed; see {work / f'train_{seed}.log'}")
        log.close()
        print(f"train: member seed {seed} done", flush=True)
    return models


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lammps_uq.committee.default.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("train_default_work"),
                        help="scratch folder (resumable)")
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR,
                        help="where the shipped committee goes (default: the package)")
    parser.add_argument("--stage", choices=("data", "e0s", "train", "ship", "all"),
                        default="all")
    parser.add_argument("--jobs", type=int, default=3, help="members trained at once")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stage in ("data", "all"):
        stage_data(args.work)
    if args.stage in ("e0s", "train", "all"):
        stage_e0s(args.work)
    if args.stage in ("train", "all"):
        pool, _ = split(args.work)
        stage_train(args.work, pool, jobs=args.jobs)
    if args.stage in ("ship", "all"):
        from .ship import ship

        recipe = {"md": "SPC/Fw flexible water, LAMMPS NVT (Nose-Hoover), 0.5 fs, 64 molecules, "
                        "from a jittered lattice (lammps_uq.committee.default.water)",
                  "frames_per_run": FRAMES_PER_RUN, "steps_between_frames": STEPS_BETWEEN,
                  "first_frame_dropped": True}
        e0s = {"method": E0S_METHOD, "energies_eV": stage_e0s(args.work)}
        provenance = ship(args.work, args.out, hyper=hyperparameters(args.work), xtb=XTB,
                          e0s=e0s, seeds=SEEDS, conditions=CONDITIONS,
                          extrapolation=EXTRAPOLATION, recipe=recipe)
        print(json.dumps({k: provenance[k] for k in ("committee_mean", "alpha",
                                                        "spearman_error_vs_uncertainty_on_test")},
                         indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
