"""The arguments of the workflow subcommands of ``lammps-uq``: ``carve`` (region frames into
cells) and ``label`` (reference energies and forces of carved cells), and ``carve`` itself.

``extract`` takes its arguments from :mod:`lammps_uq.extract.consumer_main` (the consumer
process that fix uq starts accepts the same words); ``extract`` and ``label`` run in
:mod:`lammps_uq.extract.consumer` and :mod:`lammps_uq.extract.labelling` (see the table of
:mod:`lammps_uq.cli.app`).
"""

from __future__ import annotations

import argparse


def add_carve(carve: argparse.ArgumentParser) -> None:
    from ..extract.carve_args import add_carve_options

    carve.add_argument("regions", help="extxyz: fix uq regions, or any frame with --centre-index")
    add_carve_options(carve)


def carve(args: argparse.Namespace) -> int:
    """Carve region frames into small cells (see lammps_uq.extract.carve)."""
    from pathlib import Path

    from ..extract.carve_io import carve_file, carve_settings
    from ..inputs import output_dir, require_file

    require_file(args.regions, "REGIONS")
    options, calculator, provenance = carve_settings(args)
    output_dir(args.output, "--output")
    written, skipped, failed = carve_file(args.regions, Path(args.output), options,
                                          calculator=calculator, fmt=args.format,
                                          centre_index=args.centre_index, provenance=provenance)
    print(f"lammps-uq carve: {written} cells written, {skipped} already there, {failed} failed")
    return 0 if failed == 0 else 1


def add_label(lab: argparse.ArgumentParser) -> None:
    from ..extract.carve_args import add_executor_options

    lab.add_argument("cells", nargs="+",
                     help="folders of carved cells (cell_*.extxyz) or extxyz files")
    lab.add_argument("-o", "--output", required=True, help="labelled extxyz (appended, resumable)")
    lab.add_argument("--calculator", required=True,
                     help="xtb, vasp, espresso, cp2k or MODULE:FACTORY")
    lab.add_argument("--calculator-config",
                     help="TOML or YAML file: command, pseudopotentials, kpts, parameters")
    lab.add_argument("--retries", type=int, default=1, help="extra tries of a failed cell")
    lab.add_argument("--timeout", type=float, help="seconds one label may take")
    lab.add_argument("--min-contact", type=float, default=0.7, metavar="FACTOR",
                     help="refuse cells with two atoms closer than FACTOR x their covalent "
                          "radii, unlabelled (default 0.7; 0: no check)")
    lab.add_argument("--inputs-only", action="store_true",
                     help="write each cell's calculator input into OUTPUT.inputs/ and stop")
    add_executor_options(lab)
