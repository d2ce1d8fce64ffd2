"""The consumer of region files (lammps-uq extract): whole frames only, each carved once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest

from lammps_uq import testing
from lammps_uq.cli import main
from lammps_uq.errors import InputError
from lammps_uq.extract.follow import FrameFollower, cut_torn_tail

WORDS = ["--molecules", "4", "--no-relax"]


def region_frames(n: int):
    frames = []
    for k in range(n):
        atoms = testing.water_box(64, seed=k)
        atoms.arrays["id"] = np.arange(1, len(atoms) + 1)
        atoms.info.update(step=10 * k, centre_id=1 + 3 * k, centre_s_local=0.1 + k)
        frames.append(atoms)
    return frames


def frame_bytes(atoms) -> bytes:
    import io

    buffer = io.StringIO()
    ase.io.write(buffer, atoms, format="extxyz")
    return buffer.getvalue().encode()


def test_follower_reads_whole_frames_and_never_a_torn_tail(tmp_path):
    path = tmp_path / "r.extxyz"
    a, b = (frame_bytes(f) for f in region_frames(2))
    follower = FrameFollower(path)
    assert follower.new_frames() == []  # not there yet
    path.write_bytes(a + b[: len(b) // 2])  # a writer in the middle of frame 1
    got = follower.new_frames()
    assert [k for k, _ in got] == [0] and got[0][1].info["centre_id"] == 1
    assert follower.new_frames() == []
    with open(path, "ab") as fh:
        fh.write(b[len(b) // 2:])
    got = follower.new_frames()
    assert [k for k, _ in got] == [1] and got[0][1].info["step"] == 10
    with open(path, "ab") as fh:
        fh.write(b[:-1])  # all but the last newline: still torn
    assert follower.new_frames() == []
    # a frame that lacks only its final newline is kept; one torn mid-number is cut
    assert cut_torn_tail(path) == len(a) + 2 * len(b)
    with open(path, "ab") as fh:
        fh.write(a[:-3])
    assert cut_torn_tail(path) == len(a) + 2 * len(b)
    assert len(ase.io.read(path, ":")) == 3


def test_follower_refuses_a_file_that_is_not_extxyz(tmp_path):
    path = tmp_path / "r.extxyz"
    path.write_text("this is not\nan extxyz file\n")
    with pytest.raises(InputError, match=r"^REGIONS: got .*r.extxyz', whose line b'this is not' "
                                         r"is not an atom count at frame 0 \(byte 0\); expected "
                                         r"extxyz frames"):
        FrameFollower(path).new_frames()


def test_extract_carves_each_frame_once_across_restarts(tmp_path, capsys):
    frames = region_frames(3)
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    ase.io.write(regions, frames[:2])
    assert main(["extract", str(regions), "-o", str(out), *WORDS, "--workers", "0"]) == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("cell_*.extxyz")}
    assert sorted(first) == ["cell_0_1_00000.extxyz", "cell_10_4_00001.extxyz"]
    ase.io.write(regions, frames[2], append=True)
    assert main(["extract", str(regions), "-o", str(out), *WORDS, "--workers", "0"]) == 0
    assert "1 cells written, 2 already there, 0 failed" in capsys.readouterr().out
    cells = {p.name: p.stat().st_mtime_ns for p in out.glob("cell_*.extxyz")}
    assert len(cells) == 3 and all(cells[name] == t for name, t in first.items())


def extract_process(regions, out, *extra):
    cmd = [sys.executable, "-m", "lammps_uq.cli", "extract", str(regions), "-o", str(out), *WORDS,
           "--follow", "--poll", "0.1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def test_follow_until_done_marker_and_killed_consumer_restarts(tmp_path):
    frames = region_frames(4)
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    regions.write_bytes(frame_bytes(frames[0]) + frame_bytes(frames[1])[:100])  # torn tail
    proc = extract_process(regions, out, "--workers", "0")
    wait_for(lambda: len(list(out.glob("cell_*.extxyz"))) == 1)
    proc.send_signal(signal.SIGKILL)  # killed mid-way
    proc.communicate()
    with open(regions, "ab") as fh:
        fh.write(frame_bytes(frames[1])[100:] + frame_bytes(frames[2]))
    proc = extract_process(regions, out, "--workers", "1")
    wait_for(lambda: len(list(out.glob("cell_*.extxyz"))) == 3)
    assert proc.poll() is None  # still following: no done marker yet
    with open(regions, "ab") as fh:
        fh.write(frame_bytes(frames[3]))
    (tmp_path / "r.extxyz.done").write_text(f"{os.path.getsize(regions)}\n")
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "3 cells written, 1 already there, 0 failed" in output
    names = sorted(p.name for p in out.glob("cell_*.extxyz"))
    assert names == [f"cell_{10 * k}_{1 + 3 * k}_{k:05d}.extxyz" for k in range(4)]


def test_follow_stops_when_the_writer_is_gone(tmp_path):
    regions, out = tmp_path / "r.extxyz", tmp_path / "cells"
    ase.io.write(regions, region_frames(1))
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    proc = extract_process(regions, out, "--workers", "0", "--until-pid", str(writer.pid))
    writer.wait()
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "1 cells written" in output, output


@pytest.mark.parametrize("argv,message", [
    (["extract", "{bad}", "-o", "{tmp}/c", *WORDS],
     "lammps-uq extract: REGIONS: got '{bad}', whose line b'hello' is not an atom count at frame "
     "0 (byte 0); expected extxyz frames (an atom count line, a comment line, then one line per "
     "atom)"),
    (["extract", "{good}", "-o", "{tmp}/file/c", *WORDS],
     "lammps-uq extract: --output: got '{tmp}/file/c', which cannot be made a folder (Not a "
     "directory); expected a writable folder"),
    (["extract", "{good}", "-o", "{tmp}/c", *WORDS, "--parsl-config", "{tmp}/broken.py"],
     "lammps-uq extract: --parsl-config: got '{tmp}/broken.py', which does not load "
     "(NameError: name 'nonsense' is not defined); expected a Python file that defines "
     "config = parsl.config.Config(...)"),
    (["extract", "{good}", "-o", "{tmp}/c", *WORDS, "--parsl-config", "{tmp}/good.py"],
     "lammps-uq extract: --parsl-config: got '{tmp}/good.py', whose config is dict; expected a "
     "Python file that defines config = parsl.config.Config(...)"),
    (["extract", "{good}", "-o", "{tmp}/c", *WORDS, "--workers", "-1"],
     "lammps-uq extract: --workers: got -1; expected an integer >= 0 (0: in this process)"),
], ids=["not extxyz", "unwritable folder", "parsl config does not load", "parsl config no Config",
        "workers"])
def test_extract_errors_are_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "bad.txt").write_text("hello\nworld\n")
    ase.io.write(tmp_path / "good.extxyz", region_frames(1))
    (tmp_path / "file").write_text("a file\n")
    (tmp_path / "broken.py").write_text("config = nonsense\n")
    (tmp_path / "good.py").write_text("config = {}\n")
    names = {"bad": tmp_path / "bad.txt", "good": tmp_path / "good.extxyz", "tmp": tmp_path}
    with pytest.raises(SystemExit) as exc:
        main([word.format(**names) for word in argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == message.format(**names)


@pytest.mark.lammps
@pytest.mark.mpi
def test_insitu_no_wait_leaves_the_consumer_carving(lammps_env, tmp_path):
    """fix uq ... carve DIR --no-wait: the run ends at once, the consumer finishes alone."""
    from test_carve import insitu_script

    lammps_env.write_data(testing.water_box(216, seed=2), tmp_path / "data.w", ["O", "H"])
    script = insitu_script(tmp_path / "data.w", "python lammps_uq.committee.evaluators.analytic:lj_committee",
                           "cells --molecules 8 --no-relax --no-wait")
    rc, output = lammps_env.run_lmp(tmp_path, script, 2)
    assert rc == 0, output[-3000:]
    assert "fix uq carve: the consumer carves on into cells (--no-wait" in output
    assert (tmp_path / "r.extxyz.done").read_text() == f"{os.path.getsize(tmp_path / 'r.extxyz')}\n"
    wait_for(lambda: "cells written" in (tmp_path / "cells" / "extract.log").read_text())
    assert "2 cells written, 0 already there, 0 failed" in (tmp_path / "cells" /
                                                           "extract.log").read_text()
    assert len(list((tmp_path / "cells").glob("cell_*.extxyz"))) == 2
