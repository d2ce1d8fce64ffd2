"""One reference calculation in a process of its own, so that nothing it does can hurt the rest.

:func:`label_task` (an executor task of ``lammps-uq label``) starts
``python -m lammps_uq.extract.label_process FOLDER`` in a new session, with the cell, the
calculator spec and its config pickled into ``FOLDER/task.pkl``; the child writes
``FOLDER/result.pkl`` (or its error line into ``FOLDER/error.txt``) and exits.  So

- a calculation that kills its process (a segfault, Fortran's ``error stop``, ``os._exit``, the
  OOM killer) fails that cell with the way it died, and the worker goes on with the next;
- ``--timeout`` kills the child's whole process group, native SCF loops and the DFT code's own
  processes included;
- an interrupted ``label`` kills the running children (their pid is in ``FOLDER/label.pid``,
  :func:`kill_running`), since a child in its own session does not see the terminal's Ctrl-C.

The parent checks what comes back (:func:`checked`): a finite energy, finite forces of shape
(atoms, 3) and, for periodic cells, a finite stress of 6 (Voigt) or 3x3 values.  Anything else
fails the cell with the reason; it never becomes a label.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..errors import CalculationFailed


class LabelTimeout(CalculationFailed):
    """A label took longer than ``--timeout``."""


class LabelFailed(CalculationFailed):
    """A label's process failed or returned something that is not a label."""


def label_task(atoms, spec: str, config: dict, timeout: float | None, directory: str) -> dict:
    """Energy, forces (and stress if periodic) of ``atoms``, computed in a child process."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("result.pkl", "error.txt"):
        (folder / name).unlink(missing_ok=True)
    with open(folder / "task.pkl", "wb") as fh:
        pickle.dump({"atoms": atoms, "spec": spec, "config": config,
                     "sys_path": [os.getcwd(), *sys.path]}, fh)
    with open(folder / "label.log", "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "lammps_uq.extract.label_process",
                                  str(folder)], stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    (folder / "label.pid").write_text(f"{child.pid}\n")
    try:
        code = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(child)
        raise LabelTimeout(f"timeout after {timeout:g} s (its process was killed)") from None
    except BaseException:  # Ctrl-C, SIGTERM: the child is in a session of its own
        _kill(child)
        raise
    finally:
        (folder / "label.pid").unlink(missing_ok=True)
    if code != 0:
        raise LabelFailed(_death(folder, code))
    with open(folder / "result.pkl", "rb") as fh:
        result = pickle.load(fh)
    (folder / "task.pkl").unlink(missing_ok=True)
    (folder / "result.pkl").unlink(missing_ok=True)
    from .reference_calcs import wants_stress

    out = checked(result, len(atoms), bool(np.all(atoms.pbc)) and wants_stress(spec, config))
    out["provenance"] = dict(result.get("provenance") or {})
    return out


def reason_of(exc: BaseException) -> str:
    """One line for ``OUTPUT.failed.json``: a child's own error line as it is, else the type."""
    text = str(exc) if isinstance(exc, LabelFailed) else f"{type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0][:500]


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()


def kill_running(directories) -> None:
    """Kill the label processes still running in ``directories`` (their ``label.pid``)."""
    for folder in directories:
        try:
            pid = int((Path(folder) / "label.pid").read_text())
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _death(folder: Path, code: int) -> str:
    """Why the child failed: its own error line, or how it died and its last output."""
    error = folder / "error.txt"
    if error.is_file() and error.read_text().strip():
        return error.read_text().strip()
    if code < 0:
        how = f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() \
            else f"killed by signal {-code}"
    else:
        how = f"exit status {code}"
    lines = (folder / "label.log").read_text(errors="replace").strip().splitlines()
    last = f"; last output: {lines[-1].strip()[:300]}" if lines else ""
    return f"the label process died ({how}){last} (log: {folder / 'label.log'})"


def checked(result: dict, natoms: int, periodic: bool) -> dict:
    """``result`` if it is a label of ``natoms`` atoms (with a stress if ``periodic``);
    LabelFailed saying what is wrong."""
    energy = np.asarray(result.get("energy"), dtype=float)
    forces = np.asarray(result.get("forces"), dtype=float)
    if energy.shape != () or not np.isfinite(energy):
        shown = repr(energy.item()) if energy.size == 1 else f"of shape {energy.shape}"
        raise LabelFailed(f"the calculator returned energy {shown}; expected one finite number")
    if forces.shape != (natoms, 3):
        raise LabelFailed(f"the calculator returned forces of shape {forces.shape}; expected "
                          f"({natoms}, 3)")
    _require_finite(forces, "forces")
    out = {"energy": float(energy), "forces": forces}
    if periodic:
        stress = np.asarray(result.get("stress"), dtype=float)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        if stress.shape != (6,):
            raise LabelFailed(f"the calculator returned a stress of shape {stress.shape}; "
                              "expected 6 (Voigt) or 3x3 values")
        _require_finite(stress, "stress")
        out["stress"] = stress
    return out


def _require_finite(values: np.ndarray, name: str) -> None:
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise LabelFailed(f"the calculator returned {bad} non-finite {name} values (NaN or inf) "
                          f"of {values.size}")


def compute(task: dict, folder: Path) -> dict:
    """The calculation itself (in the child, in the caller's working directory); a code's own
    reason for a failure (CP2K's ``[ABORT]`` text, an unconverged SCF) raises CalculationFailed
    even where ASE returned numbers."""
    from .reference_calcs import code_failure, make_calculator, provenance, wants_stress

    spec, config = task["spec"], task["config"]
    atoms = task["atoms"].copy()
    atoms.calc = make_calculator(spec, config, str(folder))
    try:
        result = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if np.all(atoms.pbc) and wants_stress(spec, config):
            result["stress"] = atoms.get_stress(voigt=True)
    except Exception as exc:
        _close(atoms.calc)
        reason = code_failure(spec, folder)
        if reason:
            raise CalculationFailed(reason) from exc
        raise
    _close(atoms.calc)  # a code's output is complete (flushed) once it has ended
    reason = code_failure(spec, folder)
    if reason:
        raise CalculationFailed(reason)
    result["provenance"] = provenance(spec, config, folder)
    return result


def _close(calc) -> None:
    close = getattr(calc, "close", None)
    if callable(close):
        close()


def main(folder: str) -> int:
    """The child: ``task.pkl`` in, ``result.pkl`` (or ``error.txt``) out."""
    here = Path(folder)
    try:
        with open(here / "task.pkl", "rb") as fh:
            task = pickle.load(fh)
        sys.path[:0] = [p for p in task["sys_path"] if p not in sys.path]
        result = compute(task, here)
        with open(here / "result.tmp", "wb") as fh:
            pickle.dump({k: v if k == "provenance" else np.array(v)
                         for k, v in result.items()}, fh)
        os.replace(here / "result.tmp", here / "result.pkl")
    except Exception as exc:  # noqa: BLE001 - any failure of the calculation is the cell's
        text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
        (here / "error.txt").write_text(text + "\n")
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
