"""Calibration of the committee uncertainty against labelled frames (paper Eq. 3, Figs. 2, 5).

For frames with reference forces, errors and uncertainties are compared at four levels:

- components: e_j^k = |F̄_j^k - F_j^k,ref| against s_j^k;
- atoms: e_j = (1/3) Σ_k e_j^k against s_j;
- local neighbourhoods: the same neighbour average (docs/design.md, "The quantities"; Eq. 10)
  of e_j and s_j within rcut, for each rcut asked;
- structures: the means over the atoms of a frame, e_i against s_i.

α at each level is fitted as the ratio of the means, MAE = α · mean(s) (Eq. 3). A committee's
fitted α lives in ``calibration.json`` next to its model files; ``fix uq ... alpha auto``
and ``fitted_alpha`` read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import uncertainty
from ..errors import InputError

CALIBRATION_FILE = "calibration.json"
DEFAULT_RCUTS = (1.0, 2.0, 3.0, 4.0, 5.0)


def reference_forces(atoms, key: str | None = None) -> np.ndarray:
    """The labelled forces of a frame: arrays[key], else REF_forces, forces or a calculator's."""
    for name in ([key] if key else ["REF_forces", "forces"]):
        if name in atoms.arrays:
            return np.asarray(atoms.arrays[name], dtype=float)
    if key is None and atoms.calc is not None and "forces" in atoms.calc.results:
        return np.asarray(atoms.calc.results["forces"], dtype=float)
    raise InputError(f"calibrate: a frame of {len(atoms)} atoms has no reference forces "
                     f"({key or 'REF_forces or forces'}); expected labelled extxyz frames")


def frame_levels(atoms, forces_comm: np.ndarray, reference: np.ndarray, rcuts) -> dict:
    """Errors and uncertainties of one frame at every level: {level: (e, s)}."""
    mean = forces_comm.mean(axis=0)
    e_comp = np.abs(mean - reference)
    s_comp = uncertainty.component_std(forces_comm)
    e_atom, s_atom = e_comp.mean(axis=1), s_comp.mean(axis=1)
    levels = {"components": (e_comp.ravel(), s_comp.ravel()), "atoms": (e_atom, s_atom)}
    for rcut in rcuts:
        levels[f"local {rcut:g}"] = (uncertainty.local_uncertainty(atoms, e_atom, rcut),
                                     uncertainty.local_uncertainty(atoms, s_atom, rcut))
    levels["structures"] = (np.array([e_atom.mean()]), np.array([s_atom.mean()]))
    return levels


def committee_forces(frames, calculator, energies: list | None = None) -> list[np.ndarray]:
    """Per-member forces ``(n_models, n_atoms, 3)`` of each frame (one evaluation per frame);
    the committee-mean energy of each frame (eV) is appended to ``energies`` when given."""
    forces = []
    for atoms in frames:
        calculator.calculate(atoms)
        forces.append(calculator.results["forces_comm"])
        if energies is not None:
            energies.append(float(calculator.results["energy"]))
    return forces


def per_frame(frames, forces_comm, rcuts=DEFAULT_RCUTS, forces_key: str | None = None) -> list:
    """Each frame's {level: (errors, uncertainties)}, given its member forces."""
    return [frame_levels(atoms, comm, reference_forces(atoms, forces_key), rcuts)
            for atoms, comm in zip(frames, forces_comm)]


def pool(frame_levels_list: list) -> dict:
    """{level: (errors, uncertainties)} of all frames together."""
    pooled: dict[str, list] = {}
    for levels in frame_levels_list:
        for name, pair in levels.items():
            pooled.setdefault(name, []).append(pair)
    return {name: (np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))
            for name, pairs in pooled.items()}


def collect(frames, forces_comm, rcuts=DEFAULT_RCUTS, forces_key: str | None = None) -> dict:
    """{level: (errors, uncertainties)} over all frames, given each frame's member forces."""
    return pool(per_frame(frames, forces_comm, rcuts, forces_key))


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    values, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=r)
    return (sums / np.bincount(inverse))[inverse]


def spearman(a, b) -> float:
    """Spearman's rank correlation (Pearson correlation of the average ranks)."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def sparsification(errors, order_by, fractions) -> np.ndarray:
    """MAE of what is left after removing the given fractions, highest ``order_by`` first."""
    sorted_errors = np.asarray(errors)[np.argsort(order_by, kind="mergesort")]  # ascending
    n = len(sorted_errors)
    keep = np.maximum(1, np.round((1.0 - np.asarray(fractions)) * n).astype(int))
    cumulative = np.cumsum(sorted_errors)
    return cumulative[keep - 1] / keep


def fit(levels: dict, n_models: int) -> dict:
    """α (ratio of the means, Eq. 3) and Spearman ρ at every level."""
    table = {}
    for name, (e, s) in levels.items():
        table[name] = {"alpha": float(e.mean() / s.mean()), "spearman": spearman(e, s),
                       "mae": float(e.mean()), "mean_s": float(s.mean()), "count": int(len(e))}
    local = {name.split()[1]: row["alpha"] for name, row in table.items()
             if name.startswith("local ")}
    return {"n_models": int(n_models), "alpha_default": uncertainty.default_alpha(n_models),
            "alpha_structure": table["structures"]["alpha"], "alpha_atom": table["atoms"]["alpha"],
            "alpha_local": local, "levels": table}


def write_calibration(result: dict, folder: Path, **extra) -> Path:
    path = Path(folder) / CALIBRATION_FILE
    path.write_text(json.dumps({**result, **extra}, indent=2) + "\n")
    return path


def read_calibration(model_paths) -> dict | None:
    """The calibration.json next to the first model file, if there is one."""
    if not model_paths:
        return None
    path = Path(model_paths[0]).resolve().parent / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"calibration file {path}: cannot read it ({exc}); expected the JSON "
                         "written by lammps-uq calibrate") from exc


def fitted_alpha(calibration: dict | None, rcut: float) -> float:
    """α of s_loc at ``rcut``, interpolated in the recorded radii (0.0 when none recorded)."""
    if not calibration or not calibration.get("alpha_local"):
        return 0.0
    table = sorted((float(r), float(a)) for r, a in calibration["alpha_local"].items())
    radii, alphas = zip(*table)
    return float(np.interp(rcut, radii, alphas))


def offset_removed_mae(signed_errors) -> float:
    """MAE of the per-atom energy errors less their mean over the frames: the part of the
    energy error a constant per-atom offset (E0s) cannot explain."""
    errors = np.asarray(signed_errors, dtype=float)
    return float(np.abs(errors - errors.mean()).mean()) if errors.size else float("nan")
