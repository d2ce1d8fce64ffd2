"""Carve high-uncertainty regions into small DFT-ready cells (paper Methods B; docs/design.md,
"Carving").

1. Core: the centre atom's molecule and the K-1 nearest molecules by centre-of-molecule
   distance (``molecules=K``; water with K=64 is the paper's recipe), or every molecule
   with an atom within ``radius``.  Molecules are never split.
2. Cell: a cube centred on the centre atom with the parent's number density,
   ``l = (V_parent * n_carved / n_parent)**(1/3)`` (``box`` overrides), or a cluster with
   vacuum for molecular codes.
3. Border relaxation with any ASE calculator (the committee mean in practice): atoms within
   ``fixed_fraction * l/2`` of the centre stay fixed; the box is padded by ``pad`` Å per
   direction; ``bfgs_steps`` BFGS steps; the box shrinks by ``shrink`` Å per direction;
   repeated until the carved length is reached.  A soft wall (``contact_wall``) keeps atoms of
   different molecules from coming closer than the parent's closest contact of their elements,
   which a committee trained on liquid frames alone does not do.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from ..errors import InputError
from .molecules import find_molecules
from .settings import CarveOptions  # the options of a cut, each default written there

__all__ = ["CarveOptions", "carve", "choose_molecules", "relax_border"]


def _vectors_from(atoms, origin, points):
    from ase.geometry import find_mic

    d = np.asarray(points) - origin
    if atoms.pbc.any():
        d, _ = find_mic(d, atoms.cell, atoms.pbc)
    return d


def choose_molecules(atoms, centre: int, options: CarveOptions):
    """(atom indices, positions relative to the centre atom, unit labels, bonds cut).

    Molecules are taken whole; atoms of extended networks (solids) one by one within
    ``radius``, with label -1 and the number of their bonds the cut broke.
    """
    mols = find_molecules(atoms)
    origin = atoms.positions[centre]
    centres = mols.centres()
    to_centre = _vectors_from(atoms, origin, centres)
    own = mols.labels[centre]
    distance = np.linalg.norm(_vectors_from(atoms, origin, atoms.positions), axis=1)
    whole = _whole_in_region(atoms, mols, distance)
    if options.molecules is not None:
        order = _nearest_molecules(mols, own, to_centre, options.molecules, whole)
        loose = np.zeros(0, dtype=int)
    else:  # CarveOptions holds molecules or radius, never neither
        region = atoms.info.get("region")
        if region is not None and options.radius > float(region):
            raise InputError(f"carve --radius: got {options.radius}; the region frame holds "
                             f"only the atoms within region {region} Å of the centre")
        near = distance <= options.radius
        wanted = set(mols.labels[near]) | {own}
        order = [m for m in [own] + sorted(wanted - {own}) if not mols.extended[m]]
        _require_whole(order, whole, region, f"--radius {options.radius}")
        loose = np.nonzero(near & mols.extended[mols.labels])[0]
    indices, relative, units = [], [], []
    for m in order:
        members = mols.members(m)
        indices.extend(members)
        relative.extend(mols.whole[members] + to_centre[m] - centres[m])
        units.extend([m] * len(members))
    indices = np.array(indices + list(loose), dtype=int)
    relative = np.array(relative + list(_vectors_from(atoms, origin, atoms.positions[loose])))
    relative = relative.reshape(-1, 3) - relative[list(indices).index(centre)]
    units = np.array(units + [-1] * len(loose), dtype=int)
    return indices, relative, units, _cut_bonds(atoms, mols, loose)


def _nearest_molecules(mols, own, to_centre, count: int, whole) -> list[int]:
    if mols.extended[own]:
        raise InputError("carve --molecules: the centre atom belongs to an extended network "
                         "(a solid, not a molecule); expected --radius R for it")
    finite = np.nonzero(~mols.extended & whole)[0]
    if count > len(finite):
        raise InputError(f"carve --molecules: got {count}; the frame holds only {len(finite)} "
                         "molecules" + ("" if whole.all() else " known to be whole (raise fix uq "
                                        "region or lower K)"))
    order = finite[np.argsort(np.linalg.norm(to_centre[finite], axis=1), kind="stable")]
    return [own] + [int(m) for m in order if m != own][: count - 1]


def _whole_in_region(atoms, mols, distance) -> np.ndarray:
    """Per molecule: surely whole in a region frame (``info['region']``, all True otherwise).

    A region frame holds the atoms within ``region`` of the centre, so molecules at its rim may
    be cut.  A molecule is surely whole when each atom lies deeper than the longest bond it
    could have to an atom left outside: 1.25 (r_cov(Z) + the largest r_cov in the frame).
    """
    from ase.data import covalent_radii

    whole = np.ones(mols.count, dtype=bool)
    if "region" not in atoms.info or not len(atoms):
        return whole
    radii = covalent_radii[atoms.numbers]
    deep = distance <= float(atoms.info["region"]) - 1.25 * (radii + radii.max())
    whole[mols.labels[~deep]] = False
    return whole | mols.extended


def _require_whole(order, whole, region, what: str) -> None:
    cut = [m for m in order if not whole[m]]
    if cut:
        raise InputError(f"carve {what}: {len(cut)} molecule(s) it needs reach the rim of the "
                         f"region frame (region {region}) and may be cut; raise fix uq region or "
                         "carve fewer")


def _cut_bonds(atoms, mols, loose) -> int:
    """Bonds of extended networks with exactly one end among the ``loose`` atoms taken."""
    taken = np.zeros(len(atoms), dtype=bool)
    taken[loose] = True
    i, j = mols.bonds
    return int(np.sum(taken[i] != taken[j])) // 2


def carve(atoms, centre: int, options: CarveOptions, *, parent_volume: float,
          parent_natoms: int):
    """The carved cell (ASE Atoms) around atom index ``centre`` of ``atoms``."""
    from ase import Atoms

    indices, relative, units, cut = choose_molecules(atoms, centre, options)
    length = options.box or (parent_volume * len(indices) / parent_natoms) ** (1.0 / 3.0)
    if options.cluster:
        length = 2 * (np.abs(relative).max() + options.vacuum)
    cell = Atoms(numbers=atoms.numbers[indices], positions=relative + length / 2,
                 cell=[length] * 3, pbc=not options.cluster)
    cell.arrays["parent_index"] = indices.astype(np.int64)
    if "id" in atoms.arrays:
        cell.arrays["parent_id"] = np.asarray(atoms.arrays["id"])[indices]
    core = np.linalg.norm(relative, axis=1) < options.fixed_fraction * length / 2
    cell.arrays["molecule"] = units
    cell.arrays["core"] = core
    cell.arrays["fixed"] = core.copy()
    cell.info.update({"carve_" + f.name: getattr(options, f.name) for f in fields(CarveOptions)
                      if getattr(options, f.name) is not None})
    cell.info["carve_length"] = length
    cell.info["carve_cut_bonds"] = cut
    cell.info["carve_centre_index"] = int(np.nonzero(indices == centre)[0][0])
    return cell


def relax_border(cell, calculator, options: CarveOptions, log=None) -> None:
    """The paper's border relaxation, in place; the core (``fixed``) never moves."""
    from ase.constraints import FixAtoms
    from ase.optimize import BFGS

    length = float(cell.cell[0, 0])
    cell.set_constraint(FixAtoms(mask=cell.arrays["fixed"]))
    cell.calc = _with_wall(cell, calculator, options)
    steps = int(round(options.pad / options.shrink))
    for k in range(steps, -1, -1):
        target = length + k * options.shrink
        shift = (target - float(cell.cell[0, 0])) / 2
        cell.set_cell([target] * 3, scale_atoms=False)
        cell.positions = cell.positions + shift  # keep the centre in the middle
        BFGS(cell, logfile=log).run(fmax=1e-4, steps=options.bfgs_steps)
    cell.set_constraint()
    cell.calc = None


def _with_wall(cell, calculator, options: CarveOptions):
    """The calculator plus the contact wall, its distances from the unrelaxed (parent) geometry."""
    from ase.calculators.mixing import SumCalculator

    from .contact_wall import ContactWall, contact_table

    if options.contact <= 0:
        return calculator
    units = cell.arrays["molecule"]
    table = contact_table(cell.numbers, cell.positions, units, options.contact)
    return SumCalculator([calculator, ContactWall(table, units, options.contact_k)])
