"""`drive mean`: MACE molecular dynamics on stock LAMMPS with the committee-mean forces."""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
    pytest.importorskip("mace")

from helpers import thermo_table  # noqa: E402
from lammps_uq import testing  # noqa: E402

pytestmark = [pytest.mark.lammps]

# tiny members keep 600 MD steps of 48 atoms within seconds
TINY = dict(hidden_irreps="8x0e + 8x1o", max_ell=1, correlation=1, r_max=4.0)


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp("drive")
    paths = testing.write_committee(folder / "models", [1, 8], n_models=2, **TINY)
    atoms = testing.water_box(16, seed=4)
    atoms.set_masses(atoms.get_masses())
    rng = np.random.default_rng(5)
    atoms.set_momenta(rng.normal(scale=0.02, size=(len(atoms), 3)) * atoms.get_masses()[:, None])
    atoms.set_momenta(atoms.get_momenta() - atoms.get_momenta().mean(axis=0))
    import ase.io

    ase.io.write(folder / "data.w", atoms, format="lammps-data", specorder=["O", "H"],
                 masses=True, velocities=True, units="metal")
    return folder, paths, atoms


def md_script(folder, steps: int, dt_ps: float, every: int = 1, extra: str = "") -> str:
    return f"""units metal
atom_style atomic
read_data {folder}/data.w
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
fix mon all uq 10 mace {folder}/models/*.model elements O H drive mean
fix_modify mon energy yes
fix nve all nve
{extra}
timestep {dt_ps}
thermo_style custom step pe ke etotal
thermo_modify format float %.15g
thermo {every}
dump x all custom {steps} dump.x id xu yu zu
dump_modify x format float %.17g sort id
run {steps}
"""


def test_energy_is_conserved_at_second_order(water, lammps_env, tmp_path):
    """Total-energy error of velocity Verlet scales as dt^2.

    Bound: over 200 steps of 0.5 fs the largest deviation of the total energy is
    below 2 % of the kinetic-energy fluctuation, and halving dt divides it by
    2.8-5.7 (4 +- 40 %) -- the signature of an exact force/energy pair.  A force
    that is not the gradient of the reported energy gives an error that does not
    shrink with dt.
    """
    folder, _, _ = water
    deviation = {}
    for dt, steps in ((0.0005, 200), (0.00025, 400)):
        run = tmp_path / f"dt{dt}"
        run.mkdir()
        rc, output = lammps_env.run_lmp(run, md_script(folder, steps, dt), 1)
        assert rc == 0, output[-3000:]
        table = thermo_table(output)
        assert len(table) == steps + 1
        etotal, ke = table[:, 3], table[:, 2]
        deviation[dt] = np.abs(etotal - etotal[0]).max()
        assert deviation[dt] < 0.02 * (ke.max() - ke.min())
    ratio = deviation[0.0005] / deviation[0.00025]
    assert 2.8 < ratio < 5.7, deviation


def test_trajectory_equals_ase_verlet(water, lammps_env, tmp_path):
    from ase.md.verlet import VelocityVerlet
    from ase.units import fs

    from lammps_uq import CommitteeCalculator

    folder, paths, atoms = water
    rc, output = lammps_env.run_lmp(tmp_path, md_script(folder, 20, 0.0005, every=20), 1)
    assert rc == 0, output[-3000:]
    lammps_final = lammps_env.read_dump(tmp_path / "dump.x")[-1][:, 1:4]
    lammps_pe = thermo_table(output)[:, 1]

    ase_atoms = lammps_env.write_data(atoms, tmp_path / "echo.data", ["O", "H"])
    ase_atoms.set_momenta(atoms.get_momenta())
    ase_atoms.calc = CommitteeCalculator(paths)
    start_pe = ase_atoms.get_potential_energy()
    VelocityVerlet(ase_atoms, timestep=0.5 * fs).run(20)
    assert lammps_pe[0] == pytest.approx(start_pe, abs=1e-9)
    assert lammps_pe[-1] == pytest.approx(ase_atoms.get_potential_energy(), abs=1e-7)
    np.testing.assert_allclose(lammps_final, ase_atoms.positions, rtol=0, atol=1e-8)


def test_drive_value_is_checked(water, lammps_env, tmp_path):
    folder, _, _ = water
    text = md_script(folder, 1, 0.0005).replace("drive mean", "drive median")
    rc, output = lammps_env.run_lmp(tmp_path, text, 1)
    assert rc != 0 and "Fix uq drive: got median; expected mean, model K or none" in output
