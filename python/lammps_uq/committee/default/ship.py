"""The last stage of ``default.train``: evaluate the trained members and ship them.

Writes into the package's ``data/water_committee``: ``member_S.model`` (S = seed), the
held-out ``test.extxyz``, ``calibration.json`` (alpha, Spearman per level, used by
``alpha auto``), ``calibration.png`` and ``provenance.json``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np

from ..training import versions

MAX_MODEL_BYTES = 1 << 20


def copy_models(work: Path, out: Path, seeds) -> list[Path]:
    paths = []
    for seed in seeds:
        source = work / f"member_{seed}" / f"member_{seed}.model"
        if source.stat().st_size > MAX_MODEL_BYTES:
            raise SystemExit(f"ship: {source} is {source.stat().st_size} bytes; expected <= 1 MB")
        target = out / f"member_{seed}.model"
        shutil.copy(source, target)
        paths.append(target)
    return paths


def copy_test_set(work: Path, out: Path):
    """The held-out frames with only what a user needs: species, cell, REF labels, conditions."""
    import ase.io

    frames = ase.io.read(work / "test.extxyz", ":")
    for atoms in frames:
        for key in list(atoms.arrays):
            if key not in ("numbers", "positions", "REF_forces"):
                del atoms.arrays[key]
        keep = ("REF_energy", "density", "temperature", "md_seed", "kind")
        atoms.info.setdefault("kind", "training")
        atoms.info = {k: v for k, v in atoms.info.items() if k in keep}
    ase.io.write(out / "test.extxyz", frames)
    return frames


def force_mae(frames, forces_comm) -> tuple[list[float], float]:
    """Force MAE (eV/Å) of each member and of the committee mean over the frames."""
    member_errors, mean_errors = [], []
    for atoms, comm in zip(frames, forces_comm):
        reference = atoms.arrays["REF_forces"]
        member_errors.append(np.abs(comm - reference).reshape(len(comm), -1).mean(axis=1))
        mean_errors.append(np.abs(comm.mean(axis=0) - reference).mean())
    return np.mean(member_errors, axis=0).tolist(), float(np.mean(mean_errors))


def energy_mae(frames, energies) -> dict:
    """Energy MAE per atom (eV/atom) of the committee-mean ``energies`` of the frames: raw, and
    with the mean per-atom error over the frames removed (what a constant E0s offset cannot
    explain)."""
    from ...science.calibrate import offset_removed_mae

    signed = [(energy - atoms.info["REF_energy"]) / len(atoms)
              for atoms, energy in zip(frames, energies)]
    return {"test_energy_mae_eV_per_atom": float(np.mean(np.abs(signed))),
            "test_energy_mae_offset_removed_eV_per_atom": offset_removed_mae(signed)}


def mace_error_table(work: Path, seed: int) -> dict:
    """mace_run_train's own final force MAE (meV/Å) on its train and validation split."""
    table = {}
    for log in sorted((work / f"member_{seed}" / "logs").glob("*.log")):
        for name, value in re.findall(r"\|\s*(train|valid)_Default\s*\|\s*[0-9.]+\s*\|\s*([0-9.]+)",
                                      log.read_text()):
            table[f"{name}_forces_mae_meV_per_A"] = float(value)
    return table


def data_record(recipe: dict, xtb: dict, conditions, extrapolation, n_pool: int,
                n_test: int) -> dict:
    """The provenance's ``data``: how the frames were made, labelled and split."""
    return {**recipe, "conditions_density_temperature_seed": conditions,
            "labels": xtb, "n_pool": n_pool, "n_test": n_test,
            "test_set": "every 5th frame of the training conditions (kind=training) and all "
                        "frames of the extrapolation conditions (kind=extrapolation, hotter "
                        "and denser or sparser than any training frame); none seen in "
                        "training", "extrapolation_conditions": extrapolation}


def ship(work: Path, out: Path, *, hyper: dict, xtb: dict, e0s: dict, seeds, conditions,
         extrapolation, recipe: dict) -> dict:
    import ase.io

    from ..calculator import CommitteeCalculator
    from ...science.calibrate import collect, committee_forces, fit, write_calibration
    from ...science.plots import plot_calibration

    out.mkdir(parents=True, exist_ok=True)
    paths = copy_models(work, out, seeds)
    test = copy_test_set(work, out)
    pool = ase.io.read(work / "pool.extxyz", ":")
    calculator = CommitteeCalculator([str(p) for p in paths])
    energies = []
    forces = committee_forces(test, calculator, energies)
    test_members, test_mean = force_mae(test, forces)
    pool_members, pool_mean = force_mae(pool, committee_forces(pool, calculator))
    picked = [k for k, atoms in enumerate(test) if atoms.info["kind"] == "training"]
    inside, inside_forces = [test[k] for k in picked], [forces[k] for k in picked]
    inside_members, inside_mean = force_mae(inside, inside_forces)
    levels = collect(test, forces)
    result = fit(levels, len(paths))
    result_inside = fit(collect(inside, inside_forces), len(paths))
    write_calibration(result, out, frames="test.extxyz", n_frames=len(test))
    plot_calibration(levels, result, out / "calibration.png")
    provenance = {
        "made_by": "python -m lammps_uq.committee.default.train",
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions(),
        "data": data_record(recipe, xtb, conditions, extrapolation, len(pool), len(test)),
        "hyperparameters": hyper,
        "e0s": e0s,
        "members": [{"file": p.name, "seed": s, "split": f"mace --seed {s}: random 80:20 of the pool",
                     "test_forces_mae_eV_per_A": t, "test_training_conditions_forces_mae_eV_per_A": i,
                     "pool_forces_mae_eV_per_A": q, "mace_final_table": mace_error_table(work, s)}
                    for p, s, t, i, q in zip(paths, seeds, test_members, inside_members,
                                             pool_members)],
        "committee_mean": {"test_forces_mae_eV_per_A": test_mean,
                           "test_training_conditions_forces_mae_eV_per_A": inside_mean,
                           "pool_forces_mae_eV_per_A": pool_mean,
                           **energy_mae(test, energies)},
        "spearman_error_vs_uncertainty_on_test": {
            name: row["spearman"] for name, row in result["levels"].items()},
        "spearman_on_test_training_conditions_only": {
            name: row["spearman"] for name, row in result_inside["levels"].items()},
        "alpha": {"structure": result["alpha_structure"], "atom": result["alpha_atom"],
                  "local": result["alpha_local"], "default": result["alpha_default"]},
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance
