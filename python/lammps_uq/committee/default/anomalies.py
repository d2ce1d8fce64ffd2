"""A labelled set of liquid-water frames with localized anomalies: ``python -m lammps_uq.committee.default.anomalies``.

Each frame is 216 SPC/Fw water molecules (LAMMPS NVT, the training recipe of
:mod:`.train` at a larger size) with one anomaly placed around a random molecule:

- ``hot``: the atoms of every molecule whose O lies within 3.5 Å of the centre O get Gaussian
  displacements of standard deviation ``strength`` Å (a local temperature far above 450 K);
- ``squeeze``: the two molecules nearest the centre are moved rigidly towards it until their
  O-O distance is ``strength`` Å (liquid water: ~2.8 Å);
- ``proton``: the centre's H that points to a neighbour's O moves along that O...H line until
  it is ``strength`` Å from the acceptor O (0.98: a proton handed over, H3O+ / OH-);
- ``stretch``: one O-H bond of the centre is stretched to ``strength`` Å (equilibrium ~0.97).

Frames are labelled with GFN2-xTB (tblite, the settings of the training data) one at a time,
appended with fsync to ``WORK/anomalies.extxyz``; a rerun continues after the last complete
frame. The order interleaves kinds, so that any first 8 frames hold every kind.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

# (kind, strength): mildest first within each kind; kinds interleaved
ANOMALIES = [("hot", 0.10), ("squeeze", 2.45), ("proton", 1.20), ("stretch", 1.25),
             ("hot", 0.16), ("squeeze", 2.25), ("proton", 0.98), ("stretch", 1.45),
             ("hot", 0.22), ("squeeze", 2.10), ("proton", 1.05), ("stretch", 1.60)]
MD = {"n_molecules": 216, "density": 0.96, "temperature": 325.0, "every": 400}
MD_SEEDS = (101, 102, 103)
FRAMES_PER_SEED = 4
HOT_RADIUS = 3.5


def base_frames(md: dict = MD, seeds=MD_SEEDS, per_seed: int = FRAMES_PER_SEED):
    """Equilibrium frames: one NVT run per seed, ``per_seed`` frames each, ``md['every']`` steps
    (0.5 fs) apart after the first ``md['every']``."""
    from .water import spcfw_frames

    frames = []
    for seed in seeds:
        run = spcfw_frames(md["n_molecules"], density=md["density"],
                           temperature=md["temperature"], steps=md["every"] * (per_seed + 1),
                           every=md["every"], seed=seed)
        for frame in run[1:]:
            frame.info.update(md_seed=seed, density=md["density"], temperature=md["temperature"])
            frames.append(frame)
    return frames


def _vector(atoms, i: int, j: int) -> np.ndarray:
    """Minimum-image vector from atom i to atom j."""
    return atoms.get_distance(i, j, mic=True, vector=True)


def _oxygen_distances(atoms, centre: int) -> np.ndarray:
    oxygens = np.arange(0, len(atoms), 3)
    return atoms.get_distances(centre, oxygens, mic=True)


def hot(atoms, centre: int, strength: float, rng) -> list[int]:
    near = np.flatnonzero(_oxygen_distances(atoms, centre) < HOT_RADIUS) * 3
    moved = [o + k for o in near for k in range(3)]
    atoms.positions[moved] += rng.normal(0.0, strength, size=(len(moved), 3))
    return moved


def squeeze(atoms, centre: int, strength: float, rng) -> list[int]:
    distances = _oxygen_distances(atoms, centre)
    distances[centre // 3] = np.inf
    moved = []
    for molecule in np.argsort(distances)[:2]:
        o = 3 * int(molecule)
        vector = _vector(atoms, centre, o)
        shift = vector * (strength / np.linalg.norm(vector) - 1.0)
        atoms.positions[o:o + 3] += shift
        moved += [o, o + 1, o + 2]
    return moved


def proton(atoms, centre: int, strength: float, rng) -> list[int]:
    """Move the centre's H nearest to a foreign O towards that O (strength: new O_acc-H, Å)."""
    oxygens = np.arange(0, len(atoms), 3)
    best = None
    for h in (centre + 1, centre + 2):
        d = atoms.get_distances(h, oxygens, mic=True)
        d[centre // 3] = np.inf
        k = int(np.argmin(d))
        if best is None or d[k] < best[0]:
            best = (d[k], h, int(oxygens[k]))
    _, h, acceptor = best
    to_h = _vector(atoms, acceptor, h)
    atoms.positions[h] += to_h * (strength / np.linalg.norm(to_h) - 1.0)
    return [h, acceptor]


def stretch(atoms, centre: int, strength: float, rng) -> list[int]:
    h = centre + 1 + int(rng.integers(2))
    bond = _vector(atoms, centre, h)
    atoms.positions[h] += bond * (strength / np.linalg.norm(bond) - 1.0)
    return [centre, h]


KINDS = {"hot": hot, "squeeze": squeeze, "proton": proton, "stretch": stretch}


def perturbed(bases, anomalies, kinds, seed: int, keep_centre: bool = True):
    """Each base frame with its (kind, strength) anomaly around a random molecule (``seed``);
    ``anomaly`` marks the atoms it touched."""
    rng = np.random.default_rng(seed)
    frames = []
    for base, (kind, strength) in zip(bases, anomalies):
        atoms = base.copy()
        centre = 3 * int(rng.integers(len(atoms) // 3))
        moved = kinds[kind](atoms, centre, strength, rng)
        atoms.wrap()
        mask = np.zeros(len(atoms), dtype=int)
        mask[moved] = 1
        atoms.arrays["anomaly"] = mask
        atoms.info.update(kind=f"anomaly_{kind}", anomaly=kind, strength=strength)
        if keep_centre:
            atoms.info["centre"] = centre
        frames.append(atoms)
    return frames


def anomaly_frames(seed: int = 7):
    """The unlabelled anomaly frames, deterministic given the seeds."""
    return perturbed(base_frames(), ANOMALIES, KINDS, seed)


def stage_frames(work: Path, name: str = "anomalies", make=anomaly_frames) -> Path:
    """``WORK/NAME_unlabelled.extxyz``: the frames of ``make()``, written once."""
    import ase.io

    path = work / f"{name}_unlabelled.extxyz"
    if not path.exists():
        frames = make()
        for atoms in frames:
            for key in ("mol", "id"):
                atoms.arrays.pop(key, None)
        ase.io.write(work / f"{name}_unlabelled.tmp.extxyz", frames)
        os.replace(work / f"{name}_unlabelled.tmp.extxyz", path)
    return path


def stage_label(work: Path, limit: int | None = None, name: str = "anomalies",
                make=anomaly_frames) -> Path:
    """Label the frames not yet labelled into ``WORK/NAME.extxyz``, appending each when done."""
    import time

    import ase.io

    from .train import _truncate_to_complete, label

    frames = ase.io.read(stage_frames(work, name, make), ":")[:limit]
    path = work / f"{name}.extxyz"
    done = _truncate_to_complete(path)
    for k, frame in enumerate(frames):
        if k < done:
            continue
        start = time.perf_counter()
        atoms = label(frame)
        with open(path, "a") as handle:
            ase.io.write(handle, atoms, format="extxyz")
            handle.flush()
            os.fsync(handle.fileno())
        print(f"{name}: labelled frame {k + 1}/{len(frames)} ({frame.info['anomaly']} "
              f"{frame.info['strength']}) in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def command(argv, module: str, doc: str, name: str, make) -> int:
    """The command line of a labelled frame set: ``python -m MODULE [--work W] [--limit N]``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("anomalies_work"),
                        help="scratch folder (resumable)")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N frames")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    print(stage_label(args.work, args.limit, name, make))
    return 0


def main(argv=None) -> int:
    return command(argv, "lammps_uq.committee.default.anomalies", __doc__, "anomalies", anomaly_frames)


if __name__ == "__main__":
    raise SystemExit(main())
