"""lammps-uq learn without LAMMPS: the config's errors, templates, the random pool, report."""

from __future__ import annotations

import numpy as np
import pytest

from lammps_uq.cli import main
from lammps_uq.learn.config import SCHEMA, load, markdown_table, parse
from lammps_uq.errors import CalculationFailed
from lammps_uq.learn.explore import dump_frames, prepared_input, random_regions

import learn_helpers


def fails(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_unknown_key_is_named_with_the_valid_ones(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('initial_data = "x.extxyz"\n[train]\nmembres = 4\n')
    err = fails(capsys, ["learn", str(tmp_path / "c.toml")])
    assert "unknown key 'train.membres'" in err
    assert "valid keys:" in err and "train.members" in err and "explore.templates" in err


def test_unknown_section_and_bad_values(tmp_path):
    with pytest.raises(ValueError, match="unknown key 'trian'.*a section: calibrate, executor"):
        parse({"initial_data": "x", "trian": {"members": 3}}, tmp_path)
    with pytest.raises(ValueError, match=r"iterations: got 0; expected an integer >= 1"):
        parse({"initial_data": "x", "iterations": 0}, tmp_path)
    with pytest.raises(ValueError, match=r"selection: got 'best'; expected 'uncertainty' or "
                                         "'random'"):
        parse({"initial_data": "x", "selection": "best"}, tmp_path)
    with pytest.raises(ValueError, match="train.members: got 1; expected an integer >= 2"):
        parse({"initial_data": "x", "train": {"members": 1}}, tmp_path)
    with pytest.raises(ValueError, match="initial_data is missing"):
        parse({}, tmp_path)


def test_defaults_and_paths(tmp_path):
    cfg = parse({"initial_data": "init.extxyz"}, tmp_path)
    for (section, key), (default, _, _) in SCHEMA.items():
        if key != "initial_data":
            assert cfg[f"{section}.{key}" if section else key] == default
    assert cfg.path("initial_data") == (tmp_path / "init.extxyz").resolve()
    assert cfg.path("test_data") is None
    assert "| `train.mode` | `\"scratch\"` |" in markdown_table()


def test_not_toml(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("iterations = = 3\n")
    assert "not valid TOML" in fails(capsys, ["learn", str(tmp_path / "c.toml")])


def test_template_without_fix_uq_stops_before_any_work(tmp_path, capsys):
    config = learn_helpers.make_inputs(tmp_path)
    (tmp_path / "in.tiny").write_text("units metal\nrun 10\n")
    err = fails(capsys, ["learn", str(config)])
    assert "explore.templates: got" in err and "no fix uq line" in err
    assert not (tmp_path / "work").exists()


def test_template_must_use_the_committee_variable(tmp_path):
    (tmp_path / "in.x").write_text("fix m all uq 5 mace a.model elements O H file r.xyz\nrun 1\n")
    with pytest.raises(ValueError, match=r"does not use \$\{committee\}"):
        prepared_input(tmp_path / "in.x", False)


def test_prepared_template_drops_carve_and_adds_the_records(tmp_path):
    (tmp_path / "in.x").write_text(learn_helpers.TEMPLATE)
    text, fix = prepared_input(tmp_path / "in.x", True)
    assert (fix.fix_id, fix.every, fix.elements, fix.regions) == ("mon", 5, ["O", "H"],
                                                                  "uq_regions.extxyz")
    line = next(ln for ln in text.splitlines() if ln.startswith("fix             mon") or
                ln.startswith("fix mon"))
    assert "carve" not in line and line.endswith("file uq_regions.extxyz")
    body = text.splitlines()
    run = next(k for k, ln in enumerate(body) if ln.startswith("run"))
    assert body[run - 3].startswith("fix learn_smax all ave/time 5 1 5 f_mon[2]")
    assert body[run - 2].startswith("dump learn_frames all custom 5 learn_frames.dump")


DUMP = """ITEM: TIMESTEP
{step}
ITEM: NUMBER OF ATOMS
3
ITEM: BOX BOUNDS pp pp pp
-1 9
0 10
0 10
ITEM: ATOMS id type x y z
1 1 0 0 0
2 2 1 0 0
3 2 0 1 0
"""


def test_random_regions_are_atoms_of_checked_frames(tmp_path):
    (tmp_path / "f.dump").write_text(DUMP.format(step=0) + DUMP.format(step=5))
    frames = list(dump_frames(tmp_path / "f.dump", ["O", "H"]))
    assert [f.info["step"] for f in frames] == [0, 5]
    assert frames[0].get_chemical_symbols() == ["O", "H", "H"]
    assert np.allclose(frames[0].positions[0], [1, 0, 0])  # shifted by xlo = -1
    regions = random_regions([tmp_path / "f.dump"], ["O", "H"], 4, np.random.default_rng(0))
    picked = {(r.info["step"], r.info["centre_id"]) for r in regions}
    assert len(picked) == 4 and all(c in (1, 2, 3) for _, c in picked)
    again = random_regions([tmp_path / "f.dump"], ["O", "H"], 4, np.random.default_rng(0))
    assert picked == {(r.info["step"], r.info["centre_id"]) for r in again}
    everything = random_regions([tmp_path / "f.dump"], ["O", "H"], 99, np.random.default_rng(1))
    assert len(everything) == 6  # never more than there are atoms
    oxygens = random_regions([tmp_path / "f.dump"], ["O", "H"], 99, np.random.default_rng(1),
                             centre_element="O")  # issue 22: O-centred cells in both arms
    assert sorted((r.info["step"], r.info["centre_id"]) for r in oxygens) == [(0, 1), (5, 1)]


def test_fix_uq_centres_move_to_the_nearest_atom_of_the_centre_element():
    from ase import Atoms

    from lammps_uq.learn.explore import recentre

    frame = Atoms("HOHO", positions=[[0, 0, 0], [0.9, 0, 0], [-3, 0, 0], [-2.2, 0, 0]])
    frame.arrays["id"] = np.array([11, 12, 13, 14])
    frame.info.update(centre_id=11, centre_s_local=0.3, step=40)
    moved = recentre(frame, "O")
    assert moved.info["centre_id"] == 12 and moved.info["selected_id"] == 11
    assert frame.info["centre_id"] == 11  # the region file's frame is left as it was
    with pytest.raises(CalculationFailed, match="holds no N atom"):
        recentre(frame, "N")


def test_report_refuses_a_folder_that_is_no_loop(tmp_path, capsys):
    err = fails(capsys, ["learn", "report", str(tmp_path)])
    assert "expected the work_dir of lammps-uq learn" in err


def test_config_example_loads(tmp_path):
    config = learn_helpers.make_inputs(tmp_path)
    cfg = load(config)
    assert cfg["train.members"] == 2 and cfg["explore.templates"] == ["in.tiny"]


def test_too_few_training_frames_named_before_mace_fails():
    """mace_run_train fails deep inside (torch.cat of no batch) when valid_fraction and
    batch_size leave no full batch: the loop says so first, with the count it needs."""
    from lammps_uq.errors import InputError
    from lammps_uq.learn.fit import check_enough_frames

    hyper = {"batch_size": 4, "valid_fraction": 0.2}
    with pytest.raises(InputError, match=r"got 3 training frames; expected at least 5 "):
        check_enough_frames(3, hyper)
    check_enough_frames(5, hyper)
    with pytest.raises(InputError, match="train.mace.batch_size"):
        check_enough_frames(1, {"batch_size": 1, "valid_fraction": 0.5})


def test_start_data_gives_each_run_its_own_frame_the_same_in_both_arms(tmp_path, capsys):
    """Issue 22 item 3: a different start frame per iteration and seed, common to both arms."""
    from lammps_uq.learn.walkers import start_of as start_frame

    for k in range(5):
        (tmp_path / f"frame_{k}.data").write_text(f"frame {k}\n")
    base = {"initial_data": "init.extxyz", "explore": {"start_data": "frame_*.data"}}
    cfg = parse({**base, "seed": 1}, tmp_path)
    firsts = [start_frame(cfg, k, 0).name for k in range(1, 6)]
    assert sorted(firsts) == [f"frame_{k}.data" for k in range(5)]  # each once in 5 iterations
    random_arm = parse({**base, "seed": 1, "selection": "random"}, tmp_path)
    assert [start_frame(random_arm, k, 0).name for k in range(1, 6)] == firsts
    other_seed = [start_frame(parse({**base, "seed": 2}, tmp_path), k, 0).name
                  for k in range(1, 6)]
    assert other_seed != firsts
    assert start_frame(parse({"initial_data": "init.extxyz"}, tmp_path), 1, 0) is None
    config = learn_helpers.make_inputs(tmp_path / "loop")
    config.write_text(config.read_text().replace('start_data = "eq/start_*.data"',
                                                 'start_data = "eq/*.dat"'))
    err = fails(capsys, ["learn", str(config)])
    assert "explore.start_data: got 'eq/*.dat', which matches no file in" in err
