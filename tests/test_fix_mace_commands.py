"""minimize with `drive mean` and `rerun` against CommitteeCalculator, tiny MACE (issue 11)."""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
    pytest.importorskip("mace")

from lammps_uq import testing  # noqa: E402

pytestmark = [pytest.mark.lammps]


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp("mace_commands")
    paths = testing.tiny_water_committee(folder / "models", n_models=3)
    atoms = helpers.write_data(testing.water_box(2, seed=11), folder / "data.w", ["O", "H"])
    return folder, paths, atoms


def head(folder, fix_line: str) -> str:
    return f"""units metal
atom_style atomic
read_data {folder}/data.w
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
{fix_line}
"""


@pytest.fixture(scope="module")
def molecule(tmp_path_factory):
    """One distorted water molecule in a 10 Angstrom box.  The shipped (trained) committee
    has one minimum there; random tiny models have several, which optimisers reach at will."""
    from ase.build import molecule

    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    folder = tmp_path_factory.mktemp("minimize")
    atoms = molecule("H2O")
    atoms.positions[1] *= 1.12
    atoms.positions[2] += [0.1, -0.05, 0.08]
    atoms.set_cell([10.0, 10.0, 10.0])
    atoms.pbc = True
    atoms.center()
    return folder, helpers.write_data(atoms, folder / "data.m", ["O", "H"])


@pytest.fixture(scope="module")
def ase_minimum(molecule):
    """BFGS on the default committee's mean with CommitteeCalculator."""
    from ase.optimize import BFGS

    from lammps_uq import CommitteeCalculator

    ref = molecule[1].copy()
    ref.calc = CommitteeCalculator("default")
    start = ref.get_potential_energy()
    BFGS(ref, logfile=None).run(fmax=1e-5, steps=200)
    return start, ref


@pytest.mark.parametrize("nprocs", [1, 2])
def test_minimize_on_the_committee_mean_reaches_the_ase_minimum(nprocs, molecule, ase_minimum,
                                                                lammps_env, tmp_path):
    folder, atoms = molecule
    start, ref = ase_minimum
    text = head(folder, "fix mon all uq 5 mace default elements O H drive mean")
    text = text.replace("data.w", "data.m").replace("neighbor 1.0 bin", "neighbor 1.0 bin\ncomm_modify cutoff 5.5")
    text += """fix_modify mon energy yes
thermo_modify format float %.15g
min_style cg
minimize 0 1e-6 500 5000
print "EMIN $(pe:%.15g) $(fnorm:%.15g)"
write_dump all custom final.dump id x y z modify sort id format float %.17g
"""
    rc, output = lammps_env.run_lmp(tmp_path, text, nprocs, timeout=300)
    assert rc == 0, output[-3000:]
    energy, fnorm = lammps_env.printed(output, "EMIN")
    assert fnorm < 1e-6
    assert energy < start - 0.01  # the committee forces and energy did act
    assert energy == pytest.approx(ref.get_potential_energy(), abs=1e-6)
    final = np.loadtxt(tmp_path / "final.dump", skiprows=9)[:, 1:4]
    np.testing.assert_allclose(final, ref.positions, rtol=0, atol=1e-3)


def write_frames(path, atoms, nframes: int, seed: int):
    """A LAMMPS text dump of jittered copies of atoms: the trajectory to rerun."""
    rng = np.random.default_rng(seed)
    frames, lines = [], []
    for k in range(nframes):
        frame = atoms.copy()
        frame.positions += rng.normal(scale=0.08, size=frame.positions.shape)
        frames.append(frame)
        lengths = frame.cell.array.diagonal()
        lines += ["ITEM: TIMESTEP", str(10 * k), "ITEM: NUMBER OF ATOMS", str(len(frame)),
                  "ITEM: BOX BOUNDS pp pp pp"] + [f"0 {length:.17g}" for length in lengths]
        lines.append("ITEM: ATOMS id x y z")
        lines += [f"{i + 1} {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in
                  enumerate(frame.positions)]
    path.write_text("\n".join(lines) + "\n")
    return frames


@pytest.mark.parametrize("nprocs", [1, 2])
def test_rerun_scores_each_frame_once_like_committee_calculator(nprocs, water, lammps_env,
                                                               tmp_path):
    from lammps_uq import CommitteeCalculator

    folder, paths, atoms = water
    frames = write_frames(tmp_path / "traj.dump", atoms, 4, seed=3)
    text = head(folder, f"fix mon all uq 10 mace {folder}/models/*.model elements O H")
    text += """dump d all custom 10 uq.dump id f_mon[1] f_mon[2]
dump_modify d format float %.17g sort id
rerun traj.dump dump x y z
"""
    rc, output = lammps_env.run_lmp(tmp_path, text, nprocs, timeout=300)
    assert rc == 0, output[-3000:]
    assert "fix uq mon: 4 checks (4 evaluations)" in output, output[-3000:]
    dumped = lammps_env.read_dump(tmp_path / "uq.dump")
    assert len(dumped) == 4
    calc = CommitteeCalculator(paths, rcut=4.0)
    for frame, table in zip(frames, dumped):
        calc.calculate(frame)
        np.testing.assert_allclose(table[:, 1], calc.results["s_atom"], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(table[:, 2], calc.results["s_local"], rtol=1e-10, atol=1e-13)
