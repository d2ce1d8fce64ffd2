"""Carving extended solids (atoms by radius, the cut reported) and the contact wall."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from lammps_uq.extract.carve import CarveOptions, carve, relax_border
from lammps_uq.extract.contact_wall import ContactWall, contact_table
from lammps_uq.errors import InputError
from lammps_uq.extract.molecules import find_molecules

BOND = 1.25 * 2 * 1.32  # Å: the bond graph's Cu-Cu cutoff (ASE covalent radius 1.32 Å)


def copper(seed: int = 3):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    atoms.positions += np.random.default_rng(seed).normal(0, 0.05, atoms.positions.shape)
    return atoms


def carved(atoms, centre, **kw):
    return carve(atoms, centre, CarveOptions(**kw), parent_volume=atoms.get_volume(),
                 parent_natoms=len(atoms))


def test_a_periodic_crystal_is_one_extended_network():
    mols = find_molecules(copper())
    assert mols.count == 1 and mols.extended.tolist() == [True]


def test_radius_cuts_a_solid_atom_by_atom_and_reports_the_cut():
    atoms, centre = copper(), 5
    cell = carved(atoms, centre, radius=5.5)
    i, j, d = neighbor_list("ijd", atoms, 5.5)
    inside = {centre} | set(j[(i == centre)])
    assert set(cell.arrays["parent_index"].tolist()) == inside
    assert len(cell) == len(inside)
    assert (cell.arrays["molecule"] == -1).all()
    i, j = neighbor_list("ij", atoms, BOND)
    taken = np.zeros(len(atoms), dtype=bool)
    taken[list(inside)] = True
    cut = int(np.sum(taken[i] != taken[j])) // 2
    assert cut > 0 and cell.info["carve_cut_bonds"] == cut
    middle = cell.positions[cell.info["carve_centre_index"]]
    np.testing.assert_allclose(middle, np.diag(cell.cell.array) / 2, atol=1e-12)


def test_molecules_refuses_a_solid_centre():
    with pytest.raises(InputError, match="extended network.*--radius R"):
        carved(copper(), 0, molecules=4)


def pushed_pair():
    """Two water molecules, their oxygens 2.8 Å apart in the 'parent' geometry."""
    from ase import Atoms

    water = np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    positions = np.vstack([water, water + [0, 0, 2.8]])
    return Atoms("OH2OH2", positions=positions, cell=[6, 6, 6], pbc=True), [0, 0, 0, 1, 1, 1]


def test_contact_table_is_the_closest_parent_contact():
    atoms, units = pushed_pair()
    table = contact_table(atoms.numbers, atoms.positions, np.array(units), 0.9)
    assert table[(8, 8)] == pytest.approx(0.9 * 2.8)
    hh = np.linalg.norm(atoms.positions[[1, 2]][:, None] - atoms.positions[[4, 5]][None], axis=2)
    assert table[(1, 1)] == pytest.approx(0.9 * hh.min())
    assert (1, 8) in table and len(table) == 3


def test_wall_forces_are_the_gradient_of_its_energy():
    from ase.calculators.fd import calculate_numerical_forces

    atoms, units = pushed_pair()
    table = contact_table(atoms.numbers, atoms.positions, np.array(units), 1.0)
    atoms.calc = ContactWall(table, units, k=20.0)
    assert atoms.get_potential_energy() == 0.0  # the parent's own contacts cost nothing
    assert np.abs(atoms.get_forces()).max() == 0.0
    atoms.positions[3:] += [0.1, -0.2, -0.9]  # push molecule 2 into molecule 1
    energy = atoms.get_potential_energy()
    assert energy > 0.1
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-6), atol=1e-6)
    np.testing.assert_allclose(atoms.get_forces().sum(axis=0), 0.0, atol=1e-12)
    intra = atoms.copy()  # bonds inside a molecule are never walled
    intra.calc = ContactWall(table, [0] * 6, k=20.0)
    assert intra.get_potential_energy() == 0.0


def test_wall_alone_separates_overlaps_across_the_new_boundary():
    """With no other force, the relaxation ends with no O-O contact below the parent's."""
    from ase.calculators.calculator import Calculator
    from ase.geometry import get_distances

    class Nothing(Calculator):
        implemented_properties = ["energy", "free_energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "free_energy": 0.0, "forces": np.zeros((len(atoms), 3))}

    from lammps_uq import testing

    water = testing.water_box(96, seed=4)
    options = CarveOptions(molecules=32)
    cell = carve(water, 0, options, parent_volume=water.get_volume(), parent_natoms=len(water))
    oxygens = water.positions[water.numbers == 8]
    _, d = get_distances(oxygens, cell=water.cell, pbc=True)
    parent_min = d[np.triu_indices(len(oxygens), 1)].min()

    def closest(c):
        _, d = get_distances(c.positions[c.numbers == 8], cell=c.cell, pbc=True)
        return d[np.triu_indices(len(d), 1)].min()

    assert closest(cell) < 0.9 * parent_min  # the carve made an overlap
    relax_border(cell, Nothing(), CarveOptions(molecules=32, bfgs_steps=20))
    assert closest(cell) >= 0.97 * parent_min
