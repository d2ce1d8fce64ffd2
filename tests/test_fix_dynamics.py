"""fix uq during molecular dynamics: groups, later checks after atoms migrate, exchanges."""

from __future__ import annotations

import numpy as np
import pytest

from lammps_uq.science import uncertainty
from lammps_uq.committee.evaluators.analytic import lj_committee

pytestmark = [pytest.mark.lammps, pytest.mark.mpi]

RTOL = 1e-10

EXCHANGE_PROBE = '''
import os
import numpy as np
from lammps_uq.committee.evaluators.analytic import lj_committee


class Probe:
    """Analytic committee that also exercises exchange.forward/reverse and logs the result."""

    max_exchange_width = 3

    def __init__(self, elements):
        self.inner = lj_committee(elements)
        self.n_models, self.ghost_cutoff = self.inner.n_models, self.inner.ghost_cutoff

    def evaluate(self, positions, numbers, nlocal, *, image_of, exchange):
        nall = len(positions)
        a = np.full((nall, 3), np.nan)
        a[:nlocal] = positions[:nlocal]
        exchange.forward(a)
        same_rank = np.nonzero(image_of[nlocal:] >= 0)[0] + nlocal
        forward_ok = bool(np.all(np.isfinite(a))) and bool(
            np.array_equal(a[same_rank], positions[image_of[same_rank]]))
        ones = np.ones(nall)
        exchange.reverse(ones)
        with open(f"probe.{os.environ.get('PMI_RANK', '0')}", "a") as fh:
            fh.write(f"{nall} {ones[:nlocal].sum():.1f} {int(forward_ok)}\\n")
        return self.inner.evaluate(positions, numbers, nlocal, image_of=image_of,
                                   exchange=exchange)


def probe(elements):
    return Probe(elements)
'''


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp("md")
    atoms = helpers.write_data(helpers.hotspot_config(True, seed=11), folder / "data.uq")
    return folder / "data.uq", atoms


def reference_from_frame(atoms, frame, rcut=4.0, mask=None, alpha=None):
    """Reference UQ of the dumped configuration (columns id type x y z ...)."""
    moved = atoms.copy()
    moved.positions = frame[:, 2:5]
    forces, energies = lj_committee(["Cu", "Ni"]).committee_forces(moved)
    return uncertainty.summary(moved, forces, energies, rcut=rcut, mask=mask, alpha=alpha)


@pytest.mark.parametrize("nprocs", [1, 4])
def test_later_check_during_md_matches_reference(data, nprocs, lammps_env, tmp_path):
    path, atoms = data
    script = lammps_env.fix_script(str(path), f"5 python {lammps_env.FACTORY} elements Cu Ni "
                                   "rcut 3.5", dump_every=20, steps=20)
    script = script.replace("id type f_mon[1]", "id type x y z f_mon[1]")
    script = script.replace("run 20", "velocity all create 900 4928 loop geom\nfix md all nve\n"
                            "timestep 0.004\nrun 20")
    rc, output = lammps_env.run_lmp(tmp_path, script, nprocs)
    assert rc == 0, output[-3000:]
    first, last = lammps_env.read_dump(tmp_path / "dump.uq")
    assert np.abs(last[:, 2:5] - first[:, 2:5]).max() > 0.05  # atoms really moved
    reference = reference_from_frame(atoms, last, rcut=3.5)
    np.testing.assert_allclose(last[:, 5], reference.s_atom, rtol=RTOL, atol=0)
    np.testing.assert_allclose(last[:, 6], reference.s_local, rtol=RTOL, atol=0)
    assert "fix uq mon: 5 checks (5 evaluations) took" in output


@pytest.mark.parametrize("nprocs", [1, 2])
def test_group_restricts_outputs_not_neighbours(data, nprocs, lammps_env, tmp_path):
    path, atoms = data
    script = lammps_env.fix_script(str(path), f"1 python {lammps_env.FACTORY} elements Cu Ni "
                                   "alpha 0.5")
    script = script.replace("fix mon all uq", "group ni type 2\nfix mon ni uq")
    script = script.replace("id type f_mon[1]", "id type x y z f_mon[1]")
    rc, output = lammps_env.run_lmp(tmp_path, script, nprocs)
    assert rc == 0, output[-3000:]
    frame = lammps_env.read_dump(tmp_path / "dump.uq")[0]
    mask = frame[:, 1] == 2
    reference = reference_from_frame(atoms, frame, mask=mask, alpha=0.5)
    assert 0 < mask.sum() < len(mask)
    np.testing.assert_allclose(frame[:, 6], reference.s_local, rtol=RTOL, atol=0)
    np.testing.assert_allclose(frame[:, 7], 0.5 * reference.s_local, rtol=RTOL, atol=0)
    assert np.all(frame[~mask, 5:] == 0.0)
    vector = lammps_env.printed(output, "UQVECTOR")
    np.testing.assert_allclose(vector, reference.global_vector(), rtol=RTOL, atol=1e-300)


@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_exchanges_copy_to_ghosts_and_sum_into_owners(data, nprocs, lammps_env, tmp_path):
    path, _ = data
    (tmp_path / "probe_evaluator.py").write_text(EXCHANGE_PROBE)
    script = lammps_env.fix_script(str(path), "1 python probe_evaluator:probe elements Cu Ni")
    rc, output = lammps_env.run_lmp(tmp_path, script, nprocs)
    assert rc == 0, output[-3000:]
    rows = np.array([np.loadtxt(p) for p in sorted(tmp_path.glob("probe.*"))], ndmin=2)
    assert len(rows) == nprocs
    # forward: every ghost received its owner's position; reverse: every ghost row
    # (on any rank) added exactly 1 to its owner
    assert np.all(rows[:, 2] == 1)
    assert rows[:, 1].sum() == rows[:, 0].sum()
