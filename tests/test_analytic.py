"""Tests of the analytic Lennard-Jones committee (lammps_uq.committee.evaluators.analytic)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones

from lammps_uq.errors import InputError
from lammps_uq.committee.evaluators import Evaluator, NoExchange
from lammps_uq.committee.evaluators.analytic import PairCommittee, lj_committee


def _rattled_fcc(symbols, a, repeat, seed, stdev=0.05):
    """Periodic FCC box with random displacements and a random species per site."""
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    atoms.numbers = Atoms(list(rng.choice(symbols, len(atoms)))).numbers
    atoms.positions += rng.normal(scale=stdev, size=atoms.positions.shape)
    return atoms


def _triclinic_box(seed):
    """Small periodic triclinic Cu/Ni box with random positions kept apart."""
    cell = np.array([[7.4, 0.0, 0.0], [1.9, 7.0, 0.0], [-1.2, 1.5, 7.8]])
    atoms = _rattled_fcc(["Cu", "Ni"], 3.6, (2, 2, 2), seed)
    atoms.set_cell(cell, scale_atoms=True)
    atoms.wrap()
    return atoms


def _with_ghosts(atoms, cutoff):
    """Explicit ghost images of a periodic box: positions, numbers and owners.

    Returns the ``N`` atoms first, then every periodic image (nonzero shift) lying
    within ``cutoff`` of some atom of the box, as ``(positions (nall, 3),
    numbers (nall,), owner (nall,))``.
    """
    cell = atoms.cell.array
    spacing = atoms.cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = np.ceil(cutoff / spacing).astype(int) + 1
    shifts = np.array([s for s in itertools.product(*(range(-k, k + 1) for k in reach)) if any(s)])
    images = atoms.positions[None, :, :] + (shifts @ cell)[:, None, :]  # (nshift, N, 3)
    images = images.reshape(-1, 3)
    owner = np.tile(np.arange(len(atoms)), len(shifts))
    distance = np.linalg.norm(images[:, None, :] - atoms.positions[None, :, :], axis=-1)
    near = distance.min(axis=1) < cutoff
    positions = np.concatenate([atoms.positions, images[near]])
    owner = np.concatenate([np.arange(len(atoms)), owner[near]])
    return positions, atoms.numbers[owner], owner


def test_is_an_evaluator_with_documented_attributes():
    committee = lj_committee(["Cu", "Ni"], n_models=3, cutoff=4.5)
    assert isinstance(committee, Evaluator)
    assert committee.n_models == 3
    assert committee.ghost_cutoff == 4.5
    assert committee.numbers.tolist() == [29, 28]
    for params in (committee.epsilon, committee.sigma):
        assert params.shape == (3, 2, 2)
        np.testing.assert_array_equal(params, np.swapaxes(params, 1, 2))


@pytest.mark.parametrize("member", [0, 1, 2])
@pytest.mark.parametrize("repeat", [3, 2])  # 2: box shorter than 2 * cutoff, self-images
def test_each_member_matches_ase_lennard_jones(member, repeat):
    committee = PairCommittee(elements=["Cu"], n_models=3, cutoff=5.0, seed=3)
    atoms = _rattled_fcc(["Cu"], 3.61, (repeat,) * 3, seed=member, stdev=0.1)
    forces, energies = committee.committee_forces(atoms)
    assert forces.shape == (3, len(atoms), 3) and energies.shape == (3,)

    reference = atoms.copy()
    reference.calc = LennardJones(
        sigma=committee.sigma[member, 0, 0],
        epsilon=committee.epsilon[member, 0, 0],
        rc=5.0,
        smooth=False,
    )
    expected = reference.get_forces()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(forces[member], expected, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(energies[member], reference.get_potential_energy(), rtol=1e-10)


def test_forces_are_negative_energy_gradient_for_two_species():
    committee = PairCommittee(elements=["Cu", "Ni"], n_models=4, cutoff=5.0, seed=1)
    atoms = _rattled_fcc(["Cu", "Ni"], 3.55, (2, 2, 2), seed=7, stdev=0.08)
    forces, _ = committee.committee_forces(atoms)
    h = 1e-5
    for atom, axis in [(0, 0), (5, 1), (17, 2), (30, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        gradient = (committee.committee_forces(plus)[1] - committee.committee_forces(minus)[1]) / (
            2 * h
        )
        np.testing.assert_allclose(
            forces[:, atom, axis], -gradient, rtol=0, atol=1e-6 * np.abs(forces).max()
        )


def test_evaluate_forces_are_negative_local_energy_gradient():
    committee = lj_committee(["Cu", "Ni"], seed=2)
    atoms = _rattled_fcc(["Cu", "Ni"], 3.55, (2, 2, 2), seed=4, stdev=0.08)
    nlocal = 20  # the remaining atoms play ghosts: their own energies are not counted
    args = dict(image_of=np.full(len(atoms), -1), exchange=NoExchange())
    forces, _ = committee.evaluate(atoms.positions, atoms.numbers, nlocal, **args)
    h = 1e-5
    for atom, axis in [(3, 0), (25, 2)]:
        shifted = []
        for sign in (1, -1):
            positions = atoms.positions.copy()
            positions[atom, axis] += sign * h
            shifted.append(committee.evaluate(positions, atoms.numbers, nlocal, **args)[1])
        gradient = (shifted[0] - shifted[1]) / (2 * h)
        np.testing.assert_allclose(
            forces[:, atom, axis], -gradient, rtol=0, atol=1e-6 * np.abs(forces).max()
        )


def test_ghost_path_equals_periodic_path():
    committee = lj_committee(["Cu", "Ni"], n_models=4, cutoff=5.0, seed=5)
    atoms = _triclinic_box(seed=11)
    positions, numbers, owner = _with_ghosts(atoms, committee.ghost_cutoff)
    n = len(atoms)
    assert len(positions) > 2 * n
    image_of = np.where(np.arange(len(owner)) < n, owner, -1)
    forces, energies = committee.evaluate(
        positions, numbers, n, image_of=image_of, exchange=NoExchange()
    )
    assert forces.shape == (4, len(positions), 3)
    summed = np.zeros((4, n, 3))
    for m in range(4):
        for k in range(3):
            summed[m, :, k] = np.bincount(owner, forces[m, :, k], n)

    expected_forces, expected_energies = committee.committee_forces(atoms)
    scale = np.abs(expected_forces).max()
    np.testing.assert_allclose(summed, expected_forces, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(energies, expected_energies, rtol=1e-10)


def test_members_differ_and_seed_is_reproducible():
    first = lj_committee(["Cu", "Ni"], seed=8)
    again = lj_committee(["Cu", "Ni"], seed=8)
    other = lj_committee(["Cu", "Ni"], seed=9)
    np.testing.assert_array_equal(first.epsilon, again.epsilon)
    np.testing.assert_array_equal(first.sigma, again.sigma)
    assert not np.array_equal(first.sigma, other.sigma)
    assert np.all(first.epsilon.std(axis=0) > 0) and np.all(first.sigma.std(axis=0) > 0)

    forces, energies = first.committee_forces(_triclinic_box(seed=3))
    assert np.all(forces.std(axis=0).max(axis=-1) > 0)
    assert energies.std() > 0


def test_zero_spread_and_explicit_parameters():
    committee = lj_committee(["Ar"], spread=0.0, epsilon=0.0104, sigma=3.4, cutoff=8.5)
    np.testing.assert_array_equal(committee.epsilon, 0.0104)
    np.testing.assert_array_equal(committee.sigma, 3.4)


def test_default_sigma_gives_stable_fcc_copper():
    committee = lj_committee(["Cu"], spread=0.0)
    lattice = np.linspace(3.3, 4.0, 15)
    energies = [
        committee.committee_forces(bulk("Cu", "fcc", a=a, cubic=True))[1][0] for a in lattice
    ]
    best = lattice[np.argmin(energies)]
    assert 3.5 < best < 3.8
    assert min(energies) < 0


@pytest.mark.parametrize("bad", ["Xx", "cu", ""])
def test_unknown_element_raises_input_error(bad):
    with pytest.raises(InputError, match=repr(bad)):
        lj_committee(["Cu", bad])


def test_atomic_number_outside_elements_raises_input_error():
    committee = lj_committee(["Cu"])
    atoms = bulk("Ni", "fcc", a=3.52)
    with pytest.raises(InputError, match="28"):
        committee.committee_forces(atoms)


def test_bad_options_raise_input_error():
    for kwargs in [dict(n_models=1), dict(cutoff=-1.0), dict(spread=-0.1), dict(epsilon=-1)]:
        with pytest.raises(InputError):
            lj_committee(["Cu"], **kwargs)
