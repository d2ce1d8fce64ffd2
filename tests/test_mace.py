"""The MACE committee evaluator: exact per-model forces under domain decomposition."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
    pytest.importorskip("mace")

from lammps_uq import testing  # noqa: E402
from lammps_uq.science import uncertainty  # noqa: E402

pytestmark = [pytest.mark.lammps, pytest.mark.mpi]

ATOL = 1e-8  # eV/Å, float64

DUMPER = '''
import glob, os
import numpy as np
from lammps_uq.committee.evaluators.mace_committee import MaceCommittee


class Dumper:
    """The MACE committee, also saving each member's total forces on the owned atoms."""

    def __init__(self, elements):
        self.inner = MaceCommittee(sorted(glob.glob("models/*.model")), elements=elements)
        self.n_models, self.ghost_cutoff = self.inner.n_models, self.inner.ghost_cutoff
        self.max_exchange_width = self.inner.max_exchange_width

    def evaluate(self, positions, numbers, nlocal, *, image_of, exchange):
        forces, energies = self.inner.evaluate(positions, numbers, nlocal, image_of=image_of,
                                               exchange=exchange)
        total = np.empty_like(forces)
        for m in range(len(forces)):
            rows = forces[m].copy()
            exchange.reverse(rows)
            total[m] = rows
        rank = os.environ.get("PMI_RANK", "0")
        np.save(f"forces.{rank}.npy", total[:, :nlocal])
        np.save(f"positions.{rank}.npy", positions[:nlocal])
        return forces, energies


def dumper(elements):
    return Dumper(elements)
'''


def crystal():
    """Triclinic rocksalt MgO, rattled."""
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


@contextlib.contextmanager
def trusted_torch_load():
    """MACECalculator loads pickled models; ours are made by the test itself."""
    old = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = old


SYSTEMS = {
    "water": (lambda: testing.water_box(64, seed=1), ["O", "H"]),
    "mgo-triclinic": (crystal, ["Mg", "O"]),
}


@pytest.fixture(scope="module", params=list(SYSTEMS))
def system(request, tmp_path_factory):
    """(folder with data.uq and models/, atoms as LAMMPS reads them, elements, reference)."""
    import helpers
    from ase.data import atomic_numbers
    from mace.calculators import MACECalculator

    make, elements = SYSTEMS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    paths = testing.write_committee(folder / "models", [atomic_numbers[e] for e in elements])
    atoms = helpers.write_data(make(), folder / "data.uq", elements)
    with trusted_torch_load():
        calc = MACECalculator(model_paths=paths, device="cpu", default_dtype="float64")
    calc.calculate(atoms.copy())
    return folder, atoms, elements, calc.results["forces_comm"]


def script(folder, elements) -> str:
    names = " ".join(elements)
    return f"""units metal
atom_style atomic
read_data {folder}/data.uq
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
fix direct all uq 1 mace {folder}/models/*.model elements {names}
fix probe all uq 1 python probe_mace:dumper elements {names}
dump d all custom 1 dump.uq id type f_direct[1] f_direct[2] f_probe[1]
dump_modify d format float %.17g sort id
run 0
"""


def owned_forces(folder, atoms):
    """Per-model forces saved by all ranks, ordered like atoms (matched by position)."""
    forces = np.full((3, len(atoms), 3), np.nan)
    for path in folder.glob("forces.*.npy"):
        rank = path.suffixes[0]
        pos = np.load(folder / f"positions{rank}.npy")
        delta = pos[:, None, :] - atoms.positions[None, :, :]
        index = np.argmin(np.einsum("ijk,ijk->ij", delta, delta), axis=1)
        assert np.abs(pos - atoms.positions[index]).max() < 1e-9
        forces[:, index] = np.load(path)
    return forces


@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_fix_forces_equal_mace_calculator(system, nprocs, lammps_env, tmp_path):
    folder, atoms, elements, reference = system
    (tmp_path / "probe_mace.py").write_text(DUMPER)
    (tmp_path / "models").symlink_to(folder / "models")
    rc, output = lammps_env.run_lmp(tmp_path, script(folder, elements), nprocs)
    assert rc == 0, output[-3000:]
    forces = owned_forces(tmp_path, atoms)
    assert np.abs(reference).max() > 0.1  # the models give real forces
    np.testing.assert_allclose(forces, reference, rtol=0, atol=ATOL)
    frame = lammps_env.read_dump(tmp_path / "dump.uq")[0]
    s_ref = uncertainty.atomic_uncertainty(reference)
    np.testing.assert_allclose(frame[:, 2], s_ref, rtol=0, atol=ATOL)
    np.testing.assert_allclose(frame[:, 4], s_ref, rtol=0, atol=ATOL)
    s_loc = uncertainty.local_uncertainty(atoms, s_ref, 4.0)
    np.testing.assert_allclose(frame[:, 3], s_loc, rtol=0, atol=ATOL)


def test_committee_calculator_equals_mace_calculator(system):
    from lammps_uq import CommitteeCalculator

    folder, atoms, _, reference = system
    calc = CommitteeCalculator(str(folder / "models" / "*.model"))
    probe = atoms.copy()
    probe.calc = calc
    forces = probe.get_forces()
    np.testing.assert_allclose(calc.results["forces_comm"], reference, rtol=0, atol=1e-10)
    np.testing.assert_allclose(forces, reference.mean(axis=0), rtol=0, atol=1e-10)
    s_atom = uncertainty.atomic_uncertainty(reference)
    np.testing.assert_allclose(calc.results["s_atom"], s_atom, rtol=0, atol=1e-10)
    np.testing.assert_allclose(calc.results["s_local"],
                               uncertainty.local_uncertainty(atoms, s_atom, 4.0), atol=1e-10)
    assert probe.get_potential_energy() == pytest.approx(calc.results["energies_comm"].mean())


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    testing.write_committee(folder / "base", [1, 8], n_models=2)
    testing.write_committee(folder / "rmax", [1, 8], n_models=1, r_max=5.0)
    testing.write_committee(folder / "species", [1, 6, 8], n_models=1)
    (folder / "garbage.model").write_text("not a model")
    return folder


def error_script(models: str, elements: str = "O H", extra: str = "") -> str:
    return f"""units metal
lattice sc 3.0
region box block 0 4 0 4 0 4
create_box 2 box
create_atoms 1 box
mass * 10.0
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
{extra}
fix mon all uq 1 mace {models} elements {elements}
run 0
"""


MACE_ERRORS = {
    "missing file": ("{f}/nothere.model {f}/base/member_0.model", "O H", "",
                     "cannot read model file"),
    "no glob match": ("{f}/none*.model", "O H", "", "no model file matches"),
    "unreadable": ("{f}/garbage.model {f}/base/member_0.model", "O H", "",
                   "cannot load model file"),
    "r_max differs": ("{f}/base/*.model {f}/rmax/*.model", "O H", "",
                      "has r_max = 5.0, but"),
    "species differ": ("{f}/base/*.model {f}/species/*.model", "O H", "",
                       "has atomic_numbers = [1, 6, 8], but"),
    "element not in model": ("{f}/base/*.model", "O Cu", "",
                             "element 'Cu' is not in the MACE models"),
    "bad dtype": ("{f}/base/*.model", "O H dtype float16", "", "fix uq dtype: got 'float16'"),
    "ghost cutoff": ("{f}/base/*.model", "O H", "pair_style zero 2.0\npair_coeff * *",
                     "comm_modify cutoff 5"),
}


@pytest.mark.parametrize("case", list(MACE_ERRORS), ids=list(MACE_ERRORS))
def test_mace_errors(case, odd_models, lammps_env, tmp_path):
    models, elements, extra, message = MACE_ERRORS[case]
    text = error_script(models.format(f=odd_models), elements, extra)
    rc, output = lammps_env.run_lmp(tmp_path, text, 1)
    assert rc != 0 and message in output, output[-3000:]
