"""From regions to training data: the water template on 2 ranks with in-situ carving (border
relaxed with the fix's committee, as a user carves), xTB labels through Parsl's local executor,
and a consumer killed mid-way and restarted."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest

from lammps_uq.cli import main

# relaxed: an unrelaxed 8-molecule cell can hold an O-O pair at 0.8 A across the new boundary,
# which label refuses (min_contact), so whether every cell labels would depend on the trajectory
CARVE = "carve cells --molecules 8"
PARSL = """
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider

config = Config(executors=[HighThroughputExecutor(
    label="local", max_workers_per_node=2, cores_per_worker=1, address="127.0.0.1",
    provider=LocalProvider(init_blocks=1, max_blocks=1))], run_dir="{run_dir}",
    initialize_logging=False)  # parsl leaves its parsl.log handler open after shutdown
"""


def run_template(folder, lammps_env) -> str:
    from lammps_uq.cli.demo import prepare

    prepare(folder)
    text = (folder / "in.water").read_text()
    text = text.replace("carve cells --molecules 16", CARVE)
    text = text.replace("error_threshold 0.09", "error_threshold 0.001")  # a centre per check
    (folder / "in.water").write_text(text)
    cmd = [lammps_env.tool("mpirun"), "-np", "2", lammps_env.tool("lmp"), "-in", "in.water",
           "-var", "steps", "30"]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def cells_of(folder):
    return {p.name: ase.io.read(p) for p in sorted(folder.glob("cell_*.extxyz"))}


def consumer(regions, out):
    cmd = [sys.executable, "-m", "lammps_uq.cli", "extract", str(regions), "-o", str(out),
           "--molecules", "8", "--no-relax", "--follow", "--poll", "0.1", "--workers", "0"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, seconds: float = 120.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


@pytest.mark.lammps
@pytest.mark.mpi
@pytest.mark.slow
def test_regions_to_labelled_cells(lammps_env, tmp_path, capsys):
    output = run_template(tmp_path, lammps_env)
    regions = ase.io.read(tmp_path / "uq_regions.extxyz", ":")
    n = len(regions)
    assert n >= 2, output[-3000:]
    assert f"fix uq carve: {n} cells in cells; waited" in output
    selected = sorted((int(r.info["step"]), int(r.info["centre_id"])) for r in regions)
    assert len(set(selected)) == n

    (tmp_path / "parsl.py").write_text(PARSL.format(run_dir=tmp_path / "runinfo"))
    out = tmp_path / "labelled.extxyz"
    assert main(["label", str(tmp_path / "cells"), "-o", str(out), "--calculator", "xtb",
                 "--parsl-config", str(tmp_path / "parsl.py")]) == 0
    labelled = ase.io.read(out, ":")
    got = sorted((int(f.info["parent_step"]), int(f.info["centre_id"])) for f in labelled)
    assert got == selected  # every selected centre is one labelled cell, none twice
    assert all(f.arrays["REF_forces"].shape == (24, 3) for f in labelled)
    assert f"{n} cells labelled, 0 already there, 0 failed" in capsys.readouterr().out

    # the consumer killed mid-way (a torn frame in the file) and restarted: the same cells
    data = (tmp_path / "uq_regions.extxyz").read_bytes()
    ends = [k for k in range(len(data)) if data.startswith(b"\n", k)]
    cut = ends[len(regions[0]) + 1] + 1 + 50  # the first frame whole and a piece of the second
    partial = tmp_path / "partial.extxyz"
    partial.write_bytes(data[:cut])
    proc = consumer(partial, tmp_path / "again")
    wait_for(lambda: len(list((tmp_path / "again").glob("cell_*.extxyz"))) == 1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    partial.write_bytes(data)
    proc = consumer(partial, tmp_path / "again")
    (tmp_path / "partial.extxyz.done").write_text(f"{len(data)}\n")
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and f"{n - 1} cells written, 1 already there, 0 failed" in text, \
        text
    once = consumer(tmp_path / "uq_regions.extxyz", tmp_path / "once")  # never interrupted
    text, _ = once.communicate(timeout=300)
    assert once.returncode == 0 and f"{n} cells written, 0 already there, 0 failed" in text, text
    first, again = cells_of(tmp_path / "once"), cells_of(tmp_path / "again")
    assert sorted(first) == sorted(again) == sorted(cells_of(tmp_path / "cells"))
    assert len(first) == n
    for name, cell in first.items():
        np.testing.assert_allclose(again[name].positions, cell.positions, atol=1e-8)
