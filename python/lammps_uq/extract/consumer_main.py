"""``python -m lammps_uq.extract.consumer_main REGIONS -o DIR [options]``: ``lammps-uq extract``
without the command-line package.

``fix uq ... carve`` starts its consumer this way (:mod:`lammps_uq.fix.insitu`): through a
module of the extract layer, so the fix never reaches up into :mod:`lammps_uq.cli`.  The words,
the one-line errors and the exit statuses are those of ``lammps-uq extract``, whose arguments
are defined here (:func:`add_arguments`, named by the CLI's table of subcommands).
"""

from __future__ import annotations

import argparse

from ..exits import TRACEBACK, run_command
from .carve_args import add_carve_options, add_executor_options

HELP = "carve the frames of a region file, following it as it grows"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """REGIONS, the carve options and those of the consumer (``lammps-uq extract``)."""
    parser.add_argument("regions",
                        help="the region file of fix uq (extxyz, appended while it runs)")
    add_carve_options(parser)
    parser.add_argument("--follow", action="store_true",
                        help="keep reading new frames until REGIONS.done (written by fix uq at "
                             "the end of a run) covers them, or --until-pid exits")
    parser.add_argument("--until-pid", type=int,
                        help="with --follow: stop when this process is gone")
    parser.add_argument("--poll", type=float, default=0.5,
                        help="seconds between reads (--follow)")
    parser.add_argument("--nice", type=int, default=0,
                        help="lower this process's priority by N")
    add_executor_options(parser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lammps-uq extract", description=HELP)
    add_arguments(parser)
    parser.add_argument("-T", "--traceback", action="store_true", help=TRACEBACK)
    args = parser.parse_args(argv)
    from .consumer import run

    return run_command("extract", run, args)


if __name__ == "__main__":
    raise SystemExit(main())
