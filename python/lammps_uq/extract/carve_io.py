"""Reading region frames and writing carved cells: atomic, idempotent, fault tolerant."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import numpy as np

from .carve import CarveOptions, carve, relax_border
from .settings import FORMATS, CarveSettings, check_format
from ..errors import InputError
from ..inputs import iter_frames


def frame_centre(atoms, centre_index: int | None) -> int:
    """Index of the centre atom: from the region frame's ``centre_id`` or given."""
    if centre_index is not None:
        if not 0 <= centre_index < len(atoms):
            raise InputError(f"carve --centre-index: got {centre_index}; the frame has "
                             f"{len(atoms)} atoms")
        return centre_index
    if "centre_id" not in atoms.info or "id" not in atoms.arrays:
        raise InputError("carve: the frame has no centre information (info centre_id and array "
                         "id, as fix uq writes them); give --centre-index")
    where = np.nonzero(np.asarray(atoms.arrays["id"]) == int(atoms.info["centre_id"]))[0]
    if len(where) != 1:
        raise InputError(f"carve: centre_id {atoms.info['centre_id']} is not in the frame")
    return int(where[0])


def parent_density(atoms) -> tuple[float, int]:
    """(parent volume Å³, parent atoms) from a region frame's info, else from the frame."""
    if "parent_cell" in atoms.info and "parent_natoms" in atoms.info:
        cell = np.asarray(atoms.info["parent_cell"], dtype=float).reshape(3, 3)
        return abs(float(np.linalg.det(cell))), int(atoms.info["parent_natoms"])
    if not atoms.pbc.all():
        raise InputError("carve: no parent cell (info parent_cell) and the frame is not periodic")
    return float(atoms.get_volume()), len(atoms)


def as_parent(atoms):
    """A region frame becomes periodic in its parent cell, so distances use the minimum image."""
    if "parent_cell" in atoms.info:
        atoms = atoms.copy()
        atoms.set_cell(np.asarray(atoms.info["parent_cell"], dtype=float).reshape(3, 3))
        atoms.pbc = np.asarray(atoms.info.get("parent_pbc", [True] * 3), dtype=bool)
    return atoms


def write_atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename.

    The temporary file is made with mode 0666 less the umask, like any file the user writes
    (``tempfile.mkstemp`` would make it 0600, and the rename would keep that).
    """
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cell_name(atoms, index: int) -> str:
    """``cell_STEP_CENTRE_INDEX``: the parent step, the centre id and the frame's index."""
    return f"cell_{atoms.info.get('step', 'x')}_{atoms.info.get('centre_id', index)}_{index:05d}"


def carve_file(frames_path: str, out: Path, options: CarveOptions,
               **kwargs) -> tuple[int, int, int]:
    """Carve every frame of an extxyz file; returns (written, already there, failed)."""
    return carve_frames(iter_frames(frames_path, "REGIONS"), out, options, **kwargs)


def carve_frames(frames, out: Path, options: CarveOptions, *, calculator=None,
                 fmt: str | None = None, centre_index: int | None = None,
                 provenance: dict | None = None, first: int = 0,
                 failures: dict | None = None) -> tuple[int, int, int]:
    """Carve frames into ``out``; a bad frame is reported and skipped, the others go on.

    ``first`` is the index in its file of the first frame (the cell's name carries it);
    ``failures`` gets {index: reason} of the frames skipped (the caller reports them),
    else each is reported on stderr.
    """
    import ase.io

    check_format(fmt)
    out.mkdir(parents=True, exist_ok=True)
    written = skipped = failed = 0
    for k, atoms in enumerate(frames, start=first):
        name = cell_name(atoms, k)
        target = out / f"{name}.extxyz"
        if target.exists():
            skipped += 1
            continue
        committee = getattr(calculator, "committee", None)
        if committee is not None:  # a committee that cannot relax these elements is a setup error
            committee.check_elements(atoms.numbers, f"frame {k}")
        try:
            cell = carve_one(atoms, options, calculator, centre_index, provenance or {})
        except InputError as exc:
            if failures is None:
                print(f"lammps-uq carve: frame {k} skipped: {exc}", file=sys.stderr)
            else:
                failures[k] = str(exc)
            failed += 1
            continue
        if cell.info["carve_cut_bonds"]:
            print(f"lammps-uq carve: {name}: {cell.info['carve_cut_bonds']} bonds of an extended "
                  "network cut at the cell border", file=sys.stderr)
        if fmt is not None:
            write_dft_input(cell, out / name, fmt)
        write_atomic(target, lambda p: ase.io.write(p, cell, format="extxyz"))
        written += 1
    return written, skipped, failed


def carve_one(atoms, options, calculator, centre_index, provenance):
    centre = frame_centre(atoms, centre_index)
    volume, natoms = parent_density(atoms)
    cell = carve(as_parent(atoms), centre, options, parent_volume=volume, parent_natoms=natoms)
    for key in ("step", "centre_id", "centre_s_local"):
        if key in atoms.info:
            cell.info[f"parent_{key}" if key == "step" else key] = atoms.info[key]
    cell.info.update(provenance)
    if calculator is not None:
        relax_border(cell, calculator, options)
    cell.info["relaxed"] = calculator is not None
    return cell


def write_dft_input(cell, folder: Path, fmt: str) -> None:
    """DFT input of one cell (Quantum ESPRESSO gets placeholder SYMBOL.UPF pseudopotentials)."""
    import ase.io

    folder.mkdir(exist_ok=True)
    name, ase_format = FORMATS[fmt]
    extra = {}
    if fmt == "espresso":
        extra["pseudopotentials"] = {s: f"{s}.UPF" for s in set(cell.get_chemical_symbols())}
    write_atomic(folder / name, lambda p: ase.io.write(p, cell, format=ase_format, **extra))


def relaxer(settings: CarveSettings) -> tuple[object, dict]:
    """(relaxing calculator or None, provenance) of ``settings``: the mean of the committee
    files (fix uq carve puts its own MACE committee's there); ``relax`` False gives none."""
    from ..committee.calculator import CommitteeCalculator

    if not settings.relax:
        return None, {}
    if not settings.committee:
        raise InputError("carve: the border relaxation needs a MACE committee (--committee FILES, "
                         "or the mace evaluator of fix uq); or give --no-relax")
    calculator = CommitteeCalculator(list(settings.committee), label="carve --committee",
                                     dtype=settings.dtype)
    return calculator, {"committee": " ".join(calculator.parameters["model_paths"])}
