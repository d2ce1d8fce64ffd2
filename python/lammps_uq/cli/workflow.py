"""The workflow subcommands of ``lammps-uq``: ``carve`` (region frames into cells), ``extract``
(the same, following a region file as it grows) and ``label`` (reference energies and forces
of carved cells).

Their options are the fields of the settings dataclasses (:mod:`lammps_uq.extract.settings`,
through :mod:`lammps_uq.cli.options`); each runner builds those and hands them to the library
(:mod:`lammps_uq.extract.carve_io`, :mod:`lammps_uq.extract.consumer`,
:mod:`lammps_uq.extract.labelling`).
"""

from __future__ import annotations

import argparse

from ..extract.settings import CarveSettings, ExecutorSettings, ExtractJob, LabelSettings
from .options import add_options, settings_of


def add_carve_options(parser: argparse.ArgumentParser) -> None:
    """``-o/--output``, every carve option and ``--centre-index`` (not the input argument)."""
    parser.add_argument("-o", "--output", required=True, help="folder of the cells")
    add_options(parser, CarveSettings)
    parser.add_argument("--centre-index", type=int, help="centre atom (0-based) of plain frames")


def add_carve(carve: argparse.ArgumentParser) -> None:
    carve.add_argument("regions", help="extxyz: fix uq regions, or any frame with --centre-index")
    add_carve_options(carve)


def carve(args: argparse.Namespace) -> int:
    """Carve region frames into small cells (see lammps_uq.extract.carve)."""
    from pathlib import Path

    from ..extract.carve_io import carve_file, relaxer
    from ..inputs import output_dir, require_file

    require_file(args.regions, "REGIONS")
    settings = settings_of(args, CarveSettings)
    calculator, provenance = relaxer(settings)
    output_dir(args.output, "--output")
    written, skipped, failed = carve_file(args.regions, Path(args.output), settings,
                                          calculator=calculator, fmt=settings.format,
                                          centre_index=args.centre_index, provenance=provenance)
    print(f"lammps-uq carve: {written} cells written, {skipped} already there, {failed} failed")
    return 0 if failed == 0 else 1


def add_extract(parser: argparse.ArgumentParser) -> None:
    """REGIONS, the carve options and those of the consumer (``lammps-uq extract``)."""
    parser.add_argument("regions",
                        help="the region file of fix uq (extxyz, appended while it runs)")
    add_carve_options(parser)
    add_options(parser, ExtractJob)
    add_options(parser, ExecutorSettings)


def extract(args: argparse.Namespace) -> int:
    """``lammps-uq extract REGIONS -o DIR [--follow] [carve options]``."""
    from ..errors import InputError
    from ..extract.consumer import run

    job = settings_of(args, ExtractJob, regions=args.regions, output=args.output,
                      carve=settings_of(args, CarveSettings),
                      executor=settings_of(args, ExecutorSettings))
    if args.centre_index is not None:
        raise InputError(f"--centre-index: got {args.centre_index}; extract takes each centre "
                         "from its region frame (centre_id); use lammps-uq carve for plain frames")
    return run(job)


def add_label(lab: argparse.ArgumentParser) -> None:
    lab.add_argument("cells", nargs="+",
                     help="folders of carved cells (cell_*.extxyz) or extxyz files")
    lab.add_argument("-o", "--output", required=True, help="labelled extxyz (appended, resumable)")
    add_options(lab, LabelSettings)
    lab.add_argument("--inputs-only", action="store_true",
                     help="write each cell's calculator input into OUTPUT.inputs/ and stop")
    add_options(lab, ExecutorSettings)


def label(args: argparse.Namespace) -> int:
    """``lammps-uq label CELLS -o OUT --calculator SPEC [...]``."""
    from ..extract.labelling import run

    return run(args.cells, args.output, settings_of(args, LabelSettings),
               settings_of(args, ExecutorSettings), inputs_only=args.inputs_only)
