"""The typed settings of carve, extract and label (issue 24 item 1): each default written once,
in a frozen dataclass of lammps_uq.extract.settings, that the command line, the fix's carve
words and learn's TOML all build; JSON across the consumer's process boundary."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lammps_uq.cli.app import build_parser
from lammps_uq.cli.options import settings_of
from lammps_uq.errors import InputError
from lammps_uq.extract.settings import (CarveOptions, CarveSettings, ExecutorSettings,
                                        ExtractJob, LabelSettings, options)
from lammps_uq.fix.insitu import Waiting, carve_words


def subparser(name: str):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


def test_carve_settings_round_trip_through_json():
    for settings in (CarveSettings(), CarveSettings(radius=5.5, box=12, cluster=True,
                                                    committee=["a.model", "b.model"],
                                                    dtype="float32", format="vasp",
                                                    bfgs_steps=7, contact=0.0)):
        text = settings.to_json()
        assert json.loads(text)["committee"] == list(settings.committee)
        assert CarveSettings.from_json(text) == settings
    job = ExtractJob("r.extxyz", "cells", CarveSettings(molecules=8, relax=False),
                     ExecutorSettings(workers=0), follow=True, until_pid=12, nice=10)
    assert ExtractJob.from_json(job.to_json()) == job
    label = LabelSettings("xtb", timeout=3, retries=0)
    assert LabelSettings.from_json(label.to_json()) == label and label.timeout == 3.0


@pytest.mark.parametrize("command,classes", [
    ("carve", [CarveSettings]),
    ("extract", [CarveSettings, ExtractJob, ExecutorSettings]),
    ("label", [LabelSettings, ExecutorSettings]),
])
def test_cli_defaults_are_the_dataclass_defaults(command, classes):
    sub = subparser(command)
    flags = {option: action for action in sub._actions for option in action.option_strings}
    for cls in classes:
        assert options(cls), cls
        for opt in options(cls):
            action = flags[opt.flag]
            assert action.dest == opt.name
            if opt.default is dataclasses.MISSING:
                assert action.required, opt.flag
            else:
                assert sub.get_default(opt.name) == opt.default, opt.flag
    # the defaults the parser gives build the dataclass's own defaults
    words = {"carve": ["f.extxyz", "-o", "c"], "extract": ["r.extxyz", "-o", "c"],
             "label": ["c", "-o", "l.extxyz", "--calculator", "xtb"]}[command]
    args = sub.parse_args(words)
    for cls in classes:
        if cls is ExtractJob:
            assert settings_of(args, cls, regions="r", output="c", carve=CarveSettings()) == \
                ExtractJob("r", "c", CarveSettings())
        elif cls is LabelSettings:
            assert settings_of(args, cls) == LabelSettings("xtb")
        else:
            assert settings_of(args, cls) == cls()


WORDS = ["--radius", "5", "--no-relax", "--box", "11.5", "--cluster", "--vacuum", "4",
         "--fixed-fraction", "0.5", "--pad", "1", "--shrink", "0.1", "--bfgs-steps", "3",
         "--contact", "0.8", "--contact-k", "20", "--format", "espresso", "--dtype", "float32"]


def test_the_fix_words_build_what_the_command_line_builds():
    args = subparser("carve").parse_args(["f.extxyz", "-o", "cells", *WORDS])
    folder, carve, executor, wait = carve_words(["cells", *WORDS, "--no-wait", "--workers", "3"])
    assert (folder, executor, wait) == ("cells", ExecutorSettings(workers=3), False)
    assert carve == settings_of(args, CarveSettings)
    assert carve.radius == 5.0 and carve.molecules is None and carve.cluster
    committee = ["cells", "--committee", "a.model", "b.model", "--dtype", "float32"]
    assert carve_words(committee)[1] == CarveSettings(committee=("a.model", "b.model"),
                                                      dtype="float32")
    assert carve_words(["cells"]) == ("cells", CarveSettings(), ExecutorSettings(),
                                      Waiting.wait)


@pytest.mark.parametrize("words,message", [
    ([], "fix uq carve: missing DIR; expected carve DIR [--molecules K ...]"),
    (["cells", "--frobnicate"], "unrecognized word '--frobnicate'"),
    (["cells", "--molecules"], "argument --molecules: expected one value"),
    (["cells", "--molecules", "--no-relax"], "argument --molecules: expected one value"),
    (["cells", "--committee", "--no-relax"], "argument --committee: expected one or more values"),
    (["cells", "--bfgs-steps", "2.5"], "argument --bfgs-steps: invalid int value: '2.5'"),
    (["cells", "--parsl-config", "p.py"], "unrecognized word '--parsl-config'"),
    (["--molecules", "8"], "got '--molecules' where DIR goes"),
])
def test_bad_fix_words_are_refused_in_one_line(words, message):
    with pytest.raises(InputError) as exc:
        carve_words(words)
    text = str(exc.value)
    assert message in text
    if words:
        assert text.startswith(f"fix uq carve: bad options {' '.join(words)!r} (")
        assert text.endswith("expected carve DIR followed by options of 'lammps-uq carve' "
                             "(and --no-wait, --workers N)")


@pytest.mark.parametrize("make,message", [
    (lambda: CarveSettings(box=float("nan")), "carve --box: got nan; expected a finite number"),
    (lambda: CarveSettings(shrink=0), "carve --shrink: got 0.0; expected a positive number"),
    (lambda: CarveSettings(fixed_fraction=2), "carve --fixed-fraction: got 2.0; expected a "
                                              "number in [0, 1]"),
    (lambda: CarveSettings(molecules=8, radius=4), "carve --radius: got 4.0 with --molecules "
                                                   "8; expected one of them"),
    (lambda: CarveSettings(molecules=8.0), "carve --molecules: got 8.0; expected an integer"),
    (lambda: CarveSettings(relax="yes"), "carve --relax: got 'yes'; expected true or false"),
    (lambda: CarveSettings(dtype="float16"), "carve --dtype: got 'float16'; expected one of "
                                             "float64, float32"),
    (lambda: CarveSettings(format="gaussian"), "carve --format: got 'gaussian'; expected one "
                                               "of vasp, espresso"),
    (lambda: CarveSettings(relax=False, committee=("a",)), "carve --no-relax: got it with "
                                                           "--committee a; expected one of them"),
    (lambda: LabelSettings("xtb", retries=-1), "--retries: got -1; expected an integer >= 0"),
    (lambda: LabelSettings("xtb", timeout=0), "--timeout: got 0.0; expected seconds > 0"),
    (lambda: LabelSettings("xtb", min_contact=-1), "--min-contact: got -1.0; expected a "
                                                   "factor >= 0 (0: no check)"),
    (lambda: ExtractJob("r", "o", CarveSettings(), poll=0), "--poll: got 0.0; expected seconds "
                                                            "> 0 (a finite number)"),
    (lambda: ExtractJob("r", "o", CarveSettings(), until_pid=0), "--until-pid: got 0; expected "
                                                                 "a process id > 0"),
    (lambda: CarveSettings.from_json('{"molecules": 8, "pads": 1}'),
     "SETTINGS: got unknown key(s) pads; expected the keys of CarveSettings"),
    (lambda: ExtractJob.from_json("[1]", "JOB"), "JOB: got '[1]'; expected ExtractJob as a "
                                                 "JSON object"),
])
def test_values_are_checked_when_the_settings_are_made(make, message):
    with pytest.raises(InputError) as exc:
        make()
    assert str(exc.value).startswith(message)


def test_molecules_default_and_the_cut_alone_in_cell_info():
    assert CarveSettings().molecules == 64 and CarveSettings(radius=3).molecules is None
    assert CarveOptions() == CarveOptions(molecules=64)
    assert isinstance(CarveSettings(), CarveOptions)
    with pytest.raises(dataclasses.FrozenInstanceError):
        CarveSettings().pad = 3.0


def test_learn_builds_the_settings_from_its_toml(tmp_path):
    from lammps_uq.learn.config import parse
    from lammps_uq.learn.iteration import carve_settings, label_settings

    cfg = parse({"initial_data": "x.extxyz", "extract": {"radius": 6},
                 "label": {"timeout": 0.0, "calculator_config": "dft.toml"}}, tmp_path)
    carve = carve_settings(cfg, [Path("m1.model"), Path("m2.model")])
    assert carve == CarveSettings(radius=6.0, committee=("m1.model", "m2.model"))
    cfg = parse({"initial_data": "x.extxyz", "extract": {"relax": False}}, tmp_path)
    assert carve_settings(cfg, [Path("m.model")]) == CarveSettings(molecules=16, relax=False)
    assert label_settings(cfg) == LabelSettings("xtb")
    cfg = parse({"initial_data": "x.extxyz", "label": {"timeout": 9, "calculator_config": "d.toml",
                                                      "min_contact": 0}}, tmp_path)
    assert label_settings(cfg) == LabelSettings("xtb", str(tmp_path / "d.toml"), timeout=9.0,
                                                min_contact=0.0)


def test_the_consumer_process_takes_a_job_as_json(tmp_path):
    """What fix uq carve starts: a bad job is one line and exit status 2, as extract's."""
    module = ["-m", "lammps_uq.extract.consumer_main"]
    done = subprocess.run([sys.executable, *module, "not json"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("lammps-uq extract: JOB: got 'not json', not JSON (")
    done = subprocess.run([sys.executable, *module], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: python -m")
    job = ExtractJob(str(tmp_path / "missing.extxyz"), str(tmp_path / "c"),
                     CarveSettings(relax=False))
    done = subprocess.run([sys.executable, *module, job.to_json()], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "REGIONS: got" in done.stderr and "no such file" in done.stderr
