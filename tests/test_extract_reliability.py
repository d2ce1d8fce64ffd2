"""lammps-uq extract when things go wrong: bad --poll, torn tails, a region file that never
comes, failed frames recorded for a rerun, and cut_torn_tail never cutting silently."""

from __future__ import annotations

import fcntl
import io
import json
import queue
import signal
import subprocess
import sys
import threading
import time

import ase.io
import pytest

from lammps_uq.cli import main
from lammps_uq.extract.consumer import lock_folder
from lammps_uq.extract.follow import cut_torn_tail
from helpers import refused, require_ctrl_c
from test_consumer import WORDS, frame_bytes, region_frames

QUICK = ["--workers", "0", "--poll", "0.05"]


def extract_cli(regions, out, *extra, timeout: float = 60) -> subprocess.CompletedProcess:
    """``lammps-uq extract`` in its own process (a hang fails the test, not the session)."""
    cmd = [sys.executable, "-m", "lammps_uq.cli", "extract", str(regions), "-o", str(out),
           *WORDS, *QUICK, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def gone_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("poll,shown", [("-1", "-1.0"), ("nan", "nan"), ("inf", "inf"),
                                        ("0", "0.0")])
def test_poll_must_be_finite_and_positive(poll, shown, tmp_path, capsys):
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    ase.io.write(regions, region_frames(1))
    line = refused(capsys, "extract", ["extract", str(regions), "-o", str(out), *WORDS,
                                       "--poll", poll])  # without --follow too (no hang here)
    assert line == f"lammps-uq extract: --poll: got {shown}; expected seconds > 0 (a finite number)"
    assert not out.exists()  # refused before any work


def test_a_torn_tail_the_done_marker_covers_fails_its_frame(tmp_path):
    frames = region_frames(3)
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    whole = frame_bytes(frames[0]) + frame_bytes(frames[1])
    regions.write_bytes(whole + frame_bytes(frames[2])[:100])  # the writer died mid-frame
    (tmp_path / "r.extxyz.done").write_text(f"{len(whole) + 100}\n")
    done = extract_cli(regions, out, "--follow")
    assert done.returncode == 1, done.stderr
    failures = out / "extract.failed.json"
    assert f"2 cells written, 0 already there, 1 failed (reasons in {failures})" in done.stdout
    reason = (f"{str(regions)!r}: a torn last frame of 100 bytes (from byte {len(whole)}) was not "
              "carved; the done marker says its run has ended, so it can never become whole")
    assert f"lammps-uq extract: frame 2 failed: {reason}\n" in done.stderr
    assert "frame 2 failed" not in done.stdout
    assert json.loads(failures.read_text()) == {"2": {"reason": reason, "step": None}}
    # the frame made whole (and a new run's marker): a rerun carves it and clears its entry
    regions.write_bytes(whole + frame_bytes(frames[2]))
    (tmp_path / "r.extxyz.done").write_text(f"{regions.stat().st_size}\n")
    again = extract_cli(regions, out, "--follow")
    assert again.returncode == 0, again.stderr
    assert "1 cells written, 2 already there, 0 failed" in again.stdout
    assert json.loads(failures.read_text()) == {}


def test_a_torn_tail_left_by_a_writer_that_exited_fails_its_frame(tmp_path):
    frames = region_frames(2)
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    first = frame_bytes(frames[0])
    regions.write_bytes(first + frame_bytes(frames[1])[:-30])
    done = extract_cli(regions, out, "--follow", "--until-pid", str(gone_pid()))
    assert done.returncode == 1, done.stderr
    assert "1 cells written, 0 already there, 1 failed" in done.stdout
    tail = len(frame_bytes(frames[1])) - 30
    assert (f"lammps-uq extract: frame 1 failed: {str(regions)!r}: a torn last frame of {tail} "
            f"bytes (from byte {len(first)}) was not carved; the process that wrote it has "
            "exited, so it can never become whole\n") in done.stderr


@pytest.mark.parametrize("how", ["done marker", "until-pid"])
def test_following_a_file_that_never_came_is_refused(how, tmp_path, capsys):
    regions, out = tmp_path / "never.extxyz", tmp_path / "cells"
    if how == "done marker":
        extra = []
        (tmp_path / "never.extxyz.done").write_text("0\n")
    else:
        extra = ["--until-pid", str(gone_pid())]
    line = refused(capsys, "extract", ["extract", str(regions), "-o", str(out), *WORDS,
                                       *QUICK, "--follow", *extra])
    assert line == (f"lammps-uq extract: REGIONS: got {str(regions)!r} (no such file, and the run "
                    "that should write it has ended); expected the region file of fix uq")


def test_following_waits_for_the_file_to_appear(tmp_path):
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    cmd = [sys.executable, "-m", "lammps_uq.cli", "extract", str(regions), "-o", str(out),
           *WORDS, *QUICK, "--follow"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting = f"lammps-uq extract: waiting for REGIONS {str(regions)!r} to appear\n"
    try:
        said = queue.Queue()  # its first line on stderr (read aside: a test must not hang)
        threading.Thread(target=lambda: said.put(proc.stderr.readline()), daemon=True).start()
        first = said.get(timeout=60)
        ase.io.write(regions, region_frames(1))
        (tmp_path / "r.extxyz.done").write_text(f"{regions.stat().st_size}\n")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert first == waiting, first + stderr
    assert proc.returncode == 0, stderr
    assert "waiting for" not in stderr  # said once
    assert "1 cells written, 0 already there, 0 failed" in stdout


def test_the_lock_waiting_line_goes_to_stderr(tmp_path, capsys):
    out = tmp_path / "cells"
    out.mkdir()
    holder = open(out / ".extract.lock", "a")
    fcntl.flock(holder, fcntl.LOCK_EX)
    release = threading.Timer(0.5, holder.close)  # the other consumer finishes
    release.start()
    with lock_folder(out):
        pass
    release.join()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"lammps-uq extract: another consumer carves into {out}; waiting for "
                            "it\n")


def test_a_failed_frame_is_recorded_on_stderr_and_cleared_by_a_rerun(tmp_path, capsys):
    from lammps_uq import testing

    frames = region_frames(2)
    small = testing.water_box(8, seed=5)  # too few molecules for --molecules 16
    small.arrays["id"] = frames[1].arrays["id"][:len(small)]
    small.info.update(step=10, centre_id=1)
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    ase.io.write(regions, [frames[0], small])
    base = ["extract", str(regions), "-o", str(out), "--no-relax", "--workers", "0"]
    assert main(base + ["--molecules", "16"]) == 1
    captured = capsys.readouterr()
    assert "1 cells written, 0 already there, 1 failed" in captured.out
    assert "frame 1 failed" not in captured.out
    failed = [line for line in captured.err.splitlines() if "frame 1" in line]
    reason = "carve --molecules: got 16; the frame holds only 8 molecules"
    assert failed == [f"lammps-uq extract: frame 1 failed: {reason}"], captured.err
    failures = json.loads((out / "extract.failed.json").read_text())
    assert failures == {"1": {"reason": reason, "step": 10}}
    assert main(base + ["--molecules", "4"]) == 0  # carves only the missing cell
    assert "1 cells written, 1 already there, 0 failed" in capsys.readouterr().out
    assert json.loads((out / "extract.failed.json").read_text()) == {}


def plain_frames():
    """Two region frames: the last column a fixed-width integer (id)."""
    return region_frames(2)


def labelled_frames():
    """Two frames as label writes them: the last column a fixed-width float (REF_forces)."""
    import numpy as np

    frames = plain_frames()
    for k, frame in enumerate(frames):
        frame.arrays["REF_forces"] = np.random.default_rng(k).normal(size=(len(frame), 3))
        frame.info["REF_energy"] = -10.0 * (k + 1)
    return frames


def ase_text(frames) -> str:
    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    return buffer.getvalue()


@pytest.mark.parametrize("frames", [plain_frames, labelled_frames], ids=["regions", "labelled"])
def test_a_last_frame_without_its_final_newline_is_kept(frames, tmp_path, capsys):
    path = tmp_path / "labelled.extxyz"
    ase.io.write(path, frames(), format="extxyz")
    text = path.read_text()
    path.write_text(text[:-1])
    assert cut_torn_tail(path) == len(text)
    assert path.read_text() == text
    assert capsys.readouterr().err == (f"lammps-uq: {path}: its last frame had no final newline; "
                                       "added one\n")
    assert cut_torn_tail(path) == len(text) and capsys.readouterr().err == ""  # nothing to do


LAST_LINE = -1  # cut the whole last line, newline included


@pytest.mark.parametrize("frames,cut", [
    (plain_frames, 2), (labelled_frames, 3), (labelled_frames, 9), (plain_frames, 4),
    (labelled_frames, 40), (labelled_frames, LAST_LINE), (labelled_frames, LAST_LINE - 1)],
    ids=["mid-number int", "mid-number float", "float cut to its point", "last field gone",
         "mid-line", "last line gone", "last line and the newline before it gone"])
def test_a_torn_last_frame_is_cut_and_told(frames, cut, tmp_path, capsys):
    frames = frames()
    path = tmp_path / "labelled.extxyz"
    ase.io.write(path, frames, format="extxyz")
    text = path.read_text()
    if cut < 0:
        cut = len(text.splitlines(keepends=True)[-1]) + (LAST_LINE - cut)
    path.write_text(text[:-cut])
    kept = len(ase_text(frames[0]))
    assert cut_torn_tail(path) == kept
    assert path.read_text() == text[:kept]
    torn = len(text) - cut - kept
    assert capsys.readouterr().err == (f"lammps-uq: {path}: cut a torn last frame of {torn} bytes "
                                       "(a run killed mid-write); it will be done again\n")


@pytest.mark.parametrize("sig,code,name", [(signal.SIGTERM, 143, "SIGTERM"),
                                           (signal.SIGINT, 130, "Ctrl-C")])
def test_an_interrupted_consumer_keeps_its_cells_and_says_so_in_one_line(sig, code, name,
                                                                         tmp_path):
    """Item 14: c0886dd printed a traceback on Ctrl-C (and died silently on SIGTERM)."""
    require_ctrl_c(sig)
    frames = region_frames(2)
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    regions.write_bytes(frame_bytes(frames[0]))  # the run still going: no marker
    cmd = [sys.executable, "-m", "lammps_uq.cli", "extract", str(regions), "-o", str(out),
           *WORDS, *QUICK, "--follow"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob("cell_*.extxyz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"lammps-uq extract: interrupted ({name}); what was finished is kept: run the same "
        "command again to do the rest")
    regions.write_bytes(frame_bytes(frames[0]) + frame_bytes(frames[1]))
    again = extract_cli(regions, out)
    assert "1 cells written, 1 already there, 0 failed" in again.stdout, again.stderr
