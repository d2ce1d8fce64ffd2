"""Anomaly frames the error model never sees: ``python -m lammps_uq.committee.anomalies_untouched``.

The error model's test set (issue 23): used only to evaluate the shipped calibration, never to
choose its form or fit a parameter. Unlike the calibration's ``anomalies.extxyz``
(:mod:`.anomalies`: hot, squeeze, proton, stretch on MD seeds 101-103, placement seed 7),
every frame here has a perturbation **kind the calibration never contained**, on MD runs and
placements drawn with seeds it never used:

- ``cavity``: every molecule whose O lies within ``strength`` Å of a random O is removed (a
  bubble: broken hydrogen bonds and under-coordinated molecules on its wall);
- ``slab``: the molecules whose O lies within 3 Å (in z) of a random O are moved rigidly
  towards that plane, their z offsets scaled by ``strength`` (a compressed slab between
  normal water, with a gap on each side);
- ``ion_pair``: an H of a random molecule moves to a molecule ``strength`` Å away (O-O), at
  0.98 Å from its O, opposite that molecule's own H: an OH- / H3O+ pair, not adjacent.

Each frame: 128 SPC/Fw molecules (LAMMPS NVT at 0.96 g/cm3 and 325 K, the calibration
anomalies' state; 128 rather than 216 molecules so that GFN2-xTB labels one frame in about a
minute on 2 cores), labelled with GFN2-xTB like the calibration; the ``anomaly`` array marks
the atoms the perturbation touched. Resumable: a rerun continues after the last complete frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .anomalies import _oxygen_distances, _vector, stage_label

ANOMALIES = [("cavity", 3.0), ("slab", 0.85), ("ion_pair", 4.5),
             ("cavity", 3.5), ("slab", 0.78), ("ion_pair", 5.5),
             ("cavity", 4.0), ("slab", 0.72), ("ion_pair", 6.5),
             ("cavity", 4.5), ("slab", 0.66), ("ion_pair", 3.5)]
# ion_pair 7.5 Å was the 12th: GFN2-xTB's SCF did not converge in 250 cycles (no label), so
# the pair was brought to 3.5 Å, before any frame was scored
MD = {"n_molecules": 128, "density": 0.96, "temperature": 325.0, "every": 400}
MD_SEEDS = (201, 202, 203)
FRAMES_PER_SEED = 4
PLACEMENT_SEED = 2023
SLAB_HALF_WIDTH = 3.0
WALL = 2.0   # Å beyond the cavity's radius: the molecules on its wall are marked


def cavity(atoms, centre: int, strength: float, rng) -> tuple:
    distances = _oxygen_distances(atoms, centre)
    keep = np.repeat(distances > strength, 3)
    wall = np.repeat((distances > strength) & (distances <= strength + WALL), 3)
    del atoms[np.flatnonzero(~keep)]
    return list(np.flatnonzero(wall[keep]))


def slab(atoms, centre: int, strength: float, rng) -> tuple:
    oxygens = np.arange(0, len(atoms), 3)
    dz = np.array([_vector(atoms, centre, o)[2] for o in oxygens])
    moved = []
    for o, offset in zip(oxygens, dz):
        if abs(offset) < SLAB_HALF_WIDTH:
            atoms.positions[o:o + 3, 2] += offset * (strength - 1.0)
            moved += [int(o), int(o) + 1, int(o) + 2]
    return moved


def ion_pair(atoms, centre: int, strength: float, rng) -> tuple:
    """The centre's first H moves to the molecule whose O-O distance is nearest ``strength``."""
    distances = _oxygen_distances(atoms, centre)
    acceptor = 3 * int(np.argmin(np.abs(distances - strength)))
    own = [_vector(atoms, acceptor, acceptor + k) for k in (1, 2)]
    away = -sum(v / np.linalg.norm(v) for v in own)
    h = centre + 1
    target = atoms.positions[acceptor] + 0.98 * away / np.linalg.norm(away)
    atoms.positions[h] = target
    atoms.info["pair_distance"] = float(distances[acceptor // 3])
    return [centre, centre + 2, h, acceptor, acceptor + 1, acceptor + 2]


KINDS = {"cavity": cavity, "slab": slab, "ion_pair": ion_pair}


def base_frames():
    """12 equilibrium frames: 3 NVT runs (seeds 201-203), 4 frames each, 200 fs apart."""
    from .water import spcfw_frames

    frames = []
    for seed in MD_SEEDS:
        run = spcfw_frames(MD["n_molecules"], density=MD["density"],
                           temperature=MD["temperature"], steps=MD["every"] * (FRAMES_PER_SEED + 1),
                           every=MD["every"], seed=seed)
        for frame in run[1:]:
            frame.info.update(md_seed=seed, density=MD["density"], temperature=MD["temperature"])
            frames.append(frame)
    return frames


def untouched_frames():
    """The unlabelled frames, deterministic given the seeds."""
    rng = np.random.default_rng(PLACEMENT_SEED)
    frames = []
    for base, (kind, strength) in zip(base_frames(), ANOMALIES):
        atoms = base.copy()
        for key in ("mol", "id"):
            atoms.arrays.pop(key, None)
        centre = 3 * int(rng.integers(len(atoms) // 3))
        moved = KINDS[kind](atoms, centre, strength, rng)
        atoms.wrap()
        mask = np.zeros(len(atoms), dtype=int)
        mask[moved] = 1
        atoms.arrays["anomaly"] = mask
        atoms.info.update(kind=f"anomaly_{kind}", anomaly=kind, strength=strength)
        frames.append(atoms)
    return frames


def provenance() -> dict:
    return {"made_by": "python -m lammps_uq.committee.anomalies_untouched",
            "anomalies": ANOMALIES, "md": MD, "md_seeds": list(MD_SEEDS),
            "placement_seed": PLACEMENT_SEED,
            "role": "evaluation only: never used to fit a parameter or choose the model's form"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lammps_uq.committee.anomalies_untouched",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("anomalies_work"),
                        help="scratch folder (resumable)")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N frames")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    print(stage_label(args.work, args.limit, "untouched", untouched_frames))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
