"""Input boundaries of the offline tools: files, folders and frames, each refused in one line.

Every function turns the OS's or ASE's complaint about one named input (``what``: the option
or argument, e.g. ``FRAMES`` or ``--output``) into an :class:`~lammps_uq.errors.InputError`
that says what was given and what is expected.  Nothing else is converted: an error inside
the library stays what it is.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import InputError

FRAMES = "extxyz frames"


def require_file(path, what: str, expected: str = FRAMES) -> None:
    """Refuse a path that is missing, a folder, unreadable or empty."""
    problem = None
    if not os.path.exists(path):
        problem = "no such file"
    elif os.path.isdir(path):
        problem = "a folder"
    elif not os.access(path, os.R_OK):
        problem = "not readable"
    elif os.path.getsize(path) == 0:
        problem = "an empty file"
    if problem:
        raise InputError(f"{what}: got {str(path)!r} ({problem}); expected a file of {expected}")


def _read_errors() -> tuple:
    from ase.io.formats import UnknownFileTypeError

    # what ase.io raises for files it cannot parse (XYZError is an OSError)
    return (OSError, ValueError, IndexError, KeyError, UnknownFileTypeError)


def iter_frames(path, what: str) -> Iterator:
    """The frames of ``path`` one by one (ASE guesses the format; extxyz is meant)."""
    import ase.io

    require_file(path, what)
    errors = _read_errors()
    count = 0
    frames = ase.io.iread(path, ":")
    while True:
        try:
            atoms = next(frames)
        except StopIteration:
            break
        except errors as exc:
            raise InputError(f"{what}: got {str(path)!r}, unreadable at frame {count} "
                             f"({type(exc).__name__}: {exc}); expected {FRAMES}") from exc
        count += 1
        yield atoms
    if count == 0:
        raise InputError(f"{what}: got {str(path)!r}, which holds no frame; expected {FRAMES}")


def read_frames(path, what: str) -> list:
    """All frames of ``path`` (see :func:`iter_frames`)."""
    return list(iter_frames(path, what))


def output_dir(path, what: str) -> Path:
    """The folder ``path``, made if missing; refused when it cannot be made or written."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what}: got {str(path)!r}, which cannot be made a folder "
                         f"({exc.strerror}); expected a writable folder") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{what}: got {str(path)!r} (not writable); expected a writable folder")
    return folder


def output_file(path, what: str) -> Path:
    """A file path whose folder exists and is writable, and that is not itself a folder."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        problem = "a folder"
    elif not folder.is_dir():
        problem = f"no folder {str(folder)!r}"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"folder {str(folder)!r} not writable"
    else:
        return target
    raise InputError(f"{what}: got {str(path)!r} ({problem}); expected a file in a writable folder")


def committee_for(files: list[str], frames: list, frames_path, **kwargs):
    """``CommitteeCalculator(--committee FILES)`` that knows every element of ``frames``."""
    from .committee.calculator import CommitteeCalculator

    calculator = CommitteeCalculator(files, label="--committee", **kwargs)
    for k, atoms in enumerate(frames):
        calculator.committee.check_elements(atoms.numbers, f"FRAMES {str(frames_path)!r} frame {k}")
    return calculator


def load_factory(spec: str, what: str = "fix uq python") -> Callable[..., Any]:
    """Import ``MODULE:FACTORY`` (``what`` names it in errors); the current directory first."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"{what}: got {spec!r}; expected MODULE:FACTORY")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InputError(
            f"{what}: cannot import module {module_name!r} ({exc}); expected a module "
            "on the Python path or in the current directory"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InputError(f"{what}: module {module_name!r} has no callable {attr!r}")
    return factory


def templates_dir() -> Path:
    """input_templates/: inside the installed package, or at the top of a source checkout."""
    from importlib.resources import files

    installed = Path(str(files("lammps_uq"))) / "input_templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "input_templates"
