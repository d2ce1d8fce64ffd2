"""Command-line options made from the settings dataclasses of :mod:`lammps_uq.extract.settings`.

Each field that is an option becomes ``--field-name`` with the field's default and help, so a
default is written once, in the dataclass; :func:`settings_of` builds the dataclass back from
the parsed arguments (where its values are checked).
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING

from ..extract.settings import options


def add_options(parser: argparse.ArgumentParser, cls, only=None) -> None:
    """Every option of the settings class ``cls`` (or those named in ``only``)."""
    groups: dict = {}
    for opt in options(cls):
        if only is not None and opt.name not in only:
            continue
        where = parser
        if "group" in opt.cli:
            if opt.cli["group"] not in groups:
                groups[opt.cli["group"]] = parser.add_argument_group(opt.cli["group"])
            where = groups[opt.cli["group"]]
        if "exclusive" in opt.cli:
            key = ("exclusive", opt.cli["exclusive"])
            if key not in groups:
                groups[key] = where.add_mutually_exclusive_group()
            where = groups[key]
        where.add_argument(opt.flag, dest=opt.name, help=opt.help, **_how(opt))


def _how(opt) -> dict:
    """add_argument's keywords of one option: its kind, default, choices and metavar."""
    how = {key: opt.cli[key] for key in ("choices", "metavar") if key in opt.cli}
    if opt.kind is bool:
        return {**how, "default": opt.default,
                "action": argparse.BooleanOptionalAction if opt.default else "store_true"}
    if opt.default is MISSING:
        return {**how, "type": opt.kind, "required": True}
    if opt.kind is tuple:
        return {**how, "nargs": "+", "default": opt.default}
    return {**how, "type": opt.kind, "default": opt.default}


def settings_of(args: argparse.Namespace, cls, **more):
    """The settings class ``cls`` made from the parsed ``args`` (and ``more`` fields)."""
    values = {opt.name: getattr(args, opt.name) for opt in options(cls) if hasattr(args, opt.name)}
    return cls(**values, **more)
