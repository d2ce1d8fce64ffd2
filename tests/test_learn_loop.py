"""lammps-uq learn end to end: a 1-iteration, 2-member, tiny-model loop on 2 ranks with xTB
labels; the loop killed while labelling and while training ends with the same files; a
labeller that fails every cell stops the loop with its reason and keeps the state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest

from lammps_uq.cli import main

import learn_helpers

pytestmark = [pytest.mark.lammps, pytest.mark.mpi, pytest.mark.slow]
TESTS = Path(__file__).parent


def loop_process(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "lammps_uq.cli", "learn", "learn.toml"],
                            cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, lammps_env):
    """An uninterrupted loop (the slow labeller, so the kill test can compare with it)."""
    folder = tmp_path_factory.mktemp("learn")
    learn_helpers.make_inputs(folder, labeller="learn_helpers:slow_xtb")
    start = time.monotonic()
    proc = loop_process(folder)
    output = proc.communicate(timeout=1500)[0]
    assert proc.returncode == 0, output[-4000:]
    print(f"tiny loop: {time.monotonic() - start:.0f} s")
    return folder, output


def test_tiny_loop_end_to_end(finished):
    folder, output = finished
    work, it = folder / "work", folder / "work" / "iter_001"
    assert "learn: iteration 1/1" in output and "done: 1 iterations" in output
    start = (it / "explore" / "run_0" / "start.data").read_bytes()  # explore.start_data
    assert start in [p.read_bytes() for p in (folder / "eq").glob("start_*.data")]
    assert "-var start_data start.data" in output
    prov = json.loads((it / "provenance.json").read_text())
    fix_centres = prov["counts"]["centres_selected_by_fix"]
    assert fix_centres >= 2  # threshold ~0: a centre at every check
    regions = ase.io.read(it / "regions.extxyz", ":")
    assert len(regions) == 2 == prov["counts"]["centres"]  # max_centres
    s_all = sorted(float(f.info["centre_s_local"]) for f in ase.io.read(
        it / "explore" / "run_0" / "uq_regions.extxyz", ":"))
    assert sorted(float(f.info["centre_s_local"]) for f in regions) == s_all[-2:]
    labelled = ase.io.read(it / "labelled.extxyz", ":")
    assert sorted(f.info["cell_id"] for f in labelled) == sorted(
        p.stem for p in (it / "cells").glob("cell_*.extxyz"))
    assert len(labelled) == 2
    from tblite.ase import TBLite

    for frame in labelled:  # an independent xTB single point of the carved cell
        cell = ase.io.read(it / "cells" / f"{frame.info['cell_id']}.extxyz")
        cell.calc = TBLite(verbosity=0, method="GFN2-xTB", electronic_temperature=300.0)
        assert frame.info["REF_energy"] == pytest.approx(cell.get_potential_energy(), abs=1e-6)
        assert np.allclose(frame.arrays["REF_forces"], cell.get_forces(), atol=1e-6)
    # 3 of the 4 initial frames (1 held out) + both cells (floor(0.25 * 2) = 0 held out)
    assert len(ase.io.read(it / "train.extxyz", ":")) == 5
    models = sorted((it / "committee").glob("member_*.model"))
    assert [m.name for m in models] == ["member_30101.model", "member_30102.model"]
    calibration = json.loads((it / "committee" / "calibration.json").read_text())
    assert calibration["n_models"] == 2 and calibration["alpha_structure"] > 0
    from lammps_uq.committee.calculator import CommitteeCalculator

    test = ase.io.read(folder / "test.extxyz", ":")
    calc = CommitteeCalculator([str(m) for m in models])
    calc.calculate(test[0])
    mae = np.abs(calc.results["forces"] - test[0].arrays["REF_forces"]).mean()
    errors = json.loads((it / "test_errors.json").read_text())
    assert errors["force_mae"][0] == pytest.approx(mae, rel=1e-6)
    assert prov["versions"]["mace-torch"] and prov["training"]["members"] == [30101, 30102]
    e0s = json.loads((work / "e0s.json").read_text())  # the labeller's isolated atoms
    for symbol in ("H", "O"):
        atom = ase.Atoms(symbol)
        atom.calc = TBLite(verbosity=0, method="GFN2-xTB", electronic_temperature=300.0)
        assert e0s["energies"][symbol] == pytest.approx(atom.get_potential_energy(), abs=1e-6)
    assert prov["training"]["hyperparameters"]["E0s"] == (
        f"{{1: {e0s['energies']['H']!r}, 8: {e0s['energies']['O']!r}}}")
    assert set(prov["timings_s"]) >= {"explore", "extract", "label", "train", "calibrate"}


def test_started_again_redoes_nothing_and_reports(finished, capsys):
    folder, _ = finished
    work = folder / "work"
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    records = {k: json.loads((work / f"iter_00{k}" / "provenance.json").read_text())
               ["training"] for k in (0, 1)}
    trained = {k: r["train_seconds"] for k, r in records.items() if "adopted" not in r}
    assert trained
    os.chdir(folder)
    assert main(["learn", "learn.toml"]) == 0
    after = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    for k, seconds in trained.items():  # the rerun trained nothing and forgot nothing
        again = json.loads((work / f"iter_00{k}" / "provenance.json").read_text())
        assert len(seconds) == 2 and again["training"]["train_seconds"] == seconds
    changed = [p for p in before if after[p] != before[p] and p.name != "provenance.json"]
    assert not changed
    assert main(["learn", "report", "work"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split() for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1"] and rows[1][2:4] == ["2", "2"]
    assert (work / "learning_curve.png").stat().st_size > 10000


def stable_files(work: Path) -> dict:
    """The state's data files (not logs, timings or mace's scratch) and their content."""
    files = {}
    for path in sorted(work.rglob("*")):
        rel = path.relative_to(work)
        if not path.is_file() or rel.parts[1:2] == ("train",) or path.suffix in (".out", ".log") \
                or path.name in ("provenance.json", "config.json", "config.toml", ".done") or \
                path.suffix == ".png" or \
                path.name.endswith(".model") or path.parts[-2] == "run_0":
            continue
        if path.name == "labelled.extxyz":  # appended in completion order; xTB's sums may
            frames = sorted(ase.io.read(path, ":"), key=lambda f: f.info["cell_id"])  # differ
            files[str(rel)] = [(f.info["cell_id"], pytest.approx(f.info["REF_energy"], rel=1e-9,
                                                                 abs=0)) for f in frames]
        elif path.suffix == ".extxyz":
            # provenance (label_source) names cells by absolute path: the two runs' folders differ
            files[str(rel)] = Tokens(path.read_text().replace(str(work), "WORK"))
        else:
            files[str(rel)] = path.read_bytes()
    return files


class Tokens:
    """An extxyz file's words; numbers equal to 1e-9 relative (xTB's multithreaded sums may
    differ in the last printed digit when a killed run labels a cell in another process)."""

    def __init__(self, text: str):
        self.words = re.split(r'[\s"=]+', text)  # key="1 2 3" -> key, 1, 2, 3

    def __eq__(self, other) -> bool:
        if len(self.words) != len(other.words):
            return False
        for a, b in zip(self.words, other.words):
            if a != b:
                try:
                    x, y = float(a), float(b)
                except ValueError:
                    return False
                if abs(x - y) > 1e-9 * max(abs(x), abs(y), 1.0):
                    return False
        return True

    def __repr__(self) -> str:
        return f"<{len(self.words)} words>"


def test_killed_while_labelling_and_training_ends_the_same(finished, tmp_path):
    reference, _ = finished
    # one worker: cells are labelled one after the other, so the kill lands between two labels
    # (with two workers both cells could finish within one poll, before the kill)
    learn_helpers.make_inputs(tmp_path, labeller="learn_helpers:slow_xtb", workers=1)
    it = tmp_path / "work" / "iter_001"
    proc = loop_process(tmp_path)
    learn_helpers.wait_for(lambda: (it / "labelled.extxyz").exists() and
             (it / "labelled.extxyz").stat().st_size > 0, proc)
    learn_helpers.kill(proc)
    assert not (it / "labelled.done").exists()
    proc = loop_process(tmp_path)
    learn_helpers.wait_for(lambda: any((it / "train").glob("member_*/mace_run_train.log")), proc)
    learn_helpers.kill(proc)
    assert len(list((it / "committee").glob("*.model"))) < 2
    proc = loop_process(tmp_path)
    output = proc.communicate(timeout=1500)[0]
    assert proc.returncode == 0, output[-3000:]
    got, want = stable_files(tmp_path / "work"), stable_files(reference / "work")
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
    for model in sorted((reference / "work" / "iter_001" / "committee").glob("*.model")):
        assert (it / "committee" / model.name).exists()


def test_a_labeller_that_fails_every_cell_stops_the_loop(lammps_env, tmp_path, capsys):
    learn_helpers.make_inputs(tmp_path, labeller="learn_helpers:failing", selection="random",
                              workers=0, e0s="average")  # isolated atoms would fail first
    os.chdir(tmp_path)
    assert main(["learn", "learn.toml"]) == 1
    out = capsys.readouterr().out
    it = tmp_path / "work" / "iter_001"
    stopped = json.loads((tmp_path / "work" / "STOPPED").read_text())
    assert stopped["iteration"] == 1
    assert "every one of the 2 cells failed to label" in stopped["reason"]
    assert "SCF not converged after 250 cycles" in stopped["reason"]
    assert "stopped: label: every one" in out
    failures = json.loads((it / "labelled.failed.json").read_text())
    assert len(failures) == 2
    regions = ase.io.read(it / "regions.extxyz", ":")  # the random baseline's centres
    assert len(regions) == 2 and all(r.info["selection"] == "random" for r in regions)
    assert all(len(r) == 96 for r in regions)  # whole checked frames of the 32-molecule box
    assert len(list((it / "cells").glob("cell_*.extxyz"))) == 2
    assert (tmp_path / "work" / "iter_000" / "committee" / "calibration.json").exists()
    assert not (it / "committee").exists()
