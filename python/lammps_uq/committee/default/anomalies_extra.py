"""More calibration anomalies: ``python -m lammps_uq.committee.default.anomalies_extra``.

Kinds the first calibration set (:mod:`.anomalies`: hot, squeeze, proton, stretch on MD seeds
101-103, placement seed 7) does not hold, on MD runs and placements with their own seeds:

- ``cavity``: every molecule whose O lies within ``strength`` Å of a random O is removed (a
  bubble: broken hydrogen bonds and under-coordinated molecules on its wall);
- ``slab``: the molecules whose O lies within 3 Å (in z) of a random O are moved rigidly
  towards that plane, their z offsets scaled by ``strength`` (a compressed slab between
  normal water, with a gap on each side);
- ``ion_pair``: an H of a random molecule moves to a molecule ``strength`` Å away (O-O), at
  0.98 Å from its O, opposite that molecule's own H: an OH- / H3O+ pair, not adjacent.

History (issue 23): these 12 frames were first the error model's untouched test set. Scored
there, the model fitted without them was within a factor 2 of the true error at 9 of 12 top
atoms and overestimated 8, all three misses on the compressed slabs and the closest ion pair.
They then joined the calibration (``anomalies_extra.extxyz``), and a new untouched set with
kinds, MD seeds and a placement seed none of the calibration holds replaced them
(:mod:`.anomalies_untouched`).

Each frame: 128 SPC/Fw molecules (LAMMPS NVT at 0.96 g/cm3 and 325 K, the calibration
anomalies' state; 128 rather than 216 molecules so that GFN2-xTB labels one frame in about a
minute on 2 cores), labelled with GFN2-xTB; the ``anomaly`` array marks the atoms the
perturbation touched. Resumable: a rerun continues after the last complete frame.
"""

from __future__ import annotations

import numpy as np

from .anomalies import _oxygen_distances, _vector, base_frames, command, perturbed

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


def extra_frames():
    """The unlabelled frames, deterministic given the seeds (a cavity removes atoms, so no
    centre index is kept)."""
    return perturbed(base_frames(MD, MD_SEEDS, FRAMES_PER_SEED), ANOMALIES, KINDS,
                     PLACEMENT_SEED, keep_centre=False)


def provenance() -> dict:
    return {"made_by": "python -m lammps_uq.committee.default.anomalies_extra",
            "anomalies": ANOMALIES, "md": MD, "md_seeds": list(MD_SEEDS),
            "placement_seed": PLACEMENT_SEED,
            "role": "calibration (until 2026-12-04 the untouched test set: 9 of 12 top atoms "
                    "within a factor 2, 8 overestimated)"}


def main(argv=None) -> int:
    return command(argv, "lammps_uq.committee.default.anomalies_extra", __doc__, "extra",
                   extra_frames)


if __name__ == "__main__":
    raise SystemExit(main())
