"""Region snapshots of ``fix uq`` (docs/design.md, "Selection and output"): one extxyz frame
per centre.

Arrays: ``numbers``, ``positions`` (unwrapped around the centre, Å), ``id`` (LAMMPS atom
ids), ``s_atom``, ``s_local`` (eV/Å), ``forces_mean`` (committee mean, eV/Å).  Info:
``step``, ``centre_id``, ``centre_s_local``, ``alpha``, ``n_models``, ``rcut``, ``region``,
``parent_cell`` (9 floats, rows a, b, c), ``parent_pbc``, ``parent_natoms``, ``units``.

Each frame is formatted in memory and written with one ``write`` followed by a flush and
``fsync``, so a run killed at any moment leaves whole frames that ``ase.io.read`` reads; a
write that fails or is interrupted (Ctrl-C) is cut back to the frames before it.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

COLUMNS = 10  # id, type, x, y, z, s_atom, s_local, fx, fy, fz


def frame_atoms(table: np.ndarray, numbers_of_type: np.ndarray, info: dict):
    """ASE Atoms of one region from the fix's rows, sorted by atom id."""
    from ase import Atoms

    table = table[np.argsort(table[:, 0], kind="stable")]
    atoms = Atoms(numbers=numbers_of_type[table[:, 1].astype(int)], positions=table[:, 2:5],
                  pbc=False)
    atoms.arrays["id"] = table[:, 0].astype(np.int64)
    atoms.arrays["s_atom"] = table[:, 5].copy()
    atoms.arrays["s_local"] = table[:, 6].copy()
    atoms.arrays["forces_mean"] = table[:, 7:10].copy()
    atoms.info.update(info)
    atoms.info["parent_cell"] = np.asarray(info["parent_cell"], dtype=float)
    atoms.info["parent_pbc"] = np.asarray(info["parent_pbc"], dtype=bool)
    return atoms


def append_frame(path: str, atoms, start: bool) -> int:
    """Append one frame (start a new file if ``start``); returns the file size after it."""
    import ase.io

    buffer = io.StringIO()
    ase.io.write(buffer, atoms, format="extxyz")
    with open(path, "w" if start else "a", encoding="utf-8") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()


def write_region(path: str, table_view, nrows: int, info_json: str, numbers_of_type,
                 size: int, carver=None) -> int:
    """Called by fix uq on rank 0 for every region; returns the new file size.

    With ``carver`` (``fix uq ... carve DIR``) the frame is also carved at once.
    """
    table = np.frombuffer(table_view, dtype=np.float64).reshape(nrows, COLUMNS)
    atoms = frame_atoms(table, np.asarray(numbers_of_type), json.loads(info_json))
    try:
        size = append_frame(path, atoms, start=size < 0)
    except BaseException:  # Ctrl-C or a full disk mid-frame: keep whole frames only
        if size >= 0 and os.path.isfile(path) and os.path.getsize(path) > size:
            os.truncate(path, size)
        raise
    if carver is not None:
        carver(atoms)
    return size
