"""fix uq's files: checked before step 0, started like dump's, never lost, never shared, every
write checked; fix-line messages that say what is wrong (issue 11)."""

from __future__ import annotations

import pytest

from test_fix_commands import GOOD, SELECT, frames_in, script

pytestmark = [pytest.mark.lammps]


def fix(extra: str = SELECT, every: int = 5) -> str:
    return f"{every} python {GOOD} elements Cu Ni {extra}"


# --- 10. a new fix starts its files, as dump does -----------------------------------------


def test_a_new_run_starts_its_files_even_when_it_selects_nothing(lammps_env, tmp_path):
    (tmp_path / "r.extxyz").write_text("an old region file of an earlier job\n")
    (tmp_path / "d.out").write_text("old devi lines\n")
    quiet = SELECT.replace("threshold 0.05", "threshold 50.0")
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(quiet), "run 10"))
    assert rc == 0, output[-2000:]
    assert (tmp_path / "r.extxyz").stat().st_size == 0
    lines = (tmp_path / "d.out").read_text().splitlines()
    assert lines[0].startswith("#       step") and len(lines) == 1 + 3


# --- 13. unfix + fix appends; two writers of one file are refused --------------------------


def test_unfix_and_fix_again_append_to_the_same_files(lammps_env, tmp_path):
    again = f"unfix mon\nfix mon all uq {fix()}\nrun 10"
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(), "run 10", after=again), 2)
    assert rc == 0, output[-2000:]
    assert "appending to region file r.extxyz, written by fix uq mon before" in output
    import ase.io

    steps = sorted({int(f.info["step"]) for f in ase.io.read(tmp_path / "r.extxyz", ":")})
    assert steps[0] <= 10 and steps[-1] > 10
    devi = [ln.split()[0] for ln in (tmp_path / "d.out").read_text().splitlines()]
    assert devi.count("#") == 1 and devi[1:] == ["0", "5", "10", "10", "15", "20"]


@pytest.mark.parametrize("nprocs", [1, 2])
def test_two_fixes_writing_one_file_are_refused(nprocs, lammps_env, tmp_path):
    second = f"fix other all uq {fix('devi ./sub/../d.out')}"
    (tmp_path / "sub").mkdir()
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(), "run 10", before=second), nprocs)
    assert rc != 0
    assert "devi file ./sub/../d.out is also written by fix uq mon" in output, output[-2000:]


def test_one_fix_writing_one_file_twice_is_refused(lammps_env, tmp_path):
    words = SELECT.replace("devi d.out", "devi r.extxyz")
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(words), "run 10"))
    assert rc != 0 and "writes file r.extxyz twice (file and devi)" in output, output[-2000:]


# --- 12, 14. every path checked before step 0, every write checked --------------------------


@pytest.mark.parametrize("nprocs", [1, 2])
@pytest.mark.parametrize("words,message", [
    ("file nodir/r.extxyz", "cannot use region file nodir/r.extxyz: its folder nodir cannot be "
                            "used (No such file or directory)"),
    ("file sub", "cannot use region file sub: it is a folder; expected a file name"),
    ("devi nodir/d.out", "cannot use devi file nodir/d.out: its folder nodir cannot be used"),
    ("devi /dev/full", "cannot start devi file /dev/full: No space left on device"),
], ids=["region folder missing", "region is a folder", "devi folder missing", "devi disk full"])
def test_output_paths_are_refused_before_step_0(words, message, nprocs, lammps_env, tmp_path):
    (tmp_path / "sub").mkdir()
    base = "threshold 0.05 separation 5.0 region 5.0 file r.extxyz devi d.out"
    key = words.split()[0]
    words = base.replace(f"{key} {'r.extxyz' if key == 'file' else 'd.out'}", words)
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(words, every=1), "run 10"), nprocs)
    assert rc != 0 and message in output, output[-2000:]
    assert "Step" not in output  # stopped before the thermo header of step 0


def test_carve_folder_is_checked_before_step_0(lammps_env, tmp_path):
    (tmp_path / "cells").write_text("a file where the folder should be\n")
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(SELECT + " carve cells --no-relax"),
                                                     "run 10"), 2)
    assert rc != 0 and "fix uq carve: got 'cells', which cannot be made a folder" in output
    assert "Step" not in output


# --- 8, 18. fix-line messages --------------------------------------------------------------


@pytest.mark.parametrize("words,message", [
    ("max_centres 4294967296", "fix uq max_centres: got '4294967296'; expected an integer from 1 "
                               "to 2147483647"),
    ("cooldown 99999999999999999999", "fix uq cooldown: got '99999999999999999999'"),
    ("threshold 0.1 threshold 0.2", "Fix uq keyword threshold is given twice"),
    ("threshold 0.1 error_threshold 0.2", "threshold and error_threshold exclude each other"),
], ids=["int wraps", "bigint wraps", "threshold twice", "both thresholds"])
def test_fix_line_messages(words, message, lammps_env, tmp_path):
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(words), "run 0"))
    assert rc != 0 and message in output, output[-2000:]


def test_too_many_elements_names_them_all(lammps_env, tmp_path):
    text = script(f"1 python {GOOD} elements Cu Ni Fe", "run 0")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc != 0 and "got 3 element(s) (Cu Ni Fe) for 2 atom types" in output, output[-2000:]


# --- 18, 19. an error on rank 0 alone reaches the screen and the log, every time -----------

FAILING_WRITER = '''
import os
import lammps_uq.fix.regions as regions
from lammps_uq.committee.evaluators.analytic import lj_committee

KIND = {kind!r}


def broken(path, atoms, start):
    with open(path, "a") as fh:
        fh.write("half a frame")
    if KIND == "interrupt":
        raise KeyboardInterrupt
    raise OSError(28, "No space left on device (simulated)")


def factory(elements):
    if int(os.environ.get("PMI_RANK", "0")) == 0:
        regions.append_frame = broken
    return lj_committee(elements)
'''


@pytest.mark.parametrize("kind,message", [
    ("oserror", "cannot write region file r.extxyz at step 0: OSError: [Errno 28] No space left"),
    ("interrupt", "cannot write region file r.extxyz at step 0: interrupted by the user (Ctrl-C)"),
])
def test_a_write_error_on_rank_0_reaches_screen_and_log_on_every_try(kind, message, lammps_env,
                                                                     tmp_path):
    for attempt in range(4):
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        (folder / "writer.py").write_text(FAILING_WRITER.format(kind=kind))
        text = script(f"5 python writer:factory elements Cu Ni {SELECT}", "run 10")
        rc, output = lammps_env.run_lmp(folder, text, 2)
        assert rc != 0 and message in output, output[-2000:]
        assert message in (folder / "log.test").read_text()
        assert (folder / "r.extxyz").read_text() == ""  # the half frame was cut back
