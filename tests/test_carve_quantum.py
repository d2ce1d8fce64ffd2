"""Carving with the default committee: no overlaps across the new boundary, and fidelity
against a quantum reference (GFN2-xTB through tblite), as in the paper's Methods B."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lammps_uq.extract.carve import CarveOptions, carve, relax_border
from lammps_uq.extract.molecules import find_molecules

pytestmark = [pytest.mark.slow]
REQUIRE_ALL = os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1"


def committee():
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir

    if not list(default_committee_dir().glob("member_*.model")) and not REQUIRE_ALL:
        pytest.skip("the default committee is not built (python -m lammps_uq.committee.default.train)")
    from lammps_uq import CommitteeCalculator

    return CommitteeCalculator("default")


def liquid(n_molecules: int, seed: int):
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    from lammps_uq.committee.default.water import spcfw_frames

    return spcfw_frames(n_molecules, density=0.86, temperature=350.0, steps=1000, every=1000,
                        seed=seed)[-1]


def carve_pair(parent, centre: int, molecules: int):
    """The same cell carved twice: relaxed with the committee mean, and with --no-relax."""
    options = CarveOptions(molecules=molecules)
    kwargs = dict(parent_volume=parent.get_volume(), parent_natoms=len(parent))
    raw = carve(parent, centre, options, **kwargs)
    relaxed = raw.copy()
    relax_border(relaxed, committee(), options)
    return raw, relaxed


def oo_distances(cell) -> np.ndarray:
    from ase.geometry import get_distances

    oxygens = cell.positions[cell.numbers == 8]
    _, d = get_distances(oxygens, cell=cell.cell, pbc=True)
    return d[np.triu_indices(len(oxygens), 1)]


def test_relaxed_cell_has_no_overlaps_across_the_boundary(capsys):
    parent = liquid(216, seed=9)
    raw, relaxed = carve_pair(parent, 3 * 100, 64)
    np.testing.assert_allclose(relaxed.positions[relaxed.arrays["core"]],
                               raw.positions[raw.arrays["core"]], rtol=0, atol=1e-12)
    closest = oo_distances(relaxed).min()
    with capsys.disabled():
        print(f"\nclosest O-O after the border relaxation: {closest:.3f} Å "
              f"(before: {oo_distances(raw).min():.3f} Å)")
    assert closest >= 2.2
    labels = find_molecules(parent).labels[relaxed.arrays["parent_index"]]
    for m in set(labels):  # molecules stay whole: each H within 1.25 Å of its O
        members = np.nonzero(labels == m)[0]
        oxygen = relaxed.positions[members[relaxed.numbers[members] == 8][0]]
        hydrogens = relaxed.positions[members[relaxed.numbers[members] == 1]]
        assert np.all(np.linalg.norm(hydrogens - oxygen, axis=1) < 1.25)


def xtb_forces(atoms) -> np.ndarray:
    if not REQUIRE_ALL:
        pytest.importorskip("tblite")
    from tblite.ase import TBLite

    atoms = atoms.copy()
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    return atoms.get_forces()


def test_fidelity_against_gfn2_xtb(capsys):
    """Forces near the centre in the carved, relaxed cell vs the parent (paper Methods B)."""
    from ase.geometry import find_mic

    parent = liquid(128, seed=5)
    centre = 3 * 40
    raw, relaxed = carve_pair(parent, centre, 64)
    reference = xtb_forces(parent)
    _, dist = find_mic(parent.positions - parent.positions[centre], parent.cell, True)
    near = np.nonzero(dist[relaxed.arrays["parent_index"]] <= 3.0)[0]
    f_relaxed, f_raw = xtb_forces(relaxed), xtb_forces(raw)
    diff = np.abs(f_relaxed[near] - reference[relaxed.arrays["parent_index"][near]])
    worst_relaxed = np.linalg.norm(f_relaxed, axis=1).max()
    worst_raw = np.linalg.norm(f_raw, axis=1).max()
    with capsys.disabled():
        print(f"\nGFN2-xTB, {len(near)} atoms within 3 Å of the centre: force MAE "
              f"{diff.mean():.4f} eV/Å, max {diff.max():.4f} eV/Å; largest force in the cell "
              f"relaxed {worst_relaxed:.3f} vs --no-relax {worst_raw:.3f} eV/Å")
    assert len(near) >= 3
    assert diff.mean() < 0.25
    assert worst_raw >= 5 * worst_relaxed
