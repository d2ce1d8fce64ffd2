"""Tests of the pure-numpy uncertainty reference (lammps_uq.science.uncertainty)."""

import math

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from lammps_uq.science import uncertainty as uq

# Two atoms, three models; every value below is derivable by hand.
FORCES_2x3 = np.array([
    [[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]],
    [[2.0, 0.0, 2.0], [3.0, 0.0, 0.0]],
    [[3.0, 0.0, 5.0], [6.0, 0.0, 0.0]],
])  # eV/Å, shape (3 models, 2 atoms, 3)


def _rng():
    return np.random.default_rng(12345)


def _ase_pairs(atoms, rcut):
    i, j, d = neighbor_list("ijd", atoms, rcut)
    order = np.lexsort((d, j, i))
    return i[order], j[order], d[order]


def _ase_local(atoms, s, rcut):
    i, j = neighbor_list("ij", atoms, rcut)
    out = np.empty(len(atoms))
    for a in range(len(atoms)):
        members = np.concatenate([[s[a]], s[j[i == a]]])
        out[a] = members.mean()
    return out


# ----------------------------------------------------------------- hand values

def test_component_std_by_hand():
    s = uq.component_std(FORCES_2x3)
    # atom 0: x = (1,2,3) -> var 1; z = (2,2,5) -> mean 3, var (1+1+4)/2 = 3
    # atom 1: x = (0,3,6) -> mean 3, var (9+0+9)/2 = 9
    expected = np.array([[1.0, 0.0, math.sqrt(3.0)], [3.0, 0.0, 0.0]])
    assert s.shape == (2, 3)
    np.testing.assert_allclose(s, expected, rtol=1e-14)


def test_atomic_and_structure_by_hand():
    s = uq.atomic_uncertainty(FORCES_2x3)
    expected = np.array([(1.0 + math.sqrt(3.0)) / 3.0, 1.0])
    np.testing.assert_allclose(s, expected, rtol=1e-14)
    assert uq.structure_uncertainty(s) == pytest.approx((expected[0] + 1.0) / 2.0)
    assert uq.structure_uncertainty(s, np.array([False, True])) == pytest.approx(1.0)
    assert uq.structure_uncertainty(s, np.array([False, False])) == 0.0


def test_deepmd_deviation_by_hand():
    sig = uq.deepmd_deviation(FORCES_2x3)
    # atom 0: deviations (-1,0,-1), (0,0,-1), (1,0,2) -> |.|^2 = 2, 1, 5 -> mean 8/3
    # atom 1: deviations (-3,0,0), (0,0,0), (3,0,0) -> 9, 0, 9 -> mean 6
    np.testing.assert_allclose(sig, [math.sqrt(8.0 / 3.0), math.sqrt(6.0)], rtol=1e-14)


def test_energy_std_by_hand():
    # mean 2, squared deviations 1 + 0 + 1 -> ddof=1 variance 1
    assert uq.energy_std([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert uq.energy_std(np.array([-5.0, -5.0])) == 0.0


def test_default_alpha():
    assert uq.default_alpha(10) == pytest.approx(2.0 / math.sqrt(2.0 * math.pi * 10))
    assert uq.default_alpha(10) == pytest.approx(0.25, abs=0.005)
    assert uq.default_alpha(2) == pytest.approx(2.0 / math.sqrt(4.0 * math.pi))


def test_local_uncertainty_by_hand():
    # three atoms on a line, non-periodic; rcut 1.5 reaches nearest neighbours only
    atoms = Atoms("H3", positions=[[0, 0, 0], [1, 0, 0], [2, 0, 0]], pbc=False)
    s = np.array([3.0, 6.0, 9.0])
    np.testing.assert_allclose(uq.local_uncertainty(atoms, s, 1.5), [4.5, 6.0, 7.5])
    # rcut is inclusive: at exactly 1.0 Å the neighbours still count
    np.testing.assert_allclose(uq.local_uncertainty(atoms, s, 1.0), [4.5, 6.0, 7.5])
    np.testing.assert_allclose(uq.local_uncertainty(atoms, s, 0.5), s)
    np.testing.assert_allclose(uq.local_uncertainty(atoms, s, 2.0), [6.0, 6.0, 6.0])


def test_local_uncertainty_counts_own_images():
    # one atom in a 2 Å cubic box, rcut 2.5: itself + 6 face images (2 Å); the
    # 12 edge images at 2.83 Å are out.  All share s, so only counts matter:
    i, j = uq.neighbour_pairs([[0.3, 0.2, 0.1]], np.eye(3) * 2.0, True, 2.5)
    assert len(i) == 6 and np.all(i == 0) and np.all(j == 0)


# -------------------------------------------------------------- ddof conventions

def test_ddof_conventions_random():
    f = _rng().normal(size=(7, 11, 3))
    np.testing.assert_allclose(uq.component_std(f), np.std(f, axis=0, ddof=1))
    np.testing.assert_allclose(uq.atomic_uncertainty(f), np.std(f, axis=0, ddof=1).mean(axis=1))
    # DeePMD-kit model_devi, written out independently (population mean over models)
    n_models = f.shape[0]
    mean = f.sum(axis=0) / n_models
    sq = sum(((f[l] - mean) ** 2).sum(axis=1) for l in range(n_models))
    np.testing.assert_allclose(uq.deepmd_deviation(f), np.sqrt(sq / n_models))
    e = _rng().normal(size=7)
    assert uq.energy_std(e) == pytest.approx(np.std(e, ddof=1))


# ---------------------------------------------------------------- neighbour lists

def _cubic_atoms():
    rng = _rng()
    length = 14.0
    # some atoms outside the box, to exercise wrapping
    return Atoms("H220", positions=rng.uniform(-3.0, length + 3.0, (220, 3)),
                 cell=np.eye(3) * length, pbc=True)


def _triclinic_atoms():
    cell = [[7.0, 0.0, 0.0], [6.0, 5.5, 0.0], [-4.5, 3.5, 6.5]]
    return Atoms("H70", scaled_positions=_rng().uniform(-0.2, 1.2, (70, 3)), cell=cell, pbc=True)


def _mixed_pbc_atoms():
    cell = [[10.0, 0.0, 0.0], [2.0, 9.0, 0.0], [1.5, -1.0, 11.0]]
    pos = _rng().uniform(-2.0, 12.0, (90, 3))
    return Atoms("H90", positions=pos, cell=cell, pbc=(True, False, True))


def _small_cell_atoms():
    cell = [[3.1, 0.0, 0.0], [0.9, 2.8, 0.0], [0.4, 0.6, 3.3]]
    return Atoms("H3", scaled_positions=_rng().uniform(0, 1, (3, 3)), cell=cell, pbc=True)


CASES = {
    "cubic": (_cubic_atoms, 4.0),
    "triclinic": (_triclinic_atoms, 4.5),
    "mixed_pbc": (_mixed_pbc_atoms, 4.0),
    "small_cell": (_small_cell_atoms, 5.2),  # rcut > half (and > whole) widths
    # periodic along a only; the other cell rows are zero
    "wire": (lambda: Atoms("H50", positions=_rng().uniform(0, 8, (50, 3)), cell=[8.0, 0, 0],
                           pbc=(True, False, False)), 3.8),
    "open": (lambda: Atoms("H40", positions=_rng().uniform(0, 9, (40, 3)), pbc=False), 3.5),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_neighbour_pairs_match_ase(name):
    make, rcut = CASES[name]
    atoms = make()
    i, j, d = uq.neighbour_pairs(atoms.positions, atoms.cell, atoms.pbc, rcut,
                                 return_distances=True)
    ai, aj, ad = _ase_pairs(atoms, rcut)
    assert len(i) == len(ai) > 0
    np.testing.assert_array_equal(i, ai)
    np.testing.assert_array_equal(j, aj)
    np.testing.assert_allclose(d, ad, rtol=1e-10)
    assert np.all(d <= rcut)


@pytest.mark.parametrize("name", sorted(CASES))
def test_local_uncertainty_matches_ase(name):
    make, rcut = CASES[name]
    atoms = make()
    s = _rng().uniform(0.1, 1.0, len(atoms))
    np.testing.assert_allclose(uq.local_uncertainty(atoms, s, rcut),
                               _ase_local(atoms, s, rcut), rtol=1e-12)


def test_small_cell_counts_self_images():
    atoms = _small_cell_atoms()
    i, j = uq.neighbour_pairs(atoms.positions, atoms.cell, atoms.pbc, 5.2)
    assert np.any(i == j)  # an atom pairs with its own images
    assert len(i) > len(atoms) * (len(atoms) - 1)  # more than one image per pair


def test_neighbour_pairs_chunked(monkeypatch):
    atoms = _cubic_atoms()
    full = uq.neighbour_pairs(atoms.positions, atoms.cell, atoms.pbc, 4.0)
    monkeypatch.setattr(uq, "_MAX_CANDIDATES", 37)
    chunked = uq.neighbour_pairs(atoms.positions, atoms.cell, atoms.pbc, 4.0)
    np.testing.assert_array_equal(full[0], chunked[0])
    np.testing.assert_array_equal(full[1], chunked[1])


def test_neighbour_pairs_minimum_image_for_large_cell():
    # rcut below half the width: the pair count equals the minimum-image count
    atoms = _cubic_atoms()
    i, j = uq.neighbour_pairs(atoms.positions, atoms.cell, atoms.pbc, 4.0)
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    assert len(i) == np.count_nonzero(d <= 4.0)


def test_neighbour_pairs_4000_atoms_symmetric():
    rng = _rng()
    length = (4000 / 0.1) ** (1.0 / 3.0)
    pos = rng.uniform(0, length, (4000, 3))
    i, j = uq.neighbour_pairs(pos, np.eye(3) * length, True, 4.0)
    # ~ density * 4/3 pi r^3 neighbours per atom
    assert 20 < len(i) / 4000 < 35
    assert np.all(np.bincount(i, minlength=4000) == np.bincount(j, minlength=4000))


def test_neighbour_pairs_bad_input():
    with pytest.raises(ValueError, match="rcut"):
        uq.neighbour_pairs(np.zeros((2, 3)), np.eye(3), True, 0.0)
    with pytest.raises(ValueError, match="linearly dependent"):
        uq.neighbour_pairs(np.zeros((2, 3)), [[1, 0, 0], [2, 0, 0], [0, 0, 1]], True, 1.0)


# ------------------------------------------------------------------------ summary

def _summary_setup():
    atoms = _triclinic_atoms()
    rng = _rng()
    forces = rng.normal(size=(4, len(atoms), 3))
    energies = rng.normal(size=4)
    return atoms, forces, energies


def test_summary_without_mask():
    atoms, forces, energies = _summary_setup()
    res = uq.summary(atoms, forces, energies, rcut=4.5, threshold=0.9)
    s = np.std(forces, axis=0, ddof=1).mean(axis=1)
    s_loc = _ase_local(atoms, s, 4.5)
    alpha = 2.0 / math.sqrt(2.0 * math.pi * 4)
    np.testing.assert_allclose(res.s_atom, s)
    np.testing.assert_allclose(res.s_local, s_loc)
    np.testing.assert_allclose(res.error_local, alpha * s_loc)
    assert res.alpha == pytest.approx(alpha)
    assert res.n_above == np.count_nonzero(s_loc >= 0.9)
    devi = uq.deepmd_deviation(forces)
    vec = res.global_vector()
    assert vec.shape == (10,)
    np.testing.assert_allclose(vec, [s.mean(), s_loc.max(), s.max(), np.std(energies, ddof=1),
                                     res.n_above, 0.0, devi.max(), devi.min(), devi.mean(),
                                     alpha])
    with pytest.raises(AttributeError):
        res.alpha = 1.0  # frozen


def test_summary_with_mask():
    atoms, forces, energies = _summary_setup()
    mask = np.zeros(len(atoms), bool)
    mask[::3] = True
    res = uq.summary(atoms, forces, energies, rcut=4.5, alpha=0.5, mask=mask, threshold=0.8)
    s = np.std(forces, axis=0, ddof=1).mean(axis=1)
    s_loc = _ase_local(atoms, s, 4.5)  # neighbours from ALL atoms
    np.testing.assert_allclose(res.s_atom, np.where(mask, s, 0.0))
    np.testing.assert_allclose(res.s_local, np.where(mask, s_loc, 0.0))
    np.testing.assert_allclose(res.error_local, np.where(mask, 0.5 * s_loc, 0.0))
    assert res.structure == pytest.approx(s[mask].mean())
    assert res.max_s_atom == pytest.approx(s[mask].max())
    assert res.max_s_local == pytest.approx(s_loc[mask].max())
    assert res.n_above == np.count_nonzero(s_loc[mask] >= 0.8)
    devi = uq.deepmd_deviation(forces)[mask]
    assert (res.devi_max, res.devi_min, res.devi_avg) == pytest.approx(
        (devi.max(), devi.min(), devi.mean()))
    assert res.alpha == 0.5
    assert uq.summary(atoms, forces, energies, rcut=4.5).n_above == 0  # no threshold


def test_summary_empty_mask():
    atoms, forces, energies = _summary_setup()
    res = uq.summary(atoms, forces, energies, rcut=4.5, mask=np.zeros(len(atoms), bool),
                     threshold=0.0)
    assert res.n_above == 0
    np.testing.assert_array_equal(res.global_vector()[[0, 1, 2, 4, 6, 7, 8]], 0.0)


# ------------------------------------------------------------------------- errors

@pytest.mark.parametrize("func", [uq.component_std, uq.atomic_uncertainty, uq.deepmd_deviation])
def test_errors_forces(func):
    with pytest.raises(ValueError, match="n_models >= 2"):
        func(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="shape"):
        func(np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="shape"):
        func(np.zeros((3, 12)))
    with pytest.raises(ValueError, match="non-finite"):
        func(np.full((3, 4, 3), np.nan))


def test_errors_other():
    atoms, forces, energies = _summary_setup()
    with pytest.raises(ValueError, match="n_models"):
        uq.default_alpha(1)
    with pytest.raises(ValueError, match="n_models >= 2"):
        uq.energy_std([1.0])
    with pytest.raises(ValueError, match="mask"):
        uq.summary(atoms, forces, energies, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="energies"):
        uq.summary(atoms, forces, energies[:3])
    with pytest.raises(ValueError, match="numbers of atoms"):
        uq.summary(atoms, forces[:, :5], energies)
    with pytest.raises(ValueError, match="s_atom"):
        uq.local_uncertainty(atoms, np.ones(3), 4.0)
    with pytest.raises(ValueError, match="n_models >= 2"):
        uq.summary(atoms, forces[:1], energies[:1])
