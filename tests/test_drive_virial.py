"""The virial of `drive`: pressure, barostats and the devi file's virial columns (issue 15)."""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
    pytest.importorskip("mace")

from lammps_uq import testing  # noqa: E402

pytestmark = [pytest.mark.lammps]

NKTV2P = 1.6021765e6  # LAMMPS metal units: bar per eV/Angstrom^3 (force->nktv2p, update.cpp)
LAMMPS_ORDER = [0, 1, 2, 5, 4, 3]  # Voigt xx yy zz yz xz xy -> LAMMPS xx yy zz xy xz yz

NO_VIRIAL = '''
from lammps_uq.committee.evaluators.analytic import lj_committee


class NoVirial:
    """The analytic committee behind an evaluate() that takes no virial keyword."""

    def __init__(self, elements, bad_shape=False):
        self.inner = lj_committee(elements)
        self.n_models, self.ghost_cutoff = self.inner.n_models, self.inner.ghost_cutoff
        self.bad_shape = bad_shape

    def evaluate(self, positions, numbers, nlocal, *, image_of, exchange):
        return self.inner.evaluate(positions, numbers, nlocal, image_of=image_of)


class BadVirial(NoVirial):
    def evaluate(self, positions, numbers, nlocal, *, image_of, exchange, virial=False):
        forces, energies = super().evaluate(positions, numbers, nlocal, image_of=image_of,
                                            exchange=exchange)
        return forces, energies, [[0.0] * 6] * self.n_models


def no_virial(elements):
    return NoVirial(elements)


def bad_virial(elements):
    return BadVirial(elements)


def flat(elements):
    """Four identical Lennard-Jones members: LAMMPS's own pair lj/cut is the reference."""
    return lj_committee(elements, spread=0.0)
'''


def crystal():
    """Triclinic rocksalt MgO (64 atoms), rattled."""
    from ase.build import bulk

    atoms = bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat(2)
    cell = atoms.cell.array.copy()
    cell[1, 0] += 1.7
    cell[2, 0] -= 1.1
    cell[2, 1] += 1.3
    atoms.set_cell(cell, scale_atoms=True)
    atoms.positions += np.random.default_rng(3).normal(scale=0.08, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


@pytest.fixture(scope="module")
def mgo(tmp_path_factory):
    """(folder with data.uq and models/, atoms as LAMMPS reads them, sorted model paths)."""
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp("mgo")
    paths = testing.write_committee(folder / "models", [12, 8], n_models=3, **testing.TINY)
    atoms = helpers.write_data(crystal(), folder / "data.uq", ["Mg", "O"])
    return folder, atoms, sorted(paths)


def mace_stress(paths, atoms):
    """ASE stress (Voigt, eV/Angstrom^3) of MACE's own calculator: the mean over `paths`."""
    from mace.calculators import MACECalculator

    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # our own pickled test models
    calc = MACECalculator(model_paths=paths, device="cpu", default_dtype="float64")
    return calc.get_stress(atoms.copy())


def pressure_script(folder, drive: str) -> str:
    return f"""units metal
atom_style atomic
read_data {folder}/data.uq
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
fix mon all uq 1 mace {folder}/models/*.model elements Mg O {drive} devi devi.out
thermo_style custom step pxx pyy pzz pxy pxz pyz press
thermo_modify format float %.17g
run 0
"""


def thermo_row(output: str, first: str) -> np.ndarray:
    lines = output.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["Step", first]) + 1
    return np.array([float(v) for v in lines[start].split()[1:]])


# the committee mean on 1, 2 and 4 ranks; one member's virial (the same code path after the
# member is chosen) on 2 ranks: decomposed, at a third of the time
@pytest.mark.parametrize("drive, nprocs", [("drive mean", 1), ("drive mean", 2), ("drive mean", 4),
                                           ("drive model 2", 2)])
def test_pressure_equals_mace_calculator_stress(mgo, drive, nprocs, lammps_env, tmp_path):
    """thermo pxx..pyz (no velocities: virial only) = -stress * nktv2p of MACECalculator."""
    folder, atoms, paths = mgo
    rc, output = lammps_env.run_lmp(tmp_path, pressure_script(folder, drive), nprocs,
                                    timeout=300)
    assert rc == 0, output[-3000:]
    pressure = thermo_row(output, "Pxx")
    members = paths if drive == "drive mean" else [paths[1]]
    reference = -mace_stress(members, atoms)[LAMMPS_ORDER] * NKTV2P
    assert np.abs(reference).max() > 100.0  # bar: the models give a real stress
    scale = np.abs(reference).max()
    np.testing.assert_allclose(pressure[:6], reference, rtol=0, atol=1e-8 * scale)
    assert pressure[6] == pytest.approx(reference[:3].mean(), rel=1e-8)

    # devi: DeePMD's virial deviation, population std over members per component / atoms
    virials = np.array([-mace_stress([p], atoms) for p in paths]) * atoms.get_volume()
    spread = virials.std(axis=0) / len(atoms)  # Voigt: 6 components, off-diagonals twice
    spread9 = np.concatenate([spread, spread[3:]])
    expected = [spread9.max(), spread9.min(), np.sqrt(np.mean(spread9**2))]
    devi = np.loadtxt(tmp_path / "devi.out", ndmin=2)[0]
    np.testing.assert_allclose(devi[1:4], expected, rtol=2e-6)


@pytest.mark.parametrize("kind", ["mace", "analytic"])
def test_virial_is_the_strain_derivative_of_the_energy(mgo, kind):
    """W_ab = -dE/d(eps_ab) by central differences of the committee energies (symmetric eps)."""
    from lammps_uq.committee.evaluators.analytic import lj_committee
    from lammps_uq.committee.evaluators.graph import periodic_edges
    from lammps_uq.committee.evaluators.mace_committee import MaceCommittee
    from lammps_uq.committee.evaluators.protocol import NoExchange

    _, atoms, paths = mgo
    if kind == "mace":
        committee = MaceCommittee(paths, device="cpu")

        def energies_virials(a):
            _, e, w = committee.evaluate_members(periodic_edges(a, committee.r_max),
                                                      NoExchange())
            return e, w
    else:
        committee = lj_committee(["Mg", "O"], cutoff=3.9)
        atoms = atoms.repeat(2)  # explicit images: ghosts of a box twice the cutoff

        def energies_virials(a):
            return lj_ghost_box(committee, a)

    _, virials = energies_virials(atoms)
    h = 1e-5
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]:
        strain = np.zeros((3, 3))
        strain[a, b] = strain[b, a] = 0.5 * h if a != b else h
        shifted = []
        for sign in (1, -1):
            deformed = atoms.copy()
            deformed.set_cell(atoms.cell.array @ (np.eye(3) + sign * strain).T, scale_atoms=True)
            shifted.append(energies_virials(deformed)[0])
        derivative = (shifted[0] - shifted[1]) / (2 * h)
        w_sym = 0.5 * (virials[:, a, b] + virials[:, b, a])
        assert np.abs(w_sym).max() > 0.1
        np.testing.assert_allclose(-derivative, w_sym, rtol=0, atol=1e-6 * np.abs(virials).max())


def lj_ghost_box(committee, atoms):
    """Energies and virials of the analytic committee on a periodic box, with the box's own
    atoms local and their periodic images within the cutoff as explicit ghosts."""
    from ase.neighborlist import neighbor_list

    i, j, shifts = neighbor_list("ijS", atoms, committee.cutoff)
    ghost = shifts.any(axis=1)
    keys = np.unique(np.column_stack([j[ghost], shifts[ghost]]), axis=0)
    images = atoms.positions[keys[:, 0]] + keys[:, 1:] @ atoms.cell.array
    positions = np.concatenate([atoms.positions, images])
    numbers = np.concatenate([atoms.numbers, atoms.numbers[keys[:, 0]]])
    _, energies, virials = committee.evaluate(positions, numbers, len(atoms), virial=True)
    return energies, virials


@pytest.mark.parametrize("nprocs", [1, 2])
def test_analytic_pressure_equals_pair_lj_cut(nprocs, lammps_env, tmp_path):
    """drive mean of identical LJ members: the pressure of LAMMPS's own pair lj/cut (shifted)."""
    import helpers

    from lammps_uq.committee.evaluators.analytic import lj_committee

    (tmp_path / "virial_uq.py").write_text(NO_VIRIAL)
    helpers.write_data(helpers.hotspot_config(True, repeat=3), tmp_path / "data.uq")
    ref = lj_committee(["Cu", "Ni"], spread=0.0)
    coeffs = "\n".join(f"pair_coeff {a + 1} {b + 1} {float(ref.epsilon[0, a, b])!r} "
                       f"{float(ref.sigma[0, a, b])!r}" for a in range(2) for b in range(a, 2))
    pressures = []
    for fix in ("fix mon all uq 5 python virial_uq:flat elements Cu Ni drive mean",
                f"pair_style lj/cut 5.0\n{coeffs}\npair_modify shift yes"):
        text = f"""units metal
atom_style atomic
read_data data.uq
pair_style zero 5.0
pair_coeff * *
neighbor 1.0 bin
comm_modify cutoff 7.0
{fix}
thermo_style custom step pxx pyy pzz pxy pxz pyz
thermo_modify format float %.17g
run 0
"""
        rc, output = lammps_env.run_lmp(tmp_path, text, nprocs)
        assert rc == 0, output[-3000:]
        pressures.append(thermo_row(output, "Pxx"))
    assert np.abs(pressures[1]).max() > 100.0
    np.testing.assert_allclose(pressures[0], pressures[1], rtol=0,
                               atol=1e-10 * np.abs(pressures[1]).max())


@pytest.mark.parametrize("nprocs", [1, 2])
def test_evaluator_without_virial_is_refused_under_a_barostat(nprocs, lammps_env, tmp_path):
    import helpers

    (tmp_path / "virial_uq.py").write_text(NO_VIRIAL)
    helpers.write_data(helpers.hotspot_config(False, repeat=3), tmp_path / "data.uq")
    text = helpers.fix_script("data.uq", "5 python virial_uq:no_virial elements Cu Ni drive "
                              "model 2", dump_every=5, steps=5)
    text = text.replace("dump d all", "fix npt all npt temp 300 300 0.1 iso 1 1 1\ndump d all")
    rc, output = lammps_env.run_lmp(tmp_path, text, nprocs, timeout=60)
    assert rc != 0, output[-2000:]
    assert ("Fix uq mon drive model 2: evaluator virial_uq:no_virial returns no virial, so the "
            "pressure control by fix npt (npt) would not see the forces of fix uq") in output


def test_evaluator_without_virial_warns_under_nve(lammps_env, tmp_path):
    import helpers

    (tmp_path / "virial_uq.py").write_text(NO_VIRIAL)
    helpers.write_data(helpers.hotspot_config(False, repeat=3), tmp_path / "data.uq")
    text = helpers.fix_script("data.uq", "5 python virial_uq:no_virial elements Cu Ni drive "
                              "mean", dump_every=5, steps=5)
    rc, output = lammps_env.run_lmp(tmp_path, text, 1)
    assert rc == 0, output[-2000:]
    assert "returns no virial; the pressure leaves out the forces of fix uq" in output


def test_virials_of_the_wrong_shape_are_refused(lammps_env, tmp_path):
    import helpers

    (tmp_path / "virial_uq.py").write_text(NO_VIRIAL)
    helpers.write_data(helpers.hotspot_config(False, repeat=3), tmp_path / "data.uq")
    text = helpers.fix_script("data.uq", "5 python virial_uq:bad_virial elements Cu Ni drive "
                              "mean", dump_every=5)
    rc, output = lammps_env.run_lmp(tmp_path, text, 1)
    assert rc != 0
    assert "virials have shape (4, 6); expected (n_models=4, 3, 3)" in output, output[-2000:]


@pytest.mark.parametrize("barostat", [
    "fix md all npt temp 300 300 0.1 tri 1 1 0.5",
    "fix md all nph iso 1 1 0.5",
    "fix md all nve\nfix pb all press/berendsen iso 1 1 0.5 modulus 1400",
], ids=["npt-tri", "nph", "press-berendsen"])
def test_barostats_follow_pair_lj_cut(barostat, lammps_env, tmp_path):
    """Under each barostat, drive mean of identical LJ members gives the box of pair lj/cut."""
    import helpers

    from lammps_uq.committee.evaluators.analytic import lj_committee

    (tmp_path / "virial_uq.py").write_text(NO_VIRIAL)
    triclinic = "berendsen" not in barostat  # fix press/berendsen takes orthogonal boxes only
    helpers.write_data(helpers.hotspot_config(triclinic, repeat=3), tmp_path / "data.uq")
    ref = lj_committee(["Cu", "Ni"], spread=0.0)
    coeffs = "\n".join(f"pair_coeff {a + 1} {b + 1} {float(ref.epsilon[0, a, b])!r} "
                       f"{float(ref.sigma[0, a, b])!r}" for a in range(2) for b in range(a, 2))
    boxes = []
    for force in ("fix mon all uq 5 python virial_uq:flat elements Cu Ni drive mean\n"
                  "fix_modify mon energy yes",
                  f"pair_style lj/cut 5.0\n{coeffs}\npair_modify shift yes"):
        tilts = "xy xz yz" if triclinic else "lx ly lz"
        text = f"""units metal
atom_style atomic
read_data data.uq
pair_style zero 5.0
pair_coeff * *
neighbor 1.0 bin
comm_modify cutoff 7.0
{force}
velocity all create 300 4928 loop geom
{barostat}
timestep 0.002
thermo_style custom step vol {tilts} pe
thermo_modify format float %.17g
thermo 20
run 20
"""
        rc, output = lammps_env.run_lmp(tmp_path, text, 1)
        assert rc == 0, output[-3000:]
        lines = [ln.split() for ln in output.splitlines()]
        start = next(i for i, w in enumerate(lines) if w[:2] == ["Step", "Volume"])
        boxes.append(np.array([[float(v) for v in w] for w in lines[start + 1:start + 3]]))
    assert abs(boxes[1][1, 1] / boxes[1][0, 1] - 1.0) > 1e-4  # the barostat moved the box
    np.testing.assert_allclose(boxes[0], boxes[1], rtol=1e-9, atol=1e-9)
