"""lammps-uq label never writes a bad label, no cell blocks the rest, nothing finished is lost
(issue 21, items 1-3 and 6-10, 14), with mock calculators on 12-atom water cells."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest

from lammps_uq import testing
from lammps_uq.cli import main

from helpers import refused, require_ctrl_c

MOCK = '''
import os, signal, time
import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class Mock(Calculator):
    """Energy -n eV, forces 0.1 eV/A, no stress; ``mode`` breaks it on the cell ``target``."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, directory, mode, target="", seconds=0.0):
        super().__init__()
        self.folder, self.mode, self.seconds = directory, mode, seconds
        self.hit = target in os.path.basename(directory)

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "started"), "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(self.seconds)
        n = len(self.atoms)
        energy, forces, stress = -1.0 * n, np.full((n, 3), 0.1), np.zeros(6)
        if self.hit and self.mode == "nan_forces":
            forces[3, 1] = np.nan
        if self.hit and self.mode == "nan_energy":
            energy = float("nan")
        if self.hit and self.mode == "inf_stress":
            stress[2] = np.inf
        if self.hit and self.mode == "short_forces":
            forces = forces[:1]
        if self.hit and self.mode == "exit":
            os._exit(7)
        if self.hit and self.mode == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.hit and self.mode == "native_hang":  # a native SCF never back in Python
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT})
            time.sleep(20)
        self.results = {"energy": energy, "forces": forces, "stress": stress}


def make(mode, target="_00001", seconds=0.0):
    return lambda directory: Mock(directory, mode, target, seconds)


good = make("none")
slow = make("none", seconds=1.0)
nan_forces, nan_energy, inf_stress = make("nan_forces"), make("nan_energy"), make("inf_stress")
short_forces, exit, segfault = make("short_forces"), make("exit"), make("segfault")
native_hang = make("native_hang")
'''


@pytest.fixture
def cells(tmp_path, monkeypatch):
    """``cells/`` of three 4-molecule cells and the mock calculators, in the current folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mockcalc.py").write_text(MOCK)
    write_cells(tmp_path / "cells", 3)
    return tmp_path


def write_cells(folder, n: int, seed: int = 0) -> None:
    folder.mkdir()
    for k in range(n):
        atoms = testing.water_box(4, seed=seed + k)
        atoms.info.update(parent_step=10 * k, centre_id=k + 1, centre_s_local=0.2)
        ase.io.write(folder / f"cell_{10 * k}_{k + 1}_{k:05d}.extxyz", atoms)


def label(*extra, calculator="mockcalc:good", workers="0") -> list[str]:
    return ["label", "cells", "-o", "out.extxyz", "--calculator", calculator, "--retries", "0",
            "--workers", workers, *extra]


def frames(path="out.extxyz") -> list:
    return ase.io.read(path, ":") if os.path.exists(path) and os.path.getsize(path) else []


def failures(path="out.failed.json") -> dict:
    return json.loads(Path(path).read_text()) if os.path.exists(path) else {}


@pytest.mark.parametrize("mode,reason", [
    ("nan_forces", "the calculator returned 1 non-finite forces values (NaN or inf) of 36"),
    ("nan_energy", "the calculator returned energy nan; expected one finite number"),
    ("inf_stress", "the calculator returned 1 non-finite stress values (NaN or inf) of 6"),
    ("short_forces", "the calculator returned forces of shape (1, 3); expected (12, 3)"),
])
def test_non_finite_or_misshapen_results_are_failures_not_labels(mode, reason, cells, capsys):
    """Item 1: c0886dd wrote NaN/inf REF_* (or broadcast 1x3 forces) and exited 0."""
    assert main(label(calculator=f"mockcalc:{mode}")) == 1
    assert "2 cells labelled, 0 already there, 1 failed" in capsys.readouterr().out
    written = frames()
    assert sorted(f.info["cell_id"] for f in written) == ["cell_0_1_00000", "cell_20_3_00002"]
    for frame in written:
        assert np.isfinite(frame.arrays["REF_forces"]).all() and frame.info["REF_energy"] == -12
    assert failures()["cell_10_2_00001"]["reason"] == reason


def test_same_name_in_two_folders_both_labelled(cells, capsys):
    """Item 2: c0886dd labelled one cell_0_1_00000 and called the other 'already there'."""
    os.rename("cells", "a")
    write_cells(cells / "b", 1, seed=5)  # another structure of the same name as a/cell_0_1_...
    argv = ["label", "a", "b", "-o", "out.extxyz", "--calculator", "mockcalc:good",
            "--workers", "0"]
    assert main(argv) == 0
    assert "4 cells labelled, 0 already there, 0 failed" in capsys.readouterr().out
    ids = sorted(f.info["cell_id"] for f in frames())
    assert ids == ["a/cell_0_1_00000", "b/cell_0_1_00000", "cell_10_2_00001", "cell_20_3_00002"]
    assert main(argv[:3] + ["a"] + argv[3:]) == 0  # a rerun, a folder twice: nothing new
    assert "0 cells labelled, 4 already there, 0 failed" in capsys.readouterr().out
    # a name labelled from another structure is refused before any work
    assert main(["label", "a", "-o", "other.extxyz", "--calculator", "mockcalc:good"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["label", "b", "-o", "other.extxyz", "--calculator", "mockcalc:good"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "lammps-uq label: --output: 'other.extxyz' holds a cell 'cell_0_1_00000' labelled from "
        "another structure than b/cell_0_1_00000.extxyz; expected the same cells again (a "
        "rerun), or a new output file")
    assert len(frames("other.extxyz")) == 3


def start(argv: list[str], cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lammps_uq.cli", *argv], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_on_one_output_label_each_cell_once(cells):
    """Item 3: c0886dd had no lock: two runs labelled every cell twice."""
    runs = [start(label(calculator="mockcalc:slow"), cells) for _ in range(2)]
    outs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    ids = [f.info["cell_id"] for f in frames()]
    assert sorted(ids) == ["cell_0_1_00000", "cell_10_2_00001", "cell_20_3_00002"]
    assert sum("waiting for it" in err for _, err in outs) == 1
    assert any("0 cells labelled, 3 already there" in out for out, _ in outs)


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("mode,how", [("exit", "exit status 7"),
                                      ("segfault", "killed by SIGSEGV")])
def test_a_cell_that_kills_its_process_fails_alone(mode, how, workers, cells):
    """Item 6: c0886dd ended in BrokenProcessPool (or, with --workers 0, died itself),
    recorded nothing and died on every rerun."""
    run = start(label(calculator=f"mockcalc:{mode}", workers=workers), cells)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1 and "2 cells labelled, 0 already there, 1 failed" in out, err
    reason = failures()["cell_10_2_00001"]["reason"]
    assert reason.startswith(f"the label process died ({how})"), reason
    rerun = start(label(calculator="mockcalc:good", workers=workers), cells)  # that one only
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0 and "1 cells labelled, 2 already there, 0 failed" in out, err
    assert failures() == {}


def test_timeout_kills_a_native_calculation(cells, capsys):
    """Item 9: c0886dd's SIGALRM never reached a native SCF: the cell ran to its end (20 s)
    and was labelled."""
    assert main(label("--timeout", "3", calculator="mockcalc:native_hang")) == 1
    assert failures()["cell_10_2_00001"]["reason"] == ("LabelTimeout: timeout after 3 s (its "
                                                       "process was killed)")
    assert len(frames()) == 2
    pid = int(Path("out.extxyz.work/cell_10_2_00001/started").read_text().split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("sig,code,name", [(signal.SIGTERM, 143, "SIGTERM"),
                                           (signal.SIGINT, 130, "Ctrl-C")])
def test_interrupt_keeps_every_finished_label(sig, code, name, cells):
    """Item 7: with --workers 0, c0886dd computed every cell before writing one; SIGTERM left
    no output and Ctrl-C a traceback.  Each label is now written as it finishes."""
    require_ctrl_c(sig)
    run = start(label(calculator="mockcalc:slow"), cells)
    deadline = time.monotonic() + 60
    while len(frames()) < 1 and time.monotonic() < deadline:  # the first label written,
        time.sleep(0.05)                                       # the run still going
    assert run.poll() is None and len(frames()) == 1
    run.send_signal(sig)
    out, err = run.communicate(timeout=60)
    assert run.returncode == code, err
    assert err.strip().splitlines()[-1] == (
        f"lammps-uq label: interrupted ({name}); what was finished is kept: run the same "
        "command again to do the rest")
    assert "Traceback" not in err
    kept = len(frames())
    assert kept >= 1
    for started in cells.glob("out.extxyz.work/*/started"):  # no calculation left running
        with pytest.raises(ProcessLookupError):
            os.kill(int(started.read_text().split()[-1]), 0)
    rerun = start(label(calculator="mockcalc:good"), cells)
    out, err = rerun.communicate(timeout=120)
    assert f"{3 - kept} cells labelled, {kept} already there, 0 failed" in out, err
    assert len(frames()) == 3


def test_unwritable_output_is_refused_before_any_label(cells, capsys):
    """Items 8 and 14: c0886dd computed every label before finding the output unwritable, and
    said '[Errno 21] Is a directory' for -o DIR."""
    os.symlink("no/such/folder/out.extxyz", "out.extxyz")
    err = refused(capsys, "label", label(calculator="mockcalc:good"))
    assert err == ("lammps-uq label: --output: got 'out.extxyz', which cannot be written (No such "
                   "file or directory); expected a writable extxyz file")
    assert not list(cells.glob("out.extxyz.work/*/started"))
    os.mkdir("dir")
    err = refused(capsys, "label", ["label", "cells", "-o", "dir", "--calculator", "mockcalc:good"])
    assert err == ("lammps-uq label: --output: got 'dir' (a folder); expected the extxyz file "
                   "the labels are appended to, e.g. DIR/labelled.extxyz")


def test_truncated_failure_records_are_refused(cells, capsys):
    """Item 10: c0886dd: internal error (JSONDecodeError)."""
    Path("out.failed.json").write_text('{"cell_0_1')
    err = refused(capsys, "label", label(calculator="mockcalc:good"))
    assert err.startswith("lammps-uq label: --output: 'out.failed.json' is not valid JSON (")
    assert err.endswith("expected the failure records of lammps-uq label (delete the file to "
                        "start them afresh)")
    assert Path("out.failed.json").read_text() == '{"cell_0_1'
