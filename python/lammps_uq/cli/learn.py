"""``lammps-uq learn CONFIG`` (the active-learning loop) and ``lammps-uq learn report DIR``.

The work is imported lazily from :mod:`lammps_uq.learn`.
"""

from __future__ import annotations

import argparse

USAGE = "lammps-uq learn CONFIG | lammps-uq learn report DIR [DIR ...] [-o PNG] [--bins N]"


def add_learn(sub) -> None:
    learn = sub.add_parser("learn", usage=USAGE,
                           help="the active-learning loop: explore, extract, label, train, "
                                "calibrate (or: learn report DIR)")
    learn.add_argument("target", nargs="+", metavar="CONFIG | report DIR",
                       help="TOML settings (README: Active learning), or 'report' and the "
                            "loop's work_dir(s)")
    learn.add_argument("-o", "--output", help="report: the figure (default DIR/learning_curve.png)")
    learn.add_argument("--bins", type=int, help="report: potential-energy bins (default: the "
                                                "config's report.energy_bins, else 3)")
    learn.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError

    if args.target[0] == "report":
        if len(args.target) < 2:
            raise InputError(f"report: got no DIR; expected {USAGE}")
        return _report([Path(t) for t in args.target[1:]], args)
    if len(args.target) != 1:
        raise InputError(f"CONFIG: got {' '.join(args.target)!r}; expected {USAGE}")
    if args.output or args.bins:
        raise InputError("-o/--bins: given without 'report'; expected them with lammps-uq "
                         "learn report DIR")
    from ..learn.config import load
    from ..learn.loop import run_loop

    result = run_loop(load(args.target[0]))
    return 0 if result["stopped"] is None or "no centre" in result["stopped"] else 1


def _report(works, args) -> int:
    from ..errors import InputError
    from ..inputs import output_file
    from ..learn.report import check_work, report

    for work in works:
        check_work(work)
    output = output_file(args.output, "-o/--output") if args.output else None
    bins = args.bins if args.bins is not None else _config_bins(works[0] / "config.toml")
    if not isinstance(bins, int) or bins < 1:
        raise InputError(f"--bins: got {bins!r}; expected an integer >= 1")
    for line in report(works, output, bins):
        print(line)
    return 0


def _config_bins(config) -> int:
    """report.energy_bins of the loop's config.toml (3 without one)."""
    import tomllib

    from ..errors import InputError

    if not config.exists():
        return 3
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError, UnicodeDecodeError: ValueErrors
        raise InputError(f"DIR: {str(config)!r} is not readable TOML ({exc}); expected the "
                         "settings the loop copied there: restore it, or give --bins N") from exc
    return table.get("report", {}).get("energy_bins", 3)
