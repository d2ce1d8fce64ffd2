"""``lammps-uq label``: reference energies, forces and stresses of carved cells.

Each cell is one task on an executor (:mod:`lammps_uq.extract.executors`).  A labelled cell is
appended to the output as one extxyz frame (one write, flush, fsync) with MACE's training keys
``REF_energy``, ``REF_forces`` and, for periodic cells, ``REF_stress`` (Voigt, eV/Å³), and
keeps its provenance (``parent_step``, ``centre_id``, ``centre_s_local``, ``committee``) plus
``cell_id``, ``label_source`` and ``label_calculator``.  A failed cell (SCF not converged, a
crash, a timeout) is tried again up to ``retries`` times and then recorded with its reason in
``OUTPUT.failed.json``; it is never dropped silently.  A rerun labels only the cells whose
``cell_id`` is not in the output yet (a torn last frame of a killed run is cut off first).
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from ..errors import InputError


class LabelTimeout(Exception):
    """A label took longer than ``--timeout``."""


def gather_cells(paths: list[str]) -> list[tuple[str, str, object]]:
    """(cell_id, source file, Atoms) of every frame: folders give their ``cell_*.extxyz``."""
    from ..inputs import iter_frames

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
    cells = []
    for source in files:
        frames = list(iter_frames(source, "CELLS"))
        for k, atoms in enumerate(frames):
            name = source.stem if len(frames) == 1 else f"{source.stem}:{k}"
            cells.append((name, str(source), atoms))
    return cells


def _alarm(seconds: float | None):
    """Raise LabelTimeout after ``seconds`` (main thread only; elsewhere no limit here)."""
    import signal

    if not seconds or threading.current_thread() is not threading.main_thread():
        return None

    def ring(signum, frame):
        raise LabelTimeout(f"timeout after {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return old


def label_task(atoms, spec: str, config: dict, timeout: float | None, directory: str) -> dict:
    """One reference calculation (a worker's task): energy, forces and stress if periodic."""
    import signal

    from .reference_calcs import make_calculator

    atoms = atoms.copy()
    atoms.calc = make_calculator(spec, config, directory)
    old = _alarm(timeout)
    try:
        result = {"energy": float(atoms.get_potential_energy()),
                  "forces": atoms.get_forces().copy()}
        if atoms.pbc.all():
            result["stress"] = atoms.get_stress(voigt=True).copy()
    finally:
        if old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    return result


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
    frame.info.update(cell_id=cell_id, label_source=source, label_calculator=spec)
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


def labelled_ids(path: Path) -> set[str]:
    """``cell_id`` of every whole frame of an existing output (a torn tail is cut off)."""
    from .follow import FrameFollower, cut_torn_tail

    if not path.exists():
        return set()
    cut_torn_tail(path)
    return {str(atoms.info.get("cell_id")) for _, atoms in FrameFollower(path, "--output")
            .new_frames()}


class FailureLog:
    """``OUTPUT.failed.json``: {cell_id: {source, attempts, reason}}, written atomically."""

    def __init__(self, output: Path):
        self.path = output.with_name(output.stem + ".failed.json")
        self.entries = json.loads(self.path.read_text()) if self.path.exists() else {}

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


def label_cells(cells, output: Path, spec: str, config: dict, executor, *, retries: int = 1,
                timeout: float | None = None, progress=None) -> tuple[int, int, int]:
    """Label the cells not in ``output`` yet; returns (labelled, already there, failed)."""
    from .executors import Progress

    progress = progress or Progress("lammps-uq label")
    have = labelled_ids(output)
    todo = {c[0]: c for c in cells if c[0] not in have}
    failures, attempts, futures = FailureLog(output), {}, {}
    workdir = Path(f"{output}.work").resolve()

    def submit(cell_id):
        attempts[cell_id] = attempts.get(cell_id, 0) + 1
        _, source, atoms = todo[cell_id]
        futures[executor.submit(label_task, atoms, spec, config, timeout,
                                str(workdir / cell_id))] = cell_id

    for cell_id in todo:
        submit(cell_id)
    labelled = failed = 0
    while futures:
        finished, _ = wait(list(futures), timeout=progress.every, return_when=FIRST_COMPLETED)
        for future in [f for f in futures if f in finished]:  # in submission order
            cell_id = futures.pop(future)
            _, source, atoms = todo[cell_id]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - any failure of one cell is recorded
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                if attempts[cell_id] <= retries:
                    submit(cell_id)
                    continue
                failures.record(cell_id, source, attempts[cell_id], reason)
                failed += 1
                progress.failed += 1
                continue
            append_frame(output, labelled_frame(atoms, result, cell_id, source, spec))
            failures.resolve(cell_id)
            labelled += 1
            progress.done += 1
        progress.update(futures)
        progress.show()
    progress.show(force=True)
    return labelled, len(cells) - len(todo), failed


def write_all_inputs(cells, output: Path, spec: str, config: dict) -> int:
    """``--inputs-only``: each cell's input files in ``OUTPUT.inputs/CELL_ID/``."""
    from .reference_calcs import write_inputs

    root = Path(f"{output}.inputs")
    for cell_id, _, atoms in cells:
        write_inputs(spec, config, atoms, str(root / cell_id.replace(":", "_")))
    return len(cells)


def run(args) -> int:
    """``lammps-uq label CELLS -o OUT --calculator SPEC [...]``."""
    from .executors import running
    from ..inputs import output_dir
    from .reference_calcs import check_spec, load_config

    config = load_config(args.calculator_config)
    check_spec(args.calculator, config)
    if args.retries < 0:
        raise InputError(f"--retries: got {args.retries}; expected an integer >= 0")
    if args.timeout is not None and not args.timeout > 0:
        raise InputError(f"--timeout: got {args.timeout}; expected seconds > 0")
    output = Path(args.output)
    output_dir(output.parent if str(output.parent) else ".", "--output")
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
