"""The workflow subcommands of ``lammps-uq``: ``extract`` (carve a growing region file) and
``label`` (reference energies and forces of carved cells).  Imported by :mod:`lammps_uq.cli`;
the work itself is imported lazily from :mod:`lammps_uq.extract.consumer` and
:mod:`lammps_uq.extract.labelling`."""

from __future__ import annotations

import argparse


def _executor_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where the tasks run")
    where.add_argument("--workers", type=int, default=1,
                       help="local worker processes (spawned; 0: in this process)")
    where.add_argument("--parsl-config",
                       help="Python file defining `config` (a parsl.config.Config): run on Parsl")


def _lazy(module: str):
    def run(args):
        from importlib import import_module

        return import_module(f"lammps_uq.{module}").run(args)
    return run


def add_extract(sub) -> None:
    from ..extract.carve_args import add_carve_options

    ex = sub.add_parser("extract", help="carve the frames of a region file, following it as it grows")
    ex.add_argument("regions", help="the region file of fix uq (extxyz, appended while it runs)")
    add_carve_options(ex)
    ex.add_argument("--follow", action="store_true",
                    help="keep reading new frames until REGIONS.done (written by fix uq at the "
                         "end of a run) covers them, or --until-pid exits")
    ex.add_argument("--until-pid", type=int, help="with --follow: stop when this process is gone")
    ex.add_argument("--poll", type=float, default=0.5, help="seconds between reads (--follow)")
    ex.add_argument("--nice", type=int, default=0, help="lower this process's priority by N")
    _executor_options(ex)
    ex.set_defaults(run=_lazy("consumer"))


def add_label(sub) -> None:
    lab = sub.add_parser("label", help="reference energies/forces/stress of carved cells")
    lab.add_argument("cells", nargs="+", help="folders of carved cells (cell_*.extxyz) or extxyz files")
    lab.add_argument("-o", "--output", required=True, help="labelled extxyz (appended, resumable)")
    lab.add_argument("--calculator", required=True,
                     help="xtb, vasp, espresso, cp2k or MODULE:FACTORY")
    lab.add_argument("--calculator-config",
                     help="TOML or YAML file: command, pseudopotentials, kpts, parameters")
    lab.add_argument("--retries", type=int, default=1, help="extra tries of a failed cell")
    lab.add_argument("--timeout", type=float, help="seconds one label may take")
    lab.add_argument("--inputs-only", action="store_true",
                     help="write each cell's calculator input into OUTPUT.inputs/ and stop")
    _executor_options(lab)
    lab.set_defaults(run=_lazy("labelling"))


def add_workflow(sub) -> None:
    add_extract(sub)
    add_label(sub)
