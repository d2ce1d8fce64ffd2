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

import os
from pathlib import Path

from ..errors import InputError
from .contacts import screen
from .label_output import (FailureLog, cell_digest, failures_path, folder_name, labelled_ids,
                           locked)
from .label_queue import LabelQueue
from .settings import ExecutorSettings, LabelSettings


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


def label_cells(cells, output: Path, settings: LabelSettings, config: dict, executor, *,
                progress=None) -> tuple[int, int, int]:
    """Label the cells not in ``output`` yet with ``settings.calculator`` (``config``: its
    calculator config); returns (labelled, already there, failed).  Cells with atoms closer
    than ``settings.min_contact`` x their covalent radii fail at once
    (:mod:`lammps_uq.extract.contacts`)."""
    from .executors import Progress
    from .reference_calcs import check_elements

    spec = settings.calculator
    check_elements(spec, config, {s for _, _, atoms in cells
                                  for s in atoms.get_chemical_symbols()})
    with locked(output):
        todo = to_label(cells, labelled_ids(output), output)
        skipped = len(cells) - len(todo)
        refused = screen(todo, settings.min_contact)
        failures = FailureLog(failures_path(output))
        for cell_id, reason in refused.items():
            failures.record(cell_id, source=todo.pop(cell_id)[1], attempts=0, reason=reason)
        queue = LabelQueue(todo, output, spec, config, executor, settings.retries,
                           settings.timeout,
                           progress or Progress("lammps-uq label"))
        queue.run()
    return queue.labelled, skipped, queue.failed + len(refused)


def write_all_inputs(cells, output: Path, spec: str, config: dict) -> int:
    """``--inputs-only``: each cell's input files in ``OUTPUT.inputs/CELL_ID/``."""
    from .reference_calcs import write_inputs

    root = Path(f"{output}.inputs")
    for cell_id, _, atoms in cells:
        write_inputs(spec, config, atoms, str(root / folder_name(cell_id)))
    return len(cells)


def check_output(path: str) -> Path:
    """``--output``: a file (not a folder) in a folder that can be made and written."""
    from ..inputs import output_dir

    output = Path(path)
    if output.is_dir():
        raise InputError(f"--output: got {path!r} (a folder); expected the extxyz file the "
                         "labels are appended to, e.g. DIR/labelled.extxyz")
    output_dir(output.parent if str(output.parent) else ".", "--output")
    return output


def run(paths: list[str], output: str, settings: LabelSettings,
        where: ExecutorSettings = ExecutorSettings(), *, inputs_only: bool = False) -> int:
    """``lammps-uq label CELLS -o OUTPUT [settings]``: label the cells of ``paths`` into
    ``output`` on the executor of ``where`` (``inputs_only``: write their inputs instead);
    exit status 0, or 1 when a cell failed."""
    from .executors import running
    from .reference_calcs import check_spec, load_config

    config = load_config(settings.calculator_config)
    check_spec(settings.calculator, config, run=not inputs_only)
    output = check_output(output)
    cells = gather_cells(paths)
    if inputs_only:
        count = write_all_inputs(cells, output, settings.calculator, config)
        print(f"lammps-uq label: inputs of {count} cells in {output}.inputs")
        return 0
    with running(where) as executor:
        labelled, skipped, failed = label_cells(cells, output, settings, config, executor)
    print(f"lammps-uq label: {labelled} cells labelled, {skipped} already there, {failed} failed"
          + (f" (reasons in {failures_path(output)})" if failed else ""))
    return 0 if failed == 0 else 1
