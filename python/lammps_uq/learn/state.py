"""The loop's state on disk: one folder per iteration, files written through a rename.

``WORK/config.toml`` (the settings the loop started with) and ``WORK/iter_KKK/`` with, as
each stage finishes: ``explore/run_J/`` (the template as run, ``lammps.out``, the region file,
``.done``), ``regions.extxyz``, ``cells/`` (+ ``cells/.done``), ``labelled.extxyz`` (+
``labelled.done``, failures in ``labelled.failed.json``), ``split.json``,
``train_new.extxyz`` / ``holdout.extxyz`` (this iteration's frames for training / for
alpha), ``train.extxyz`` (everything trained on), ``committee/member_S.model`` and
``committee/calibration.json``, ``test_errors.json`` and ``provenance.json``.  A stage whose
output (or marker) exists is skipped when the loop starts again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import InputError, UQError


class LearnStopped(UQError):
    """The loop stopped before its last iteration for a reason it records (not a crash)."""


def write_json(path: Path, data) -> None:
    from ..extract.carve_io import write_atomic

    text = json.dumps(data, indent=1, sort_keys=True, default=_plain) + "\n"
    write_atomic(path, lambda p: Path(p).write_text(text))


def _plain(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# what to do about a state file that cannot be read, by its name (the rest: a stage's output)
ADVICE = {
    "config.json": "if CONFIG's settings are those of config.toml next to it, delete it (the "
                   "loop writes it again); otherwise use a new work_dir",
    "provenance.json": "delete it (a record only: the loop writes it again, without the "
                       "timings and counts of the stages already done), or use a new work_dir",
    "STOPPED": "delete it (the reason the loop stopped last time)",
}


def read_json(path: Path, default=None):
    """A state file (a JSON table) of the loop, or ``default`` when it is not there; a file
    that is not one (truncated, say, by a full disk) is refused in one line saying what to do."""
    if not path.exists():
        return default
    try:
        data = json.loads(path.read_text())
        problem = None if isinstance(data, dict) else f"holds a {type(data).__name__}, not a table"
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        problem = f"is not valid JSON ({exc})" if isinstance(exc, ValueError) else \
            f"is unreadable ({exc.strerror or exc})"
    if problem:
        advice = ADVICE.get(path.name, "delete the file to redo that stage, or use a new work_dir")
        raise InputError(f"work_dir: {str(path)!r} {problem}; expected the state lammps-uq "
                         f"learn writes: {advice}")
    return data


def write_frames(path: Path, frames) -> None:
    import ase.io

    from ..extract.carve_io import write_atomic

    write_atomic(path, lambda p: ase.io.write(p, list(frames), format="extxyz"))


def read_frames(path: Path) -> list:
    import ase.io

    return ase.io.read(path, ":") if path.exists() and path.stat().st_size else []


def iteration_dir(work: Path, k: int) -> Path:
    return work / f"iter_{k:03d}"


def start_work(work: Path, config) -> None:
    """Make WORK; a loop started again must keep its settings (``iterations`` may grow)."""
    from ..inputs import output_dir

    output_dir(work, "CONFIG: work_dir")
    mark = work / "config.json"
    old = read_json(mark)
    if old and old.get("fingerprint") != config.fingerprint():
        raise InputError(f"CONFIG: work_dir {str(work)!r} holds a loop started with other "
                         f"settings (see {work / 'config.toml'}); expected the same settings "
                         "(only iterations may change), or a new work_dir")
    if not old:
        (work / "config.toml").write_text(config.source)
        write_json(mark, {"fingerprint": config.fingerprint(), "started": time.ctime()})


class Provenance:
    """``provenance.json`` of one iteration, saved after every stage."""

    def __init__(self, folder: Path, **fixed):
        self.path = folder / "provenance.json"
        self.data = read_json(self.path, {"timings_s": {}, "counts": {}})
        self.data.update(fixed)

    def stage(self, name: str, seconds: float, **counts) -> None:
        self.data["timings_s"].setdefault(name, round(seconds, 3))  # the run that did it
        self.data["counts"].update(counts)
        self.save()

    def set(self, **items) -> None:
        self.data.update(items)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)
