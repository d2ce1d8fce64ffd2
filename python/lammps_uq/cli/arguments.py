"""The arguments of ``lammps-uq calibrate`` and ``lammps-uq demo``.

Apart from the modules that run them (:mod:`lammps_uq.cli.calibrate`,
:mod:`lammps_uq.cli.demo`): building the parser of ``lammps-uq`` imports only what their
arguments need (calibrate's default radii), not the modules that do the work.
"""

from __future__ import annotations

import argparse


def add_calibrate(cal: argparse.ArgumentParser) -> None:
    from ..science.calibrate import DEFAULT_RCUTS

    cal.add_argument("frames", nargs="+",
                     help="one or more extxyz sets with reference forces (REF_forces or forces); "
                          "include frames as far from training as production goes")
    cal.add_argument("--committee", nargs="+", required=True,
                     help="MACE model files (or 'default')")
    cal.add_argument("--rcut", type=float, nargs="+", default=list(DEFAULT_RCUTS),
                     help="radii (Å) of the local neighbourhoods")
    cal.add_argument("--quantile", type=float, default=0.9,
                     help="q of the conformal bound: error <= bound for q of neighbourhoods")
    cal.add_argument("--forces-key", help="per-atom array of the reference forces")
    cal.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    cal.add_argument("-o", "--output",
                     help="folder of calibration.json (default: the models', never the package's)")
    cal.add_argument("--force", action="store_true", help="overwrite an existing calibration.json")
    cal.add_argument("--plot", default="calibration.png", help="figure path")


def add_demo(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("-o", "--output", default="lammps-uq-demo", help="folder of the run")
    demo.add_argument("--steps", type=int,
                      help="MD steps of 0.5 fs (default 300, or $LAMMPS_UQ_DEMO_STEPS)")
    demo.add_argument("--np", type=int, default=2, help="MPI ranks (default 2)")
    demo.add_argument("--committee", default="default", help="MACE model files or glob")
