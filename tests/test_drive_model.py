"""`drive model K`: member K drives each step, the committee is evaluated once per check."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
    pytest.importorskip("mace")

from helpers import thermo_table  # noqa: E402
from lammps_uq import testing  # noqa: E402

pytestmark = [pytest.mark.lammps]

ANALYTIC = "lammps_uq.committee.evaluators.analytic:lj_committee"

# an analytic committee that logs which members each evaluation was asked for; with
# SELECTS=0 its evaluate() has no `members` keyword, so the fix evaluates them all
LOGGED = '''
import json, os
from lammps_uq.committee.evaluators.analytic import lj_committee

SELECTS = {selects}


class Logged:
    def __init__(self, elements):
        self.inner = lj_committee(elements)
        self.n_models, self.ghost_cutoff = self.inner.n_models, self.inner.ghost_cutoff

    def _run(self, positions, numbers, nlocal, image_of, exchange, members):
        with open(f"calls.{{os.environ.get('PMI_RANK', '0')}}", "a") as fh:
            fh.write(json.dumps(members) + "\\n")
        forces, energies, virials = self.inner.evaluate(positions, numbers, nlocal,
                                                        image_of=image_of, virial=True)
        if members is not None:
            forces, energies, virials = forces[members], energies[members], virials[members]
        return forces, energies, virials

    if SELECTS:
        def evaluate(self, positions, numbers, nlocal, *, image_of, exchange, members=None,
                     virial=False):
            return self._run(positions, numbers, nlocal, image_of, exchange, members)
    else:
        def evaluate(self, positions, numbers, nlocal, *, image_of, exchange, virial=False):
            return self._run(positions, numbers, nlocal, image_of, exchange, None)


def logged(elements):
    return Logged(elements)
'''


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    """Three tiny random MACE members and 16 water molecules with velocities."""
    import ase.io

    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp("drive_model")
    paths = testing.write_committee(folder / "models", [1, 8], n_models=3, **testing.TINY)
    atoms = testing.water_box(16, seed=4)
    rng = np.random.default_rng(5)
    atoms.set_momenta(rng.normal(scale=0.02, size=(len(atoms), 3)) * atoms.get_masses()[:, None])
    atoms.set_momenta(atoms.get_momenta() - atoms.get_momenta().mean(axis=0))
    ase.io.write(folder / "data.w", atoms, format="lammps-data", specorder=["O", "H"],
                 masses=True, velocities=True, units="metal")
    return folder, paths, atoms


def md_script(folder, fix_words: str, steps: int = 20, extra: str = "") -> str:
    return f"""units metal
atom_style atomic
read_data {folder}/data.w
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
fix mon all uq 10 mace {folder}/models/*.model elements O H {fix_words}
fix_modify mon energy yes
fix nve all nve
{extra}
timestep 0.0005
thermo_style custom step pe
thermo_modify format float %.15g
thermo {steps}
dump x all custom {steps} dump.x id xu yu zu
dump_modify x format float %.17g sort id
run {steps}
"""


@pytest.mark.parametrize("nprocs", [1, 2])
def test_drive_model_k_is_single_member_ase_verlet(water, nprocs, lammps_env, tmp_path):
    """Positions after 20 steps equal ASE VelocityVerlet with member K's MACECalculator."""
    from ase.md.verlet import VelocityVerlet
    from ase.units import fs
    from mace.calculators import MACECalculator

    folder, paths, atoms = water
    rc, output = lammps_env.run_lmp(tmp_path, md_script(folder, "drive model 2"), nprocs,
                                    timeout=300)
    assert rc == 0, output[-3000:]
    final = lammps_env.read_dump(tmp_path / "dump.x")[-1][:, 1:4]
    pe = thermo_table(output)[:, 1]

    ase_atoms = lammps_env.write_data(atoms, tmp_path / "echo.data", ["O", "H"])
    ase_atoms.set_momenta(atoms.get_momenta())
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # our own pickled test models
    ase_atoms.calc = MACECalculator(model_paths=sorted(paths)[1], device="cpu",
                                    default_dtype="float64")
    start_pe = ase_atoms.get_potential_energy()
    VelocityVerlet(ase_atoms, timestep=0.5 * fs).run(20)
    assert np.abs(final - atoms.positions).max() > 1e-3  # the atoms moved
    np.testing.assert_allclose(final, ase_atoms.positions, rtol=0, atol=1e-8)
    assert pe[0] == pytest.approx(start_pe, abs=1e-9)  # fix_modify energy: member K's energy
    assert pe[-1] == pytest.approx(ase_atoms.get_potential_energy(), abs=1e-7)


def test_between_checks_only_member_k_is_evaluated(lammps_env, tmp_path):
    """Checks (steps 0, 5, 10) evaluate all members once; the steps between, member K only
    (or all of them, sliced, for an evaluator without `members`): the same trajectory."""
    import helpers

    finals = []
    for selects in (1, 0):
        run = tmp_path / f"selects{selects}"
        run.mkdir()
        (run / "logged_uq.py").write_text(LOGGED.format(selects=selects))
        helpers.write_data(helpers.hotspot_config(False, repeat=3), run / "data.uq")
        fix = "5 python logged_uq:logged elements Cu Ni drive model 3"
        text = helpers.fix_script("data.uq", fix, dump_every=5, steps=10)
        text = text.replace("dump d all", "fix nve all nve\ndump d all").replace(
            "dump_modify d", "dump x all custom 10 dump.x id x y z\n"
            "dump_modify x format float %.17g sort id\ndump_modify d")
        rc, output = lammps_env.run_lmp(run, text, 1)
        assert rc == 0, output[-3000:]
        calls = [json.loads(line) for line in (run / "calls.0").read_text().splitlines()]
        between = [2] if selects else None
        assert calls == [None] + [between] * 4 + [None] + [between] * 4 + [None]
        finals.append(lammps_env.read_dump(run / "dump.x")[-1])
    np.testing.assert_array_equal(finals[0], finals[1])


@pytest.mark.parametrize("words,message", [
    ("drive model 0", "Fix uq drive model: got 0; expected the number K >= 1 of the committee "
                      "member that drives"),
    ("drive model -2", "Fix uq drive model: got -2; expected the number K >= 1"),
    ("drive model two", "Fix uq drive model: got two; expected the number K >= 1"),
    ("drive model 2.5", "Fix uq drive model: got 2.5; expected the number K >= 1"),
    ("drive model", "Illegal fix uq drive model command: missing argument"),
    ("drive median", "Fix uq drive: got median; expected mean, model K or none"),
])
def test_drive_words_are_checked(words, message, lammps_env, tmp_path):
    import helpers

    helpers.write_data(helpers.hotspot_config(False, repeat=2), tmp_path / "data.uq")
    text = helpers.fix_script("data.uq", f"5 python {ANALYTIC} elements Cu Ni {words}")
    rc, output = lammps_env.run_lmp(tmp_path, text, 1)
    assert rc != 0 and message in output, output[-2000:]


@pytest.mark.parametrize("nprocs", [1, 2])
def test_drive_model_beyond_the_committee_stops_every_rank(nprocs, lammps_env, tmp_path):
    import helpers

    helpers.write_data(helpers.hotspot_config(False, repeat=3), tmp_path / "data.uq")
    text = helpers.fix_script("data.uq", f"5 python {ANALYTIC} elements Cu Ni drive model 5")
    rc, output = lammps_env.run_lmp(tmp_path, text, nprocs, timeout=60)
    assert rc != 0, output[-2000:]
    assert (f"Fix uq drive model: got 5, but the committee {ANALYTIC} has 4 members; "
            "expected K from 1 to 4") in output, output[-2000:]
