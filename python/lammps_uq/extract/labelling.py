"""``lammps-uq label``: reference energies, forces and stresses of carved cells.

Each cell is one task on an executor (:mod:`lammps_uq.extract.executors`), computed in a
process of its own (:mod:`lammps_uq.extract.label_process`): a cell whose calculation crashes,
hangs past ``timeout`` or returns non-finite or misshapen numbers fails alone, with its reason.
A labelled cell is appended to the output as soon as it is done, as one extxyz frame (one
write, flush, fsync) with MACE's training keys ``REF_energy``, ``REF_forces`` and, for periodic
cells, ``REF_stress`` (Voigt, eV/Å³), and keeps its provenance (``parent_step``,
``centre_id``, ``centre_s_local``, ``committee``) plus ``cell_id``, ``cell_digest`` (a hash
of its structure), ``label_source`` and ``label_calculator``.  A failed cell is tried again up
to ``retries`` times and then recorded with its reason in ``OUTPUT.failed.json``; it is never
dropped silently.

A rerun labels only the cells whose ``cell_id`` is not in the output yet (a torn last frame of
a killed run is cut off first, and said so); a cell whose name is in the output with another
structure is refused before any work.  Two runs on one output take turns (a lock on the output
file).  An interrupted run (Ctrl-C, SIGTERM) kills the calculations still running, keeps every
label finished and writes nothing half-done.
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


def gather_cells(paths: list[str]) -> list[tuple[str, str, object]]:
    """(cell_id, source file, Atoms) of every distinct cell: folders give their
    ``cell_*.extxyz``; the same cell given twice is kept once, and two different cells of one
    name are told apart by their folder's name (``FOLDER/NAME``)."""
    from ..inputs import iter_frames

    cells = []
    for source in _cell_files(paths):
        frames = list(iter_frames(source, "CELLS"))
        for k, atoms in enumerate(frames):
            name = source.stem if len(frames) == 1 else f"{source.stem}:{k}"
            cells.append((name, str(source), atoms))
    return _distinct(cells)


def _cell_files(paths: list[str]) -> list[Path]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(Path(path).glob("cell_*.extxyz"))
            if not found:
                raise InputError(f"CELLS: got {path!r}, a folder without cell_*.extxyz; expected "
                                 "carved cells (lammps-uq carve/extract) or extxyz files")
            files += found
        else:
            files.append(Path(path))
    return files


def _distinct(cells: list) -> list:
    groups: dict[str, dict] = {}
    for cell in cells:
        groups.setdefault(cell[0], {}).setdefault(cell_digest(cell[2]), cell)
    out, seen = [], {}
    for name, by_digest in groups.items():
        for cell_id, source, atoms in by_digest.values():
            if len(by_digest) > 1:
                cell_id = f"{Path(source).parent.name}/{name}"
            if cell_id in seen:
                raise InputError(f"CELLS: got two different cells named {cell_id!r} "
                                 f"({seen[cell_id]} and {source}); expected distinct cells to "
                                 "have distinct names (rename one of the folders)")
            seen[cell_id] = source
            out.append((cell_id, source, atoms))
    return out


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
                      label_calculator=spec)
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


class FailureLog:
    """``OUTPUT.failed.json``: {cell_id: {source, attempts, reason}}, written atomically."""

    def __init__(self, output: Path):
        self.path = output.with_name(output.stem + ".failed.json")
        self.entries = {}
        if self.path.exists():
            try:
                self.entries = json.loads(self.path.read_text())
            except ValueError as exc:
                raise InputError(f"--output: {str(self.path)!r} is not valid JSON ({exc}); "
                                 "expected the failure records of lammps-uq label (delete the "
                                 "file to start them afresh)") from exc
            if not isinstance(self.entries, dict):
                raise InputError(f"--output: {str(self.path)!r} holds no table; expected the "
                                 "failure records of lammps-uq label (delete the file)")

    def record(self, cell_id: str, source: str, attempts: int, reason: str) -> None:
        self.entries[cell_id] = {"source": source, "attempts": attempts, "reason": reason}
        self._save()

    def resolve(self, cell_id: str) -> None:
        if self.entries.pop(cell_id, None) is not None:
            self._save()

    def _save(self) -> None:
        from .carve_io import write_atomic

        text = json.dumps(self.entries, indent=1, sort_keys=True) + "\n"
        write_atomic(self.path, lambda p: Path(p).write_text(text))


def to_label(cells, have: dict, output: Path) -> dict:
    """{cell_id: cell} of the cells not in the output yet; a name labelled there with another
    structure is refused."""
    todo = {}
    for cell in cells:
        cell_id, source, atoms = cell
        if cell_id not in have:
            todo[cell_id] = cell
        elif have[cell_id] not in (None, cell_digest(atoms)):
            raise InputError(f"--output: {str(output)!r} holds a cell {cell_id!r} labelled from "
                             f"another structure than {source}; expected the same cells again "
                             "(a rerun), or a new output file")
    return todo


def label_cells(cells, output: Path, spec: str, config: dict, executor, *, retries: int = 1,
                timeout: float | None = None, progress=None) -> tuple[int, int, int]:
    """Label the cells not in ``output`` yet; returns (labelled, already there, failed)."""
    from .executors import Progress
    from .label_queue import LabelQueue

    with locked(output):
        todo = to_label(cells, labelled_ids(output), output)
        queue = LabelQueue(todo, output, spec, config, executor, retries, timeout,
                           progress or Progress("lammps-uq label"))
        queue.run()
    return queue.labelled, len(cells) - len(todo), queue.failed


def write_all_inputs(cells, output: Path, spec: str, config: dict) -> int:
    """``--inputs-only``: each cell's input files in ``OUTPUT.inputs/CELL_ID/``."""
    from .reference_calcs import write_inputs

    root = Path(f"{output}.inputs")
    for cell_id, _, atoms in cells:
        write_inputs(spec, config, atoms, str(root / folder_name(cell_id)))
    return len(cells)


def folder_name(cell_id: str) -> str:
    """The cell's working folder name (``FOLDER/NAME:K`` ids hold a slash and a colon)."""
    return cell_id.replace("/", "__").replace(":", "_")


def check_output(path: str) -> Path:
    """``--output``: a file (not a folder) in a folder that can be made and written."""
    from ..inputs import output_dir

    output = Path(path)
    if output.is_dir():
        raise InputError(f"--output: got {path!r} (a folder); expected the extxyz file the "
                         "labels are appended to, e.g. DIR/labelled.extxyz")
    output_dir(output.parent if str(output.parent) else ".", "--output")
    return output


def run(args) -> int:
    """``lammps-uq label CELLS -o OUT --calculator SPEC [...]``."""
    import math

    from .executors import running
    from .reference_calcs import check_spec, load_config

    config = load_config(args.calculator_config)
    check_spec(args.calculator, config)
    if args.retries < 0:
        raise InputError(f"--retries: got {args.retries}; expected an integer >= 0")
    if args.timeout is not None and not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise InputError(f"--timeout: got {args.timeout}; expected seconds > 0")
    output = check_output(args.output)
    cells = gather_cells(args.cells)
    if args.inputs_only:
        count = write_all_inputs(cells, output, args.calculator, config)
        print(f"lammps-uq label: inputs of {count} cells in {output}.inputs")
        return 0
    with running(args.workers, args.parsl_config) as executor:
        labelled, skipped, failed = label_cells(cells, output, args.calculator, config, executor,
                                                retries=args.retries, timeout=args.timeout)
    print(f"lammps-uq label: {labelled} cells labelled, {skipped} already there, {failed} failed"
          + (f" (reasons in {FailureLog(output).path})" if failed else ""))
    return 0 if failed == 0 else 1
