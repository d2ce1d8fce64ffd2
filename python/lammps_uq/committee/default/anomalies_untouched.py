"""Anomaly frames the error model never sees: ``python -m lammps_uq.committee.default.anomalies_untouched``.

The error model's test set (issue 23): used only to evaluate the shipped calibration, never to
choose its form or fit a parameter. The calibration holds hot spots, squeezed pairs, moved
protons and stretched O-H bonds (:mod:`.anomalies`) and cavities, compressed slabs and ion pairs
(:mod:`.anomalies_extra`); every frame here has a perturbation **kind neither holds**, on MD
runs (seeds 301-303) and placements (seed 3031) that no calibration frame used:

- ``bend``: every molecule whose O lies within 3 Å of a random O (the centre and its first
  shell) gets the H-O-H angle ``strength`` degrees (SPC/Fw: 113°), bond lengths and bisector
  kept;
- ``rotate``: every molecule whose O lies within ``strength`` Å of a random O is turned about
  its O by a random rotation (intact molecules, a scrambled hydrogen-bond network); a rotation
  that would bring an H within 1.5 Å of another molecule's atom is drawn again (up to 100
  times, else that molecule stays as it was).

Each frame: 128 SPC/Fw molecules (LAMMPS NVT at 0.96 g/cm3 and 325 K, the calibration
anomalies' state), labelled with GFN2-xTB like the calibration; the ``anomaly`` array marks
the atoms the perturbation touched. Resumable: a rerun continues after the last complete frame.
These kinds, seeds and strengths were fixed (and committed) before any frame was labelled or
scored.
"""

from __future__ import annotations

import numpy as np

from .anomalies import _oxygen_distances, _vector, base_frames, command, perturbed

ANOMALIES = [("bend", 90.0), ("rotate", 3.0), ("bend", 140.0), ("rotate", 4.0),
             ("bend", 75.0), ("rotate", 5.0), ("bend", 160.0), ("rotate", 3.5),
             ("bend", 100.0), ("rotate", 4.5), ("bend", 175.0), ("rotate", 6.0)]
MD = {"n_molecules": 128, "density": 0.96, "temperature": 325.0, "every": 400}
MD_SEEDS = (301, 302, 303)
FRAMES_PER_SEED = 4
PLACEMENT_SEED = 3031
BEND_RADIUS = 3.0
MIN_CONTACT = 1.5   # Å between a rotated molecule's H and any other molecule's atom
TRIES = 100


def bend(atoms, centre: int, strength: float, rng) -> list[int]:
    """H-O-H angle ``strength`` (degrees) for the molecules within BEND_RADIUS of the centre."""
    half = np.radians(strength) / 2.0
    moved = []
    for molecule in np.flatnonzero(_oxygen_distances(atoms, centre) < BEND_RADIUS):
        o = 3 * int(molecule)
        v1, v2 = _vector(atoms, o, o + 1), _vector(atoms, o, o + 2)
        u1, u2 = v1 / np.linalg.norm(v1), v2 / np.linalg.norm(v2)
        bisector = (u1 + u2) / np.linalg.norm(u1 + u2)
        across = (u1 - u2) / np.linalg.norm(u1 - u2)
        for h, v, sign in ((o + 1, v1, 1.0), (o + 2, v2, -1.0)):
            direction = np.cos(half) * bisector + sign * np.sin(half) * across
            atoms.positions[h] = atoms.positions[o] + np.linalg.norm(v) * direction
        moved += [o, o + 1, o + 2]
    return moved


def random_rotation(rng) -> np.ndarray:
    """A uniformly random rotation matrix (a normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _turn(atoms, o: int, rng) -> bool:
    """Rotate molecule ``o`` about its O; False (unchanged) if every try made a close contact."""
    others = np.setdiff1d(np.arange(len(atoms)), [o, o + 1, o + 2])
    arms = [_vector(atoms, o, o + k) for k in (1, 2)]
    for _ in range(TRIES):
        rotation = random_rotation(rng)
        new = [atoms.positions[o] + rotation @ arm for arm in arms]
        trial = atoms.copy()
        trial.positions[o + 1:o + 3] = new
        if min(trial.get_distances(o + k, others, mic=True).min() for k in (1, 2)) >= MIN_CONTACT:
            atoms.positions[o + 1:o + 3] = new
            return True
    return False


def rotate(atoms, centre: int, strength: float, rng) -> list[int]:
    """Random rotations of the molecules within ``strength`` Å of the centre, nearest first."""
    distances = _oxygen_distances(atoms, centre)
    moved = []
    for molecule in np.argsort(distances):
        if distances[molecule] >= strength:
            break
        o = 3 * int(molecule)
        if _turn(atoms, o, rng):
            moved += [o, o + 1, o + 2]
    return moved


KINDS = {"bend": bend, "rotate": rotate}


def untouched_frames():
    """The unlabelled frames, deterministic given the seeds."""
    return perturbed(base_frames(MD, MD_SEEDS, FRAMES_PER_SEED), ANOMALIES, KINDS,
                     PLACEMENT_SEED)


def provenance() -> dict:
    return {"made_by": "python -m lammps_uq.committee.default.anomalies_untouched",
            "anomalies": ANOMALIES, "md": MD, "md_seeds": list(MD_SEEDS),
            "placement_seed": PLACEMENT_SEED, "bend_radius": BEND_RADIUS,
            "min_contact": MIN_CONTACT,
            "role": "evaluation only: never used to fit a parameter or choose the model's form"}


def main(argv=None) -> int:
    return command(argv, "lammps_uq.committee.default.anomalies_untouched", __doc__, "untouched",
                   untouched_frames)


if __name__ == "__main__":
    raise SystemExit(main())
