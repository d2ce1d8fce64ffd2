"""``lammps-uq``: the command-line entry point (subcommands are imported lazily).

:data:`COMMANDS` is the one table of subcommands (in the manner of ASE's ``ase/cli/main.py``):
each row names the function that adds a subcommand's arguments and the one that runs it, as
``"module:function"`` in its real module.  Building the parser imports the first kind (light
modules); a subcommand's runner is imported by :func:`load` only when that subcommand runs.
A name with a space is a subcommand of a subcommand (``learn report``).
"""

from __future__ import annotations

import argparse
from typing import NamedTuple

from ..exits import TRACEBACK, run_command


class Command(NamedTuple):
    name: str  # "learn report": the subcommand report of learn
    help: str
    arguments: str | None = None  # "module:function(parser)": adds the arguments
    runs: str | None = None  # "module:function(args) -> exit status"; None: has subcommands
    default: str | None = None  # the subcommand that runs when the next word names none


COMMANDS = (
    Command("info", "where the LAMMPS plugin is and whether it autoloads",
            runs="lammps_uq.cli.info:run"),
    Command("select", "centres of extxyz frames, by fix uq's rules",
            "lammps_uq.cli.select:add_arguments", "lammps_uq.cli.select:run"),
    Command("carve", "carve region frames into DFT-ready cells",
            "lammps_uq.cli.workflow:add_carve", "lammps_uq.cli.workflow:carve"),
    Command("extract", "carve the frames of a region file, following it as it grows",
            "lammps_uq.cli.workflow:add_extract", "lammps_uq.cli.workflow:extract"),
    Command("label", "reference energies/forces/stress of carved cells",
            "lammps_uq.cli.workflow:add_label", "lammps_uq.cli.workflow:label"),
    Command("learn", "the active-learning loop: explore, extract, label, train, calibrate "
            "(or: learn report DIR)", "lammps_uq.cli.learn:add_learn", default="run"),
    Command("learn run", "run, or continue, the loop of CONFIG (the default: learn CONFIG)",
            "lammps_uq.cli.learn:add_run", "lammps_uq.cli.learn:run"),
    Command("learn report", "the table and learning curve of one or more loops' work_dir",
            "lammps_uq.cli.learn:add_report", "lammps_uq.cli.learn:report"),
    Command("calibrate", "fit alpha of a committee on labelled frames",
            "lammps_uq.cli.arguments:add_calibrate", "lammps_uq.cli.calibrate:run"),
    Command("demo", "the main job: liquid water on the default committee",
            "lammps_uq.cli.arguments:add_demo", "lammps_uq.cli.demo:run"),
)


def load(spec: str):
    """The function that ``"module:function"`` names, its module imported now."""
    from importlib import import_module

    module, _, function = spec.partition(":")
    return getattr(import_module(module), function)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lammps-uq", description=__doc__.splitlines()[0])
    parser.add_argument("-T", "--traceback", action="store_true", help=TRACEBACK)
    below = {"": parser.add_subparsers(dest="command", required=True)}
    for command in COMMANDS:
        parent, _, word = command.name.rpartition(" ")
        sub = below[parent].add_parser(word, help=command.help, description=command.help)
        if command.arguments:
            load(command.arguments)(sub)
        sub.add_argument("-T", "--traceback", action="store_true", default=argparse.SUPPRESS,
                         help=TRACEBACK)  # -T also after the subcommand's name
        if command.runs:
            sub.set_defaults(run=command.runs)
        else:
            below[command.name] = sub.add_subparsers(dest="subcommand", required=True,
                                                     prog=sub.prog)
    return parser


def with_default_subcommand(argv: list[str]) -> list[str]:
    """``learn CONFIG`` as ``learn run CONFIG``: the command's default subcommand goes in
    where the word after the command names none of its subcommands."""
    words = [k for k, word in enumerate(argv) if not word.startswith("-")]
    if len(words) < 2:
        return list(argv)
    name, first = argv[words[0]], argv[words[1]]
    default = next((c.default for c in COMMANDS if c.name == name), None)
    if default is None or f"{name} {first}" in {c.name for c in COMMANDS}:
        return list(argv)
    return [*argv[:words[1]], default, *argv[words[1]:]]


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; bad input ends it with one line on stderr and exit status 2.

    See :func:`lammps_uq.exits.run_command` for every way a subcommand ends; ``-T/--traceback``
    shows the full trace.
    """
    import sys

    argv = with_default_subcommand(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return run_command(args.command, lambda a: load(a.run)(a), args)


if __name__ == "__main__":
    raise SystemExit(main())
