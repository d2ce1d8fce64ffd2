"""The settings of carving, labelling and the tasks' executor: one frozen dataclass per group.

Each default is written once, here, as a field's default; each field that is an option of
``lammps-uq`` carries its help in the field's metadata (:func:`option`).  Every way in builds
these classes: the command line (:mod:`lammps_uq.cli.options` turns the fields into argparse
options), the words after ``carve`` on a fix uq line (:mod:`lammps_uq.fix.insitu`) and the TOML
of ``lammps-uq learn`` (:mod:`lammps_uq.learn.iteration`).  A value is checked when the object
is made: an :class:`~lammps_uq.errors.InputError` names the option, the value got and what is
expected.  :class:`ExtractJob` crosses the process boundary to the consumer that fix uq starts
as JSON (:meth:`Settings.to_json`, :meth:`Settings.from_json`).
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass

from ..errors import InputError

DEFAULT_MOLECULES = 64  # K when neither molecules nor radius is given (the paper's water recipe)
# DFT inputs through ASE writers: file name in the cell's folder, ASE format
FORMATS = {"vasp": ("POSCAR", "vasp"), "espresso": ("espresso.pwi", "espresso-in")}
DTYPES = ("float64", "float32")


def option(default=MISSING, help: str = "", **cli):
    """A field that is an option: its default (the one place it is written), its help and
    how the command line shows it (``group``: an argument group's title; ``exclusive``: the
    name of a group of mutually exclusive options; ``choices``, ``metavar``)."""
    return field(default=default, metadata={"help": help, **cli})


class Option(typing.NamedTuple):
    name: str  # the field
    flag: str  # --fixed-fraction
    kind: type  # int, float, str, bool or tuple (of str)
    default: object  # dataclasses.MISSING: required
    help: str
    cli: dict  # group, exclusive, choices, metavar


def _kind(hint) -> type:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    return tuple if typing.get_origin(hint) is tuple else hint


def options(cls) -> list[Option]:
    """The fields of the settings class ``cls`` that are options, in order."""
    hints = typing.get_type_hints(cls)
    return [Option(f.name, "--" + f.name.replace("_", "-"), _kind(hints[f.name]), f.default,
                   f.metadata["help"], {k: v for k, v in f.metadata.items() if k != "help"})
            for f in fields(cls) if "help" in f.metadata]


class Settings:
    """JSON both ways for the settings dataclasses (nested ones and tuples included)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, what: str = "SETTINGS"):
        hints = typing.get_type_hints(cls)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{what}: got unknown key(s) {', '.join(unknown)}; expected the "
                             f"keys of {cls.__name__}: {', '.join(sorted(names))}")
        values = {}
        for name, value in data.items():
            hint = hints[name]
            if isinstance(hint, type) and is_dataclass(hint) and isinstance(value, dict):
                value = hint.from_dict(value, f"{what}.{name}")
            elif _kind(hint) is tuple and isinstance(value, list):
                value = tuple(value)
            values[name] = value
        try:
            return cls(**values)
        except TypeError as exc:  # a required key missing
            raise InputError(f"{what}: {exc}; expected every key of {cls.__name__}") from exc

    @classmethod
    def from_json(cls, text: str, what: str = "SETTINGS"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{what}: got {text[:80]!r}, not JSON ({exc}); expected "
                             f"{cls.__name__} as JSON") from exc
        if not isinstance(data, dict):
            raise InputError(f"{what}: got {text[:80]!r}; expected {cls.__name__} as a JSON "
                             "object")
        return cls.from_dict(data, what)


def _typed(cls, self, prefix: str) -> None:
    """Each option of ``self`` of its kind (an int where a float is asked becomes a float)."""
    for opt in options(cls):
        value = getattr(self, opt.name)
        if value is None and opt.default is None:
            continue
        wrong = isinstance(value, bool) != (opt.kind is bool) or not isinstance(
            value, (int, float) if opt.kind is float else opt.kind)
        if opt.kind is tuple and not wrong:
            wrong = not all(isinstance(v, str) for v in value)
        if wrong:
            expected = {int: "an integer", float: "a number", bool: "true or false",
                        str: "a string", tuple: "a list of strings"}[opt.kind]
            raise InputError(f"{prefix}{opt.flag}: got {value!r}; expected {expected}")
        if opt.kind is float:
            object.__setattr__(self, opt.name, float(value))


POSITIVE = ("molecules", "radius", "box", "pad", "shrink", "bfgs_steps", "contact_k")
RELAX = "border relaxation (paper's Methods B values)"


@dataclass(frozen=True)
class CarveOptions(Settings):
    """How a cell is cut and its border relaxed (:mod:`lammps_uq.extract.carve`)."""

    molecules: int | None = option(None, f"K whole molecules (default {DEFAULT_MOLECULES})",
                                   exclusive="size")
    radius: float | None = option(None, "whole molecules (atoms of solids) within R Å of the "
                                  "centre", exclusive="size")
    box: float | None = option(None, "cubic length (Å) instead of the parent density")
    cluster: bool = option(False, "non-periodic cluster with vacuum")
    vacuum: float = option(6.0, "Å around a cluster")
    fixed_fraction: float = option(0.8, "atoms within this fraction of l/2 stay fixed",
                                   group=RELAX)
    pad: float = option(2.0, "Å added per direction at first", group=RELAX)
    shrink: float = option(0.2, "Å removed per direction a cycle", group=RELAX)
    bfgs_steps: int = option(5, "BFGS steps per cycle", group=RELAX)
    contact: float = option(1.0, "contact wall at this fraction of the parent's closest "
                            "contacts; 0: off", group=RELAX)
    contact_k: float = option(10.0, "wall stiffness, eV/Å²", group=RELAX)

    def __post_init__(self):
        _typed(type(self), self, "carve ")  # a CarveSettings's own options too
        for opt in options(CarveOptions):
            value = getattr(self, opt.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"carve {opt.flag}: got {value}; expected a finite number")
            if opt.name in POSITIVE and value is not None and value <= 0:
                raise InputError(f"carve {opt.flag}: got {value}; expected a positive number")
            if opt.name in ("vacuum", "contact") and value < 0:
                raise InputError(f"carve {opt.flag}: got {value}; expected a number >= 0")
        if not 0 <= self.fixed_fraction <= 1:
            raise InputError(f"carve --fixed-fraction: got {self.fixed_fraction}; expected a "
                             "number in [0, 1]")
        if self.molecules is not None and self.radius is not None:
            raise InputError(f"carve --radius: got {self.radius} with --molecules "
                             f"{self.molecules}; expected one of them")
        if self.molecules is None and self.radius is None:
            object.__setattr__(self, "molecules", DEFAULT_MOLECULES)


def check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"carve --format: got {fmt!r}; expected one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class CarveSettings(CarveOptions):
    """The options of ``lammps-uq carve``: the cut, and which committee relaxes the border."""

    relax: bool = option(True, "relax the border with the committee mean (--no-relax: not)")
    committee: tuple[str, ...] = option((), "MACE models for the border relaxation")
    dtype: str = option("float64", "precision of the relaxing committee", choices=DTYPES)
    format: str | None = option(None, "also write DFT input: vasp or espresso")

    def __post_init__(self):
        if isinstance(self.committee, list) or self.committee is None:
            object.__setattr__(self, "committee", tuple(self.committee or ()))
        check_format(self.format)
        super().__post_init__()
        if self.dtype not in DTYPES:
            raise InputError(f"carve --dtype: got {self.dtype!r}; expected one of "
                             f"{', '.join(DTYPES)}")
        if not self.relax and self.committee:
            raise InputError(f"carve --no-relax: got it with --committee "
                             f"{' '.join(self.committee)}; expected one of them (--committee "
                             "relaxes the border, --no-relax not)")


@dataclass(frozen=True)
class LabelSettings(Settings):
    """How ``lammps-uq label`` computes reference labels (:mod:`lammps_uq.extract.labelling`)."""

    calculator: str = option(help="xtb, vasp, espresso, cp2k or MODULE:FACTORY")
    calculator_config: str | None = option(None, "TOML or YAML file: command, "
                                           "pseudopotentials, kpts, parameters")
    retries: int = option(1, "extra tries of a failed cell")
    timeout: float | None = option(None, "seconds one label may take")
    min_contact: float = option(0.7, "refuse cells with two atoms closer than FACTOR x their "
                                "covalent radii, unlabelled (default %(default)s; 0: no check)",
                                metavar="FACTOR")

    def __post_init__(self):
        _typed(LabelSettings, self, "")
        if self.retries < 0:
            raise InputError(f"--retries: got {self.retries}; expected an integer >= 0")
        if self.timeout is not None and not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise InputError(f"--timeout: got {self.timeout}; expected seconds > 0")
        if not (self.min_contact >= 0 and math.isfinite(self.min_contact)):
            raise InputError(f"--min-contact: got {self.min_contact}; expected a factor >= 0 "
                             "(0: no check)")


TASKS = "where the tasks run"


@dataclass(frozen=True)
class ExecutorSettings(Settings):
    """Where the tasks of extract and label run (:mod:`lammps_uq.extract.executors`)."""

    workers: int = option(1, "local worker processes (spawned; 0: in this process)",
                          group=TASKS)
    parsl_config: str | None = option(None, "Python file defining `config` (a "
                                      "parsl.config.Config): run on Parsl", group=TASKS)

    def __post_init__(self):
        _typed(ExecutorSettings, self, "")


@dataclass(frozen=True)
class ExtractJob(Settings):
    """One consumer's work (``lammps-uq extract``, or the process fix uq starts)."""

    regions: str  # the region file of fix uq
    output: str  # the folder of the cells
    carve: CarveSettings
    executor: ExecutorSettings = ExecutorSettings()
    follow: bool = option(False, "keep reading new frames until REGIONS.done (written by fix "
                          "uq at the end of a run) covers them, or --until-pid exits")
    until_pid: int | None = option(None, "with --follow: stop when this process is gone")
    poll: float = option(0.5, "seconds between reads (--follow)")
    nice: int = option(0, "lower this process's priority by N")

    def __post_init__(self):
        _typed(ExtractJob, self, "")
        if not (math.isfinite(self.poll) and self.poll > 0):
            raise InputError(f"--poll: got {self.poll}; expected seconds > 0 (a finite number)")
        if self.until_pid is not None and self.until_pid <= 0:
            raise InputError(f"--until-pid: got {self.until_pid}; expected a process id > 0")
