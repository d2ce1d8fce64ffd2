"""Every input template runs to completion at reduced length on 1 and 2 ranks; the demo too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lammps_uq.cli.demo import read_timeline, templates_dir

pytestmark = [pytest.mark.lammps, pytest.mark.mpi]


def default_committee_or_skip():
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir

    models = sorted(default_committee_dir().glob("member_*.model"))
    if len(models) < 2 and os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
        pytest.skip("the default committee is not built (python -m lammps_uq.committee.default.train)")
    return models


def run_template(lammps_env, folder, template: str, nprocs: int, **variables):
    """Copy a template folder, set its index variables first, run it; returns the output."""
    source = templates_dir() / template.split("/")[0]
    shutil.copytree(source, folder, dirs_exist_ok=True)
    head = "".join(f'variable {k} index "{v}"\n' for k, v in variables.items())
    script = head + (folder / template.split("/")[1]).read_text()
    code, out = lammps_env.run_lmp(folder, script, nprocs=nprocs, timeout=600)
    assert code == 0, out[-3000:]
    assert "Total wall time" in out
    return out


@pytest.mark.parametrize("nprocs", [1, 2])
def test_water_template_drives_and_monitors(lammps_env, tmp_path, nprocs):
    from lammps_uq.science.calibrate import read_calibration
    from lammps_uq.science.error_model import model_at

    models = default_committee_or_skip()
    run_template(lammps_env, tmp_path, "water/in.water", nprocs, steps=20)
    timeline = read_timeline(tmp_path / "uq_timeline.dat")
    np.testing.assert_array_equal(timeline[:, 0], [0, 10, 20])
    assert np.all(timeline[:, 1] > 0) and np.all(timeline[:, 2] >= timeline[:, 1])
    # alpha auto: f_ID[10] is the error model's alpha below its knee (issue 16)
    expected = model_at(read_calibration([str(m) for m in models]), 4.0)["alpha"]
    assert timeline[0, 10] == pytest.approx(expected, rel=1e-5)  # ave/time prints 6 digits
    assert (tmp_path / "uq_devi.out").read_text().count("\n") == 4  # header + 3 checks


@pytest.mark.parametrize("nprocs", [1, 2])
def test_water_monitor_template(lammps_env, tmp_path, nprocs):
    default_committee_or_skip()
    out = run_template(lammps_env, tmp_path, "water/in.water-monitor", nprocs, steps=40)
    assert "fix uq mon: 3 checks" in out


@pytest.mark.parametrize("nprocs", [1, 2])
def test_solid_template_python_form(lammps_env, tmp_path, nprocs):
    out = run_template(lammps_env, tmp_path, "solid/in.solid", nprocs, steps=20, form="python")
    assert "fix uq mon: 3 checks" in out


@pytest.mark.parametrize("nprocs", [1, 2])
def test_solid_template_mace_form(lammps_env, tmp_path, nprocs):
    if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
        pytest.importorskip("mace")
    from lammps_uq import testing

    testing.write_committee(tmp_path / "committee", [28, 29], n_models=2,
                            hidden_irreps="8x0e", max_ell=1, correlation=1, r_max=4.0)
    out = run_template(lammps_env, tmp_path, "solid/in.solid", nprocs, steps=20,
                       committee=f"{tmp_path}/committee/*.model")
    assert "fix uq mon: 3 checks" in out


def test_demo_runs_summarises_and_draws(lammps_env, tmp_path):
    default_committee_or_skip()
    env = dict(os.environ, PATH=f"{lammps_env.BIN}:{os.environ.get('PATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "lammps_uq.cli", "demo", "--steps", "20",
                           "-o", str(tmp_path / "demo")], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "step    20/20 (100 %)" in proc.stdout
    assert "checks done          3" in proc.stdout
    for name in ("uq_timeline.png", "uq_snapshot.png", "lammps.out"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000, name
