"""Carve high-uncertainty regions into small DFT-ready cells (paper Methods B, DESIGN.md §6).

1. Core: the centre atom's molecule and the K-1 nearest molecules by centre-of-molecule
   distance (``molecules=K``; water with K=64 is the paper's recipe), or every molecule
   with an atom within ``radius``.  Molecules are never split.
2. Cell: a cube centred on the centre atom with the parent's number density,
   ``l = (V_parent * n_carved / n_parent)**(1/3)`` (``box`` overrides), or a cluster with
   vacuum for molecular codes.
3. Border relaxation with any ASE calculator (the committee mean in practice): atoms within
   ``fixed_fraction * l/2`` of the centre stay fixed; the box is padded by ``pad`` Å per
   direction; ``bfgs_steps`` BFGS steps; the box shrinks by ``shrink`` Å per direction;
   repeated until the carved length is reached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import InputError
from .molecules import find_molecules


@dataclass
class CarveOptions:
    molecules: int | None = None  # K molecules (centre's own included)
    radius: float | None = None   # Å: whole molecules with an atom within radius
    box: float | None = None      # Å: cubic length instead of the parent's density
    cluster: bool = False         # non-periodic cluster with vacuum
    vacuum: float = 6.0           # Å around a cluster
    fixed_fraction: float = 0.8   # core radius as a fraction of l/2
    pad: float = 2.0              # Å added per direction before relaxing
    shrink: float = 0.2           # Å per direction per cycle
    bfgs_steps: int = 5           # BFGS steps per cycle


def _vectors_from(atoms, origin, points):
    from ase.geometry import find_mic

    d = np.asarray(points) - origin
    if atoms.pbc.any():
        d, _ = find_mic(d, atoms.cell, atoms.pbc)
    return d


def choose_molecules(atoms, centre: int, options: CarveOptions):
    """(atom indices, their positions relative to the centre atom), whole molecules."""
    mols = find_molecules(atoms)
    origin = atoms.positions[centre]
    centres = mols.centres()
    to_centre = _vectors_from(atoms, origin, centres)
    own = mols.labels[centre]
    if options.molecules is not None:
        if options.molecules > mols.count:
            raise InputError(f"carve --molecules: got {options.molecules}; the frame holds "
                             f"only {mols.count} molecules")
        order = np.argsort(np.linalg.norm(to_centre, axis=1), kind="stable")
        order = [own] + [m for m in order if m != own][: options.molecules - 1]
    elif options.radius is not None:
        near = np.linalg.norm(_vectors_from(atoms, origin, atoms.positions), axis=1) <= options.radius
        order = [own] + sorted(set(mols.labels[near]) - {own})
    else:
        raise InputError("carve: give molecules K or radius R")
    indices, relative = [], []
    for m in order:
        members = mols.members(m)
        indices.extend(members)
        relative.extend(mols.whole[members] + to_centre[m] - centres[m])
    relative = np.array(relative)
    relative -= relative[indices.index(centre)]
    return np.array(indices), relative


def carve(atoms, centre: int, options: CarveOptions, *, parent_volume: float,
          parent_natoms: int):
    """The carved cell (ASE Atoms) around atom index ``centre`` of ``atoms``."""
    from ase import Atoms

    indices, relative = choose_molecules(atoms, centre, options)
    length = options.box or (parent_volume * len(indices) / parent_natoms) ** (1.0 / 3.0)
    if options.cluster:
        length = 2 * (np.abs(relative).max() + options.vacuum)
    cell = Atoms(numbers=atoms.numbers[indices], positions=relative + length / 2,
                 cell=[length] * 3, pbc=not options.cluster)
    cell.arrays["parent_index"] = indices.astype(np.int64)
    if "id" in atoms.arrays:
        cell.arrays["parent_id"] = np.asarray(atoms.arrays["id"])[indices]
    core = np.linalg.norm(relative, axis=1) < options.fixed_fraction * length / 2
    cell.arrays["core"] = core
    cell.arrays["fixed"] = core.copy()
    cell.info.update({"carve_" + k: v for k, v in asdict(options).items() if v is not None})
    cell.info["carve_length"] = length
    cell.info["carve_centre_index"] = int(np.nonzero(indices == centre)[0][0])
    return cell


def relax_border(cell, calculator, options: CarveOptions, log=None) -> None:
    """The paper's border relaxation, in place; the core (``fixed``) never moves."""
    from ase.constraints import FixAtoms
    from ase.optimize import BFGS

    length = float(cell.cell[0, 0])
    cell.set_constraint(FixAtoms(mask=cell.arrays["fixed"]))
    cell.calc = calculator
    steps = int(round(options.pad / options.shrink))
    for k in range(steps, -1, -1):
        target = length + k * options.shrink
        shift = (target - float(cell.cell[0, 0])) / 2
        cell.set_cell([target] * 3, scale_atoms=False)
        cell.positions = cell.positions + shift  # keep the centre in the middle
        BFGS(cell, logfile=log).run(fmax=1e-4, steps=options.bfgs_steps)
    cell.set_constraint()
    cell.calc = None
