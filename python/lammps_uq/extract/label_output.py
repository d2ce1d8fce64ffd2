"""What ``lammps-uq label`` keeps on disk: the labelled output file and its failure records.

- :func:`labelled_frame` / :func:`append_frame`: a label as one extxyz frame (MACE's keys
  ``REF_energy``, ``REF_forces``, ``REF_stress``, the cell's provenance, ``cell_id`` and
  ``cell_digest``), appended with one write and fsync;
- :func:`labelled_ids`: the cells an existing output holds (a torn tail cut first, and said);
- :func:`locked`: a lock on the output, so that two runs on it take turns;
- :class:`FailureLog`: ``OUTPUT.failed.json``, written atomically;
- :func:`cell_digest` (a cell's structure) and :func:`folder_name` (its working folder).

Used by :mod:`.labelling` (the command), :mod:`.label_queue` (the running cells) and
:mod:`.consumer` (extract's failure records).
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import InputError


def cell_digest(atoms) -> str:
    """A hash of the structure (elements, positions to 1e-6 Å, cell, pbc)."""
    digest = hashlib.sha256()
    for part in (atoms.numbers.astype(np.int64), np.round(atoms.positions, 6) + 0.0,
                 np.round(atoms.cell.array, 6) + 0.0, np.asarray(atoms.pbc, dtype=bool)):
        digest.update(np.ascontiguousarray(part).tobytes())
    return "sha256:" + digest.hexdigest()[:16]  # never all digits: extxyz would read a number


def labelled_frame(atoms, result: dict, cell_id: str, source: str, spec: str):
    frame = atoms.copy()
    frame.calc = None
    for key in ("energy", "forces", "stress"):  # no stale unprefixed results
        frame.info.pop(key, None)
        frame.arrays.pop(key, None)
    frame.info["REF_energy"] = result["energy"]
    frame.arrays["REF_forces"] = result["forces"]
    if "stress" in result:
        frame.info["REF_stress"] = result["stress"]
    frame.info.update(cell_id=cell_id, cell_digest=cell_digest(atoms), label_source=source,
                      label_calculator=spec, **result.get("provenance", {}))
    return frame


def append_frame(path: Path, frame) -> None:
    import io

    import ase.io

    buffer = io.StringIO()
    ase.io.write(buffer, frame, format="extxyz")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        os.fsync(fh.fileno())


def labelled_ids(path: Path) -> dict[str, str | None]:
    """{cell_id: cell_digest (None in files of before the digest)} of every whole frame of an
    existing output (a torn tail is cut off)."""
    from .follow import FrameFollower, cut_torn_tail

    if not path.exists():
        return {}
    cut_torn_tail(path)
    return {str(atoms.info.get("cell_id")): atoms.info.get("cell_digest")
            for _, atoms in FrameFollower(path, "--output").new_frames()}


@contextmanager
def locked(output: Path):
    """Hold a lock on ``output`` (made if missing): a second run on it waits for the first."""
    from .locks import hold

    try:
        handle = open(output, "a", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--output: got {str(output)!r}, which cannot be written "
                         f"({exc.strerror}); expected a writable extxyz file") from exc
    with handle:
        hold(handle, f"lammps-uq label: another label run writes {output}; waiting for it")
        yield


def failures_path(output: Path) -> Path:
    """``OUTPUT.failed.json`` of the output ``OUTPUT.extxyz``."""
    return output.with_name(output.stem + ".failed.json")


class FailureLog:
    """A failure record file, {key: {reason, ...}}, written atomically: ``label``'s
    ``OUTPUT.failed.json`` (keyed by cell_id) and ``extract``'s ``DIR/extract.failed.json``
    (keyed by frame index).  ``command`` names its writer in the refusal of a broken file."""

    def __init__(self, path: Path, command: str = "label"):
        self.path, self.entries = Path(path), {}
        if self.path.exists():
            expected = f"expected the failure records of lammps-uq {command}"
            try:
                self.entries = json.loads(self.path.read_text())
            except ValueError as exc:
                raise InputError(f"--output: {str(self.path)!r} is not valid JSON ({exc}); "
                                 f"{expected} (delete the file to start them afresh)") from exc
            if not isinstance(self.entries, dict):
                raise InputError(f"--output: {str(self.path)!r} holds no table; {expected} "
                                 "(delete the file)")

    def record(self, key, **fields) -> None:
        """The failure of ``key`` (a cell_id, a frame index) with its fields (reason, ...)."""
        self.entries[str(key)] = fields
        self._save()

    def resolve(self, key) -> None:
        if self.entries.pop(str(key), None) is not None:
            self._save()

    def _save(self) -> None:
        from .carve_io import write_atomic

        text = json.dumps(self.entries, indent=1, sort_keys=True) + "\n"
        write_atomic(self.path, lambda p: Path(p).write_text(text))


def folder_name(cell_id: str) -> str:
    """The cell's working folder name (``FOLDER/NAME:K`` ids hold a slash and a colon)."""
    return cell_id.replace("/", "__").replace(":", "_")
