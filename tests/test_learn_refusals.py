"""lammps-uq learn refuses bad input in one line before any work (issue 21): nothing is
written into work_dir by a refused start, relative paths are the config's, a broken state file
is named with what to do, and template variables in the fix uq line are resolved or refused.

The loop's work itself is not run: ``iterate`` is replaced by a recorder once the start passed.
"""

from __future__ import annotations

import json
import shutil

import pytest

from lammps_uq.cli import main
from lammps_uq.errors import InputError
from lammps_uq.learn import loop
from lammps_uq.learn.explore import prepared_input, run_variables
from lammps_uq.learn.state import read_json

import learn_helpers
from helpers import refused

PARSL = ("from parsl.config import Config\nfrom parsl.executors.threads import "
         "ThreadPoolExecutor\nconfig = Config(executors=[ThreadPoolExecutor(max_threads=1)])\n")


started: list = []  # the arguments of every iterate() call


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The tiny inputs of the loop tests (a random 2-member committee: no training)."""
    folder = tmp_path_factory.mktemp("inputs")
    learn_helpers.make_inputs(folder)
    return folder


@pytest.fixture
def folder(inputs, tmp_path, monkeypatch):
    """A fresh copy of the inputs; the loop stops after its start (``started`` records it)."""
    copy = tmp_path / "inputs"
    shutil.copytree(inputs, copy)
    monkeypatch.setattr(loop, "iterate", lambda *args: started.append(args))
    started.clear()
    return copy


def edit(folder, old: str, new: str):
    config = folder / "learn.toml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))
    return config


def test_a_typo_writes_nothing_and_the_corrected_config_starts(folder, capsys):
    config = edit(folder, 'initial_data = "init.extxyz"', 'initial_data = "inti.extxyz"')
    line = refused(capsys, "learn", ["learn", str(config)])
    assert "CONFIG: initial_data: got" in line and "inti.extxyz' (no such file)" in line
    assert not (folder / "work").exists()
    edit(folder, "inti.extxyz", "init.extxyz")
    assert main(["learn", str(config)]) == 0
    assert read_json(folder / "work" / "config.json")["fingerprint"]
    assert len(started) == 1 and len(started[0][-1]) == 4  # the 4 initial frames, read once


@pytest.mark.parametrize("old, new, expected", [
    ('test_data = "test.extxyz"', 'test_data = "tset.extxyz"',
     "CONFIG: test_data: got '"),
    ('test_data = "test.extxyz"', 'test_data = "plain.extxyz"',
     "CONFIG: test_data: frame 0 of 'plain.extxyz' has no REF_energy/REF_forces"),
    ('initial_data = "init.extxyz"', 'initial_data = "plain.extxyz"',
     "CONFIG: initial_data: frame 0 of 'plain.extxyz' has no REF_energy/REF_forces"),
    ('initial_committee = "tiny/member_*.model"', 'initial_committee = "tiny/membre_*.model"',
     "CONFIG: initial_committee: no model file matches"),
    ("workers = 2", 'workers = 2\nparsl_config = "no_parsl.py"',
     "CONFIG: executor.parsl_config: got '"),
    ("workers = 2", 'workers = 2\nparsl_config = "broken.py"',
     "broken.py', which does not load (NameError"),
    ('calculator = "xtb"', 'calculator = "vasp"\ncalculator_config = "dft.toml"',
     "--calculator-config: got '"),
])
def test_every_input_is_checked_before_work(folder, capsys, old, new, expected):
    import ase
    import ase.io

    ase.io.write(folder / "plain.extxyz", ase.Atoms("H2O", positions=[[0, 0, 0], [1, 0, 0],
                                                                      [0, 1, 0]]))
    (folder / "broken.py").write_text("config = Confg()\n")
    line = refused(capsys, "learn", ["learn", str(edit(folder, old, new))])
    assert expected in line, line
    assert not (folder / "work").exists() and not started


def test_parsl_config_is_relative_to_the_config(folder, tmp_path, monkeypatch):
    from contextlib import contextmanager

    import lammps_uq.extract.executors as executors

    pytest.importorskip("parsl")
    given = []

    @contextmanager
    def running(settings):  # an ExecutorSettings
        given.append(settings.parsl_config)
        yield None

    monkeypatch.setattr(executors, "running", running)
    (folder / "parsl_local.py").write_text(PARSL)
    config = edit(folder, "workers = 2", 'workers = 2\nparsl_config = "parsl_local.py"')
    config = edit(folder, "ranks = 2", "ranks = 1")  # its thread executor is not MPI-capable
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["learn", str(config)]) == 0
    assert given == [str((folder / "parsl_local.py").resolve())] and started


def test_test_errors_never_writes_an_empty_file(inputs, tmp_path):
    from lammps_uq.learn.fit import test_errors

    out = tmp_path / "test_errors.json"
    with pytest.raises(InputError, match="test_data: got no frame"):
        test_errors([], sorted((inputs / "tiny").glob("member_*.model")), out)
    assert not out.exists()


def test_truncated_state_is_named_with_what_to_do(folder, capsys):
    config = folder / "learn.toml"
    assert main(["learn", str(config)]) == 0
    work = folder / "work"
    (work / "config.json").write_text('{"fingerp')
    line = refused(capsys, "learn", ["learn", str(config)])
    assert f"work_dir: '{work / 'config.json'}' is not valid JSON (" in line
    assert "expected the state lammps-uq learn writes: if CONFIG's settings are those" in line
    (work / "config.json").write_text("")
    assert "config.json' is not valid JSON (Expecting value: line 1 column 1" in refused(
        capsys, "learn", ["learn", "report", str(work)])


def test_report_refuses_broken_state_and_folders(folder, tmp_path, capsys):
    assert main(["learn", str(folder / "learn.toml")]) == 0
    work = folder / "work"
    (work / "iter_001").mkdir()
    (work / "iter_001" / "provenance.json").write_text('{"timings_s": {"expl')
    line = refused(capsys, "learn", ["learn", "report", str(work)])
    assert f"'{work / 'iter_001' / 'provenance.json'}' is not valid JSON" in line
    assert "delete it (a record only" in line
    (work / "iter_001" / "provenance.json").write_text("[]")
    assert "holds a list, not a table" in refused(capsys, "learn", ["learn", "report", str(work)])
    (work / "iter_001" / "provenance.json").unlink()
    (work / "config.toml").write_text("[report\n")
    assert "config.toml' is not readable TOML" in refused(capsys, "learn",
                                                          ["learn", "report", str(work)])
    for target, problem in [(tmp_path / "nowhere", "no such folder"),
                            (folder / "learn.toml", "not a folder"),
                            (folder, "no config.json in it")]:
        line = refused(capsys, "learn", ["learn", "report", str(target)])
        assert f"DIR: got '{target}' ({problem}); expected the work_dir" in line
    line = refused(capsys, "learn", ["learn", "report", str(work), "--bins", "2", "-o",
                                     str(tmp_path / "no" / "curve.png")])
    assert line.startswith("lammps-uq learn: -o/--output: got") and "no folder" in line


def test_split_json_says_redo(tmp_path):
    (tmp_path / "split.json").write_text('{"seed": [1,')
    with pytest.raises(InputError, match="split.json' is not valid JSON .*delete the file to "
                                         "redo that stage, or use a new work_dir"):
        read_json(tmp_path / "split.json")


VARIABLE_FIX = """variable        every index 5
variable        thr equal v_x*2
variable        steps index 10
units metal
fix             mon all uq ${every} mace ${committee} elements O H drive mean &
                threshold ${thr} file ${regions}_$i.extxyz carve cells --molecules 4
run             ${steps}
"""


def test_fix_line_variables_are_resolved(tmp_path):
    path = tmp_path / "in.var"
    path.write_text(VARIABLE_FIX)
    variables = run_variables(10, 3, {"regions": "uq", "i": 3, "committee": "x"})
    text, fix = prepared_input(path, True, variables)
    assert (fix.fix_id, fix.every, fix.elements, fix.regions) == ("mon", 5, ["O", "H"],
                                                                  "uq_3.extxyz")
    assert "fix mon all uq ${every} mace ${committee} elements O H drive mean threshold ${thr} " \
           "file ${regions}_$i.extxyz" in text  # LAMMPS substitutes the words it runs
    assert "fix learn_smax all ave/time 5 1 5 f_mon[2] file learn_smax.dat" in text
    assert "dump learn_frames all custom 5 learn_frames.dump" in text
    _, fix = prepared_input(path, False, run_variables(10, 1, {"regions": "r", "i": 0,
                                                               "every": 7}))
    assert (fix.every, fix.regions) == (7, "r_0.extxyz")  # -var wins over the template's


def test_run_variables_are_what_lammps_keeps():
    assert run_variables(10, 2, {"steps": 99, "iteration": 5, "committee": "a", "hot": True}) \
        == {"steps": "10", "iteration": "5", "hot": "true"}


@pytest.mark.parametrize("fix, word", [
    ("fix mon all uq ${every} mace ${committee} elements O H file r.extxyz", "${every}"),
    ("fix mon all uq $(2*5) mace ${committee} elements O H file r.extxyz", "$(2*5)"),
    ("fix mon all uq ${thr} mace ${committee} elements O H file r.extxyz", "${thr}"),
    ("fix mon all uq 5 mace ${committee} elements O H file ${where}/r.extxyz", "${where}/r.extxyz"),
])
def test_unresolvable_fix_variables_are_refused_before_work(folder, capsys, fix, word):
    text = learn_helpers.TEMPLATE.splitlines()
    start = next(k for k, ln in enumerate(text) if ln.startswith("fix             mon"))
    text[start:start + 3] = ["variable thr equal v_x*2", fix]
    (folder / "in.tiny").write_text("\n".join(text) + "\n")
    line = refused(capsys, "learn", ["learn", str(folder / "learn.toml")])
    assert f"explore.templates: got '{folder / 'in.tiny'}', whose fix uq line has {word!r}" in line
    assert "which the loop cannot resolve; expected a value, or a variable of explore." in line
    assert not (folder / "work").exists()


def test_fix_variable_from_explore_variables_starts(folder):
    text = learn_helpers.TEMPLATE.replace("uq 5 mace", "uq ${every} mace")
    (folder / "in.tiny").write_text(text)
    config = edit(folder, "ranks = 2", "ranks = 2\nvariables = { every = 5 }")
    assert main(["learn", str(config)]) == 0 and started
    assert json.loads((folder / "work" / "config.json").read_text())["fingerprint"]


@pytest.mark.parametrize("value,expected", [
    ('"foo"', "got 'foo'; expected 'isolated', 'average' or a table of element symbols to "
              "energies (eV)"),
    ('{ H = "x", O = -2.5 }', "got {'H': 'x', 'O': -2.5}; expected 'isolated', 'average' or a "
                              "table of element symbols to energies (eV)"),
    ("{ H = -1.5 }", "got no energy for O; expected one for every element of the loop (H, O)"),
])
def test_e0s_settings_are_checked_before_any_work(value, expected, folder, capsys):
    config = edit(folder, 'e0s = "isolated"', f"e0s = {value}")
    line = refused(capsys, "learn", ["learn", str(config)])
    assert line == f"lammps-uq learn: CONFIG: train.e0s: {expected}"
    assert not (folder / "work").exists()


def test_e0s_given_as_a_table_are_kept(folder):
    config = edit(folder, 'e0s = "isolated"', "e0s = { H = -1.5, O = -2.5 }")
    assert main(["learn", str(config)]) == 0 and len(started) == 1
    assert read_json(folder / "work" / "e0s.json") == {"method": "given (train.e0s)",
                                                       "energies": {"H": -1.5, "O": -2.5}}
    from lammps_uq.learn.e0s import e0s_argument

    assert e0s_argument(folder / "work") == "{1: -1.5, 8: -2.5}"


def test_a_labeller_that_cannot_do_isolated_atoms_stops_the_loop(folder, capsys):
    config = edit(folder, 'calculator = "xtb"', 'calculator = "learn_helpers:failing"')
    assert main(["learn", str(config)]) == 1 and not started
    reason = read_json(folder / "work" / "STOPPED")["reason"]
    assert reason == ("e0s: learn_helpers:failing failed on an isolated H atom (RuntimeError: "
                      "SCF not converged after 250 cycles (test labeller)); expected it to "
                      "compute one, or set train.e0s = \"average\" or a table of energies")


def test_test_frames_are_never_trained_on(folder, capsys):
    """Issue 22: learn refuses to use a test-set frame for training."""
    import ase.io

    from lammps_uq.learn.config import load
    from lammps_uq.learn.state import LearnStopped

    initial = ase.io.read(folder / "init.extxyz", ":")
    test = ase.io.read(folder / "test.extxyz", ":")
    ase.io.write(folder / "init.extxyz", initial + [test[1]])
    line = refused(capsys, "learn", ["learn", str(folder / "learn.toml")])
    assert line == (f"lammps-uq learn: CONFIG: initial_data: frame {len(initial)} is frame 1 of "
                    "test_data 'test.extxyz'; expected training frames that are never test "
                    "frames")
    assert not (folder / "work").exists()
    # a training set that picked up a test frame later (cells, a resumed loop) stops the loop
    cfg = load(folder / "learn.toml")
    (folder / "w" / "iter_000").mkdir(parents=True)
    ase.io.write(folder / "w" / "iter_000" / "train_new.extxyz", initial + [test[0]])
    with pytest.raises(LearnStopped, match="the training set of iteration 0: frame 4 is frame 0"):
        loop.write_training_set(cfg, folder / "w", folder / "w" / "iter_000", 0)
    assert not (folder / "w" / "iter_000" / "train.extxyz").exists()
