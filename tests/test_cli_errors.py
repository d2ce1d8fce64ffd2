"""Every subcommand of ``lammps-uq`` answers garbage with one line and a non-zero exit
(issue 11, items 11, 15, 16, 17, 18): no traceback unless ``-T`` asks for it."""

from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pytest

from lammps_uq import testing
from lammps_uq.cli import main
from lammps_uq.errors import InputError

from helpers import refused


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Garbage and good inputs: frames with s_local and labels, a tiny H/O committee."""
    import ase.io

    folder = tmp_path_factory.mktemp("inputs")
    (folder / "empty.extxyz").write_bytes(b"")
    (folder / "binary.extxyz").write_bytes(bytes(range(256)) * 4)
    (folder / "text.extxyz").write_text("hello\nworld\n")
    (folder / "folder.extxyz").mkdir()
    water = testing.water_box(8, seed=1)
    water.arrays["s_local"] = np.linspace(0.0, 1.0, len(water))
    water.arrays["REF_forces"] = np.zeros((len(water), 3))
    ase.io.write(folder / "water.extxyz", water)
    copper = water.copy()
    copper.numbers[:] = 29
    ase.io.write(folder / "copper.extxyz", copper)
    ase.io.write(folder / "plain.extxyz", testing.water_box(8, seed=2))
    models = []
    if _has_mace():
        models = testing.tiny_water_committee(folder / "models")
    return folder, models


def _has_mace() -> bool:
    try:
        import mace  # noqa: F401
    except ImportError:
        return os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1"
    return True


def committee(files) -> list[str]:
    if not files[1]:
        pytest.skip("mace is not installed")
    return files[1]


GARBAGE = {"missing": "no such file", "empty": "an empty file", "binary": "unreadable at frame 0",
           "text": "unreadable at frame 0", "folder": "a folder"}
COMMANDS = {
    "select": lambda f, out: ["select", f, "--threshold", "0.1"],
    "carve": lambda f, out: ["carve", f, "-o", out, "--no-relax"],
    "calibrate": lambda f, out: ["calibrate", f, "--committee", "a.model", "b.model", "-o", out],
}


@pytest.mark.parametrize("kind", GARBAGE)
@pytest.mark.parametrize("command", COMMANDS)
def test_garbage_frame_files(command, kind, files, tmp_path, capsys):
    path = str(files[0] / f"{kind}.extxyz")
    line = refused(capsys, command, COMMANDS[command](path, str(tmp_path / "out")))
    assert repr(path) in line and GARBAGE[kind] in line and "expected" in line
    assert "carve" not in line.split(":", 1)[1] or command == "carve"


SELECT = [
    (["--max-centres", "0"], "--max-centres: got 0; expected an integer from 1 to 2147483647"),
    (["--max-centres", "4294967296"], "--max-centres: got 4294967296; expected an integer"),
    (["--cooldown", "-1"], "--cooldown: got -1; expected an integer from 0 to"),
    (["--rcut", "0"], "--rcut: got 0.0; expected a finite number > 0"),
    (["--separation", "-2"], "--separation: got -2.0; expected a finite number > 0"),
    (["--alpha", "-1"], "--alpha: got -1.0; expected a finite number > 0"),
    (["--alpha", "nan"], "--alpha: got nan; expected a finite number > 0"),
]


@pytest.mark.parametrize("extra,message", SELECT, ids=[" ".join(e) for e, _ in SELECT])
def test_select_refuses_what_the_fix_refuses(extra, message, files, capsys):
    path = str(files[0] / "water.extxyz")
    line = refused(capsys, "select", ["select", path, "--threshold", "0.1", *extra])
    assert line.startswith(f"lammps-uq select: {message}")
    for threshold in ("--threshold", "--error-threshold"):
        line = refused(capsys, "select", ["select", path, threshold, "-0.5"])
        assert line == f"lammps-uq select: {threshold}: got -0.5; expected a finite number > 0"


def test_select_without_s_local_or_committee(files, capsys):
    line = refused(capsys, "select", ["select", str(files[0] / "plain.extxyz"),
                                      "--threshold", "0.1"])
    assert "frame 0 has no per-atom s_local" in line and "--committee" in line
    assert main(["select", str(files[0] / "water.extxyz"), "--threshold", "0.9",
                 "--separation", "100"]) == 0
    assert capsys.readouterr().out.split() == ["0", "24"]


def test_committee_garbage(files, tmp_path, capsys):
    models = committee(files)
    water, copper = str(files[0] / "water.extxyz"), str(files[0] / "copper.extxyz")
    cases = {
        "select": ["select", copper, "--threshold", "0.1", "--committee", *models],
        "calibrate": ["calibrate", copper, "--committee", *models, "-o", str(tmp_path)],
        "carve": ["carve", copper, "-o", str(tmp_path / "c"), "--centre-index", "0",
                  "--radius", "2", "--committee", *models],
    }
    for command, argv in cases.items():
        line = refused(capsys, command, argv)
        assert "element(s) Cu not in the committee" in line and "(H, O)" in line, line
    for command, argv in {"select": ["select", water, "--threshold", "0.1"],
                          "calibrate": ["calibrate", water, "-o", str(tmp_path)]}.items():
        line = refused(capsys, command, argv + ["--committee", models[0]])
        assert "--committee: got 1 model file(s)" in line and "expected at least 2" in line
        line = refused(capsys, command, argv + ["--committee", models[0], models[0]])
        assert "are the same file" in line
        line = refused(capsys, command, argv + ["--committee", models[0], "nothere.model"])
        assert "--committee: cannot read model file 'nothere.model'" in line


def test_carve_garbage(files, tmp_path, capsys):
    water = str(files[0] / "water.extxyz")
    base = ["carve", water, "--centre-index", "0", "--molecules", "2"]
    (tmp_path / "a_file").write_text("x")
    line = refused(capsys, "carve", base + ["-o", str(tmp_path / "a_file"), "--no-relax"])
    assert line.startswith(f"lammps-uq carve: --output: got {str(tmp_path / 'a_file')!r}")
    line = refused(capsys, "carve", base + ["-o", str(tmp_path / "o"), "--no-relax",
                                            "--committee", "missing.model", "b.model"])
    assert line == ("lammps-uq carve: --no-relax: got it with --committee missing.model b.model; "
                    "expected one of them (--committee relaxes the border, --no-relax not)")
    line = refused(capsys, "carve", base + ["-o", str(tmp_path / "o"), "--committee",
                                            "missing.model", "b.model"])
    assert line.startswith("lammps-uq carve: --committee: cannot read model file 'missing.model'")
    line = refused(capsys, "carve", base + ["-o", str(tmp_path / "o"), "--no-relax", "--box",
                                            "nan"])
    assert line == "lammps-uq carve: --box: got nan; expected a finite number"
    assert not (tmp_path / "o").exists()


def test_calibrate_garbage(files, tmp_path, capsys):
    water = str(files[0] / "water.extxyz")
    base = ["calibrate", water, "--committee", "a.model", "b.model"]
    line = refused(capsys, "calibrate", base + ["--rcut", "2", "0"])
    assert line == "lammps-uq calibrate: --rcut: got 0.0; expected a finite number > 0"
    line = refused(capsys, "calibrate", base + ["--plot", str(tmp_path / "no" / "c.png")])
    assert line.startswith("lammps-uq calibrate: --plot: got ") and "no folder" in line
    line = refused(capsys, "calibrate", ["calibrate", str(files[0] / "plain.extxyz"),
                                         "--committee", "a", "b"])
    assert "has no reference forces" in line


@pytest.fixture
def labelled_models(files, tmp_path):
    """A private copy of the tiny committee (the calibration is written next to it)."""
    folder = tmp_path / "models"
    folder.mkdir()
    return [str(shutil.copy(p, folder)) for p in committee(files)]


def test_calibrate_never_overwrites_without_force(files, labelled_models, tmp_path, capsys):
    water = str(files[0] / "water.extxyz")
    argv = ["calibrate", water, "--committee", *labelled_models, "--rcut", "2",
            "--plot", str(tmp_path / "c.png")]
    target = tmp_path / "models" / "calibration.json"
    target.write_text('{"alpha_local": {"2": 0.5}}')
    line = refused(capsys, "calibrate", argv)
    assert "holds a calibration.json already" in line and "--force" in line
    assert json.loads(target.read_text()) == {"alpha_local": {"2": 0.5}}
    assert main(argv + ["--force"]) == 0
    assert json.loads(target.read_text())["alpha_local"].keys() == {"2"}
    assert main(argv[:-2] + ["-o", str(tmp_path / "new" / "dir"), "--plot",
                             str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "new" / "dir" / "calibration.json").is_file()


def test_calibrate_never_writes_into_the_package(files, tmp_path, capsys):
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir

    shipped = default_committee_dir() / "calibration.json"
    before = shipped.read_bytes()
    water = str(files[0] / "water.extxyz")
    line = refused(capsys, "calibrate", ["calibrate", water, "--committee", "default",
                                         "--force", "--plot", str(tmp_path / "c.png")])
    assert "inside the installed lammps-uq package" in line and "expected -o DIR" in line
    line = refused(capsys, "calibrate", ["calibrate", water, "--committee", "default", "--force",
                                         "-o", str(default_committee_dir()), "--plot",
                                         str(tmp_path / "c.png")])
    assert "inside the installed lammps-uq package" in line
    assert shipped.read_bytes() == before


def test_demo_garbage(tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    out = str(tmp_path / "run")
    cases = [
        (["--steps", "5"], "demo: --steps: got 5; expected an integer >= 10"),
        (["--np", "0"], "demo: --np: got 0; expected an integer >= 1"),
        (["--committee", "nothere.model"], "demo: --committee: cannot read model file"),
        (["--committee", str(tmp_path / "*.model")], "demo: --committee: no model file matches"),
    ]
    for extra, message in cases:
        line = refused(capsys, "demo", ["demo", "-o", out, "--steps", "20", *extra])
        assert line.startswith(f"lammps-uq {message}"), line
    line = refused(capsys, "demo", ["demo", "-o", str(tmp_path / "a_file" / "x")])
    assert line.startswith("lammps-uq demo: --output: got ") and "expected a writable" in line
    monkeypatch.setenv("LAMMPS_UQ_DEMO_STEPS", "lots")
    line = refused(capsys, "demo", ["demo", "-o", out])
    assert line == ("lammps-uq demo: $LAMMPS_UQ_DEMO_STEPS: got 'lots'; expected an integer >= 10 "
                    "(one check)")
    assert not os.path.exists(out)


@pytest.mark.parametrize("argv", [["info", "extra"], ["select"], ["carve", "x"],
                                  ["select", "f", "--threshold", "1", "--max-centres", "4.5"],
                                  ["nosuchcommand"]], ids=" ".join)
def test_argparse_refusals_are_usage_lines(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lammps-uq") and "error:" in err and "Traceback" not in err


def test_traceback_switch_shows_the_trace(files, tmp_path):
    missing = str(tmp_path / "missing.extxyz")
    for argv in (["-T", "select", missing, "--threshold", "1"],
                 ["select", missing, "--threshold", "1", "-T"]):
        with pytest.raises(InputError, match="no such file"):
            main(argv)


def test_cells_and_dft_inputs_get_the_umask(files, tmp_path, capsys):
    from lammps_uq.extract.carve_io import write_atomic

    old = os.umask(0o022)
    try:
        assert main(["carve", str(files[0] / "water.extxyz"), "-o", str(tmp_path / "cells"),
                     "--centre-index", "0", "--molecules", "2", "--no-relax",
                     "--format", "vasp"]) == 0
        os.umask(0o027)
        write_atomic(tmp_path / "plain.txt", lambda p: open(p, "w").close())
    finally:
        os.umask(old)
    cells = tmp_path / "cells"
    written = sorted(cells.rglob("*.extxyz")) + sorted(cells.rglob("POSCAR"))
    assert len(written) == 2
    assert [stat.S_IMODE(p.stat().st_mode) for p in written] == [0o644, 0o644]
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o640
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_bug_is_one_line_marked_internal_and_minus_t_shows_it(monkeypatch, capsys):
    from lammps_uq.cli import info

    def broken(_args):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(info, "run", broken)  # loaded by its name when info runs
    with pytest.raises(SystemExit) as info:
        main(["info"])
    assert info.value.code == 1
    assert capsys.readouterr().err == ("lammps-uq info: internal error: ZeroDivisionError: division "
                                       "by zero (run lammps-uq -T ... for the traceback)\n")
    with pytest.raises(ZeroDivisionError):
        main(["info", "-T"])
