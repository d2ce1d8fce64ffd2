"""``lammps-uq learn [run] CONFIG`` (the active-learning loop) and ``lammps-uq learn report DIR``.

``run`` is learn's default subcommand: ``lammps-uq learn CONFIG`` runs it.  The work is imported
lazily from :mod:`lammps_uq.learn`.
"""

from __future__ import annotations

import argparse

USAGE = ("lammps-uq learn [run] CONFIG | lammps-uq learn report DIR [DIR ...] [-o PNG] "
         "[--bins N]")


def add_learn(learn: argparse.ArgumentParser) -> None:
    learn.usage = USAGE


def add_run(learn_run: argparse.ArgumentParser) -> None:
    learn_run.add_argument("config", metavar="CONFIG",
                           help="TOML settings (docs/learn.md)")


def run(args: argparse.Namespace) -> int:
    """Run, or continue, the loop that CONFIG sets up."""
    from ..learn.config import load
    from ..learn.loop import run_loop

    result = run_loop(load(args.config))
    return 0 if result["stopped"] is None or "no centre" in result["stopped"] else 1


def add_report(learn_report: argparse.ArgumentParser) -> None:
    learn_report.add_argument("dirs", nargs="+", metavar="DIR",
                              help="the loop's work_dir (several loops: one figure)")
    learn_report.add_argument("-o", "--output",
                              help="the figure (default DIR/learning_curve.png)")
    learn_report.add_argument("--bins", type=int, help="potential-energy bins (default: the "
                                                       "config's report.energy_bins)")


def report(args: argparse.Namespace) -> int:
    """The table of every iteration and the learning curve of one or more loops."""
    from pathlib import Path

    from ..errors import InputError
    from ..inputs import output_file
    from ..learn.report import check_work, report as report_lines

    works = [Path(d) for d in args.dirs]
    for work in works:
        check_work(work)
    output = output_file(args.output, "-o/--output") if args.output else None
    bins = args.bins if args.bins is not None else _config_bins(works[0] / "config.toml")
    if not isinstance(bins, int) or bins < 1:
        raise InputError(f"--bins: got {bins!r}; expected an integer >= 1")
    for line in report_lines(works, output, bins):
        print(line)
    return 0


def _config_bins(config) -> int:
    """report.energy_bins of the loop's config.toml (the key's default without one)."""
    import tomllib

    from ..errors import InputError
    from ..learn.config import SCHEMA

    default = SCHEMA[("report", "energy_bins")][0]
    if not config.exists():
        return default
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError, UnicodeDecodeError: ValueErrors
        raise InputError(f"DIR: {str(config)!r} is not readable TOML ({exc}); expected the "
                         "settings the loop copied there: restore it, or give --bins N") from exc
    return table.get("report", {}).get("energy_bins", default)
