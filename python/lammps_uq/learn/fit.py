"""The committee stages of an iteration: train the members, calibrate alpha, test.

- train: one executor task per unfinished member (:func:`lammps_uq.learn.train.train_member`);
  member ``m`` of iteration ``k`` has seed ``10000 * seed + 100 * k + m + 1``;
- calibrate: alpha (:mod:`lammps_uq.science.calibrate`) on every held-out frame so far (the
  held-out share of initial_data and of each iteration's labelled cells, never trained on),
  written as ``committee/calibration.json`` next to the models (``fix uq ... alpha auto``
  reads it in the next exploration);
- test: per frame of ``test_data``, the committee mean's force MAE and energy error per atom,
  and the frame's reference energy per atom (the report bins by it), in ``test_errors.json``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..errors import CalculationFailed
from ..science.calibrate import offset_removed_mae
from .state import read_frames, write_json


def member_seed(seed: int, iteration: int, member: int) -> int:
    return 10000 * seed + 100 * iteration + member + 1


def committee_paths(folder: Path, seeds: list[int]) -> list[Path]:
    return [folder / "committee" / f"member_{s}.model" for s in seeds]


def train_committee(cfg, folder: Path, iteration: int, previous: list[Path] | None,
                    executor, say) -> tuple[list[Path], dict]:
    """Train the members of ``folder/committee`` that are not there yet; (paths, seconds)."""
    from .e0s import e0s_argument
    from .train import hyperparameters, train_member

    seeds = [member_seed(cfg["seed"], iteration, m) for m in range(cfg["train.members"])]
    targets = committee_paths(folder, seeds)
    finetune = cfg["train.mode"] == "finetune" and previous
    hyper = hyperparameters(cfg["train.mace"],
                            cfg["train.finetune_epochs"] if finetune else cfg["train.epochs"])
    hyper["E0s"] = e0s_argument(folder.parent) or hyper["E0s"]
    check_enough_frames(n_frames(folder / "train.extxyz"), hyper)
    futures = {}
    for m, (seed, target) in enumerate(zip(seeds, targets)):
        if target.exists():
            continue
        task = {"train_file": str(folder / "train.extxyz"), "name": f"member_{seed}",
                "work_dir": str(folder / "train" / f"member_{seed}"), "seed": seed,
                "hyper": hyper, "threads": cfg["train.threads"], "target": str(target),
                "foundation": str(previous[m]) if finetune else None}
        futures[executor.submit(train_member, task)] = seed
    say(f"train: {len(futures)} of {len(seeds)} members to train "
        f"({'fine-tuned from the previous members' if finetune else 'from scratch'})")
    seconds, failures = {}, []
    for future, seed in futures.items():
        try:
            seconds[str(seed)] = round(future.result()["seconds"], 3)
            say(f"train: member seed {seed} done ({seconds[str(seed)]:.0f} s)")
        except Exception as exc:  # noqa: BLE001 - reported together below
            failures.append(f"{type(exc).__name__}: {exc}")
    if failures:
        raise CalculationFailed(f"train: {len(failures)} member(s) failed; first: {failures[0]}")
    return targets, {"members": seeds, "train_seconds": seconds, "hyperparameters": hyper,
                     "mode": "finetune" if finetune else "scratch"}


def n_frames(path: Path) -> int:
    return len(read_frames(path))


def check_enough_frames(n: int, hyper: dict) -> None:
    """mace_run_train keeps ``valid_fraction`` of the frames (at least 1) for validation and
    drops incomplete batches: fewer than ``batch_size`` left fails deep inside it."""
    from ..errors import InputError

    batch, fraction = int(hyper.get("batch_size", 1)), float(hyper.get("valid_fraction", 0.0))

    def fitted(count: int) -> int:
        return count - (max(1, int(fraction * count)) if fraction > 0 else 0)

    if fitted(n) < batch:
        need = next(m for m in range(n, n + 10 * batch + 10) if fitted(m) >= batch)
        raise InputError(f"train: got {n} training frames; expected at least {need} (mace's "
                         f"batch_size {batch} after its valid_fraction {fraction:g}): add "
                         "frames to initial_data or set a smaller train.mace.batch_size")


def adopt_committee(sources: list[str], folder: Path) -> list[Path]:
    """Copy the initial_committee's models (checked paths) into ``folder/committee``."""
    out = folder / "committee"
    out.mkdir(parents=True, exist_ok=True)
    targets = []
    for source in sources:
        target = out / Path(source).name
        if not target.exists():
            shutil.copyfile(source, target)
        targets.append(target)
    return targets


def calibrate(cfg, work: Path, iteration: int, paths: list[Path]) -> dict:
    """Fit alpha on every held-out frame so far; writes committee/calibration.json."""
    from ..committee.calculator import CommitteeCalculator
    from ..science.calibrate import collect, committee_forces, fit, write_calibration

    frames = []
    for k in range(iteration + 1):
        frames += read_frames(work / f"iter_{k:03d}" / "holdout.extxyz")
    if not frames:
        raise CalculationFailed(f"calibrate: no held-out frame in iterations 0..{iteration}; "
                                "expected calibrate.holdout_fraction > 0")
    calculator = CommitteeCalculator([str(p) for p in paths])
    levels = collect(frames, committee_forces(frames, calculator), cfg["calibrate.rcut"])
    result = fit(levels, len(paths))
    write_calibration(result, paths[0].parent, frames="holdout.extxyz of iterations "
                      f"0..{iteration}", n_frames=len(frames))
    return {"holdout_frames": len(frames), "alpha_structure": result["alpha_structure"],
            "alpha_local": result["alpha_local"]}


def test_errors(test_frames, paths: list[Path], out: Path) -> dict:
    """Per-frame errors of the committee mean on the test set, written to ``out`` (through
    a rename, once every frame is done: never an empty or partial file)."""
    from ..committee.calculator import CommitteeCalculator

    if not test_frames:
        from ..errors import InputError

        raise InputError(f"test_data: got no frame (for {out}); expected labelled frames")
    calculator = CommitteeCalculator([str(p) for p in paths])
    rows = {"ref_energy_per_atom": [], "force_mae": [], "energy_error_per_atom": [],
            "energy_signed_error_per_atom": [], "natoms": []}
    for atoms in test_frames:
        calculator.calculate(atoms)
        n = len(atoms)
        rows["force_mae"].append(float(np.abs(calculator.results["forces"]
                                              - atoms.arrays["REF_forces"]).mean()))
        error = float(calculator.results["energy"] - atoms.info["REF_energy"]) / n
        rows["energy_error_per_atom"].append(abs(error))
        rows["energy_signed_error_per_atom"].append(error)
        rows["ref_energy_per_atom"].append(float(atoms.info["REF_energy"]) / n)
        rows["natoms"].append(n)
    write_json(out, rows)
    return {"test_force_mae": float(np.mean(rows["force_mae"])),
            "test_energy_mae": float(np.mean(rows["energy_error_per_atom"])),
            "test_energy_mae_offset_removed": offset_removed_mae(
                rows["energy_signed_error_per_atom"])}
