"""Training one committee member: an executor task around mace-torch's ``mace_run_train``.

Each member is trained by ``python -m mace.cli.run_train`` (mace-torch's own entry point, in a
fresh process) with its own ``--seed``, which also draws its own train/validation split of the
iteration's training file.  From scratch the hyperparameters are those of the shipped default
committee (:data:`lammps_uq.committee.training.HYPER`) with the config's overrides; when
fine-tuning, ``--foundation_model`` is the previous iteration's member of the same index (its
architecture is kept; mace's naive fine-tuning).

A member is *finished* when its model file exists: it is moved there (``os.replace``) only
after ``mace_run_train`` succeeded.  An unfinished member's folder is wiped and the member is
trained again from its seed, so an interrupted loop ends with the models an uninterrupted one
makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..committee.training import HYPER, mace_train_command

# never passed through train.mace: the loop owns them
OWNED = ("name", "seed", "train_file", "work_dir", "foundation_model", "max_num_epochs",
         "energy_key", "forces_key", "stress_key", "device", "E0s")


def hyperparameters(overrides: dict, epochs: int) -> dict:
    """The shipped committee's hyperparameters, the config's overrides, ``epochs``."""
    from ..errors import InputError

    for key in overrides:
        if key in OWNED:
            raise InputError(f"CONFIG: train.mace.{key}: set by lammps-uq learn; expected none of "
                             f"{', '.join(OWNED)} (epochs: train.epochs / "
                             "train.finetune_epochs; E0s: train.e0s)")
    return {**HYPER, **overrides, "max_num_epochs": epochs}


def member_command(train_file: str, work_dir: str, name: str, seed: int, hyper: dict,
                   foundation: str | None = None) -> list[str]:
    """The ``mace_run_train`` command line of one member."""
    extra = ()
    if foundation:
        extra = (f"--foundation_model={foundation}", "--multiheads_finetuning=False")
        hyper = {k: v for k, v in hyper.items() if k not in ARCHITECTURE}
    return mace_train_command(name, seed, train_file, work_dir, hyper, stress=True, extra=extra)


# taken from the foundation model when fine-tuning
ARCHITECTURE = ("model", "r_max", "num_channels", "max_L", "max_ell", "correlation",
                "num_interactions", "num_radial_basis", "MLP_irreps", "hidden_irreps")


def train_member(task: dict) -> dict:
    """Train one member (an executor task).  ``task``: train_file, work_dir, name, seed,
    hyper, foundation (or None), threads, target (the finished model's path).

    Returns {seed, seconds, log}; raises RuntimeError naming the log when mace fails.
    """
    target, work = Path(task["target"]), Path(task["work_dir"])
    if target.exists():
        return {"seed": task["seed"], "seconds": 0.0, "log": "", "skipped": True}
    shutil.rmtree(work, ignore_errors=True)  # an unfinished member starts again
    work.mkdir(parents=True)
    log_path = work / "mace_run_train.log"
    env = {**os.environ, "OMP_NUM_THREADS": str(task["threads"]),
           "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # mace loads its own foundation file
    start = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.run(member_command(task["train_file"], str(work), task["name"],
                                             task["seed"], task["hyper"], task["foundation"]),
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work).returncode
    produced = work / f"{task['name']}.model"
    if code != 0 or not produced.is_file():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(empty log)"]
        raise RuntimeError(f"mace_run_train of member seed {task['seed']} failed (exit {code}): "
                           f"{tail[0][:300]} (log {log_path})")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(produced, tmp)
    os.replace(tmp, target)
    return {"seed": task["seed"], "seconds": time.monotonic() - start, "log": str(log_path),
            "skipped": False}
