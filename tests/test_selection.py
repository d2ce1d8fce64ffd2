"""Centre selection, region snapshots, devi output and fix halt (analytic committee)."""

from __future__ import annotations

import numpy as np
import pytest

from lammps_uq.science import uncertainty
from lammps_uq.committee.evaluators.analytic import lj_committee
from lammps_uq.science.selection import Selector, select_frames

pytestmark = [pytest.mark.lammps, pytest.mark.mpi]

SETTINGS = dict(threshold=0.25, max_centres=3, separation=6.0, cooldown=10)
FIX = ("5 python lammps_uq.committee.evaluators.analytic:lj_committee elements Cu Ni "
       "threshold 0.25 max_centres 3 separation 6.0 cooldown 10 region 5.0 "
       "file regions.extxyz devi model_devi.out")


def hotspots(seed: int = 3):
    """FCC Cu/Ni, 864 atoms, strongly disordered around four points."""
    from ase.build import bulk
    from ase.geometry import find_mic

    atoms = bulk("Cu", "fcc", a=3.65, cubic=True).repeat(6)
    rng = np.random.default_rng(seed)
    atoms.numbers[rng.random(len(atoms)) < 0.3] = 28
    amplitude = np.full(len(atoms), 0.02)
    for centre in rng.uniform(0, atoms.cell[0, 0], (4, 3)):
        _, dist = find_mic(atoms.positions - centre, atoms.cell, True)
        amplitude += 0.3 * np.exp(-(dist**2) / (2 * 2.5**2))
    atoms.positions += rng.normal(size=(len(atoms), 3)) * amplitude[:, None]
    atoms.wrap()
    return atoms


def script(data, fix_args=FIX, steps=40, extra="") -> str:
    return f"""units metal
atom_style atomic
read_data {data}
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
neighbor 1.0 bin
comm_modify cutoff 9.5
velocity all create 200 4928 loop geom
fix nve all nve
timestep 0.002
fix mon all uq {fix_args}
{extra}
dump d all custom 5 dump.uq id type x y z f_mon[2]
dump_modify d format float %.17g sort id
run {steps}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 40-step run on 1, 2 and 4 ranks: {nprocs: (folder, output)}."""
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    base = tmp_path_factory.mktemp("select")
    atoms = helpers.write_data(hotspots(), base / "data.uq")
    result = {"atoms": atoms}
    for nprocs, grid in ((1, ""), (2, ""), (4, ""), ("4-slabs", "processors 1 1 4")):
        folder = base / f"np{nprocs}"
        folder.mkdir()
        text = script(base / "data.uq").replace("read_data", f"{grid}\nread_data")
        rc, output = helpers.run_lmp(folder, text, 4 if nprocs == "4-slabs" else nprocs)
        assert rc == 0, output[-3000:]
        result[nprocs] = folder
    return result


def centres(folder):
    import ase.io

    frames = ase.io.read(folder / "regions.extxyz", ":")
    by_step: dict[int, list[int]] = {}
    for frame in frames:
        by_step.setdefault(int(frame.info["step"]), []).append(int(frame.info["centre_id"]))
    return by_step, frames


def dumped_frames(folder, atoms):
    import helpers

    frames = []
    for step, table in zip(range(0, 41, 5), helpers.read_dump(folder / "dump.uq")):
        frame = atoms.copy()
        frame.positions = table[:, 2:5]
        frame.arrays["id"] = table[:, 0].astype(int)
        frame.arrays["s_local"] = table[:, 5]
        frame.info["step"] = step
        frames.append(frame)
    return frames


def test_centres_identical_on_1_2_4_ranks_and_equal_offline(runs):
    one, _ = centres(runs[1])
    assert sum(len(v) for v in one.values()) >= 4 and max(len(v) for v in one.values()) > 1
    for nprocs in (2, 4, "4-slabs"):  # and a different processor grid
        assert centres(runs[nprocs])[0] == one
    offline = select_frames(dumped_frames(runs[1], runs["atoms"]), Selector(**SETTINGS))
    assert {step: ids for step, ids in offline if ids} == one


def test_selection_respects_separation_budget_and_cooldown(runs):
    from ase.geometry import find_mic

    frames = {int(f.info["step"]): f for f in dumped_frames(runs[1], runs["atoms"])}
    chosen = []
    for step, ids in sorted(centres(runs[1])[0].items()):
        assert len(ids) <= SETTINGS["max_centres"]
        chosen += [(step, frames[step].positions[i - 1]) for i in ids]
    cell = runs["atoms"].cell
    for a, (step_a, pos_a) in enumerate(chosen):
        for step_b, pos_b in chosen[a + 1:]:
            if step_b - step_a < SETTINGS["cooldown"]:
                _, distance = find_mic(pos_b - pos_a, cell, True)
                assert distance >= SETTINGS["separation"]


def test_region_frames_hold_exactly_the_atoms_within_region(runs):
    from ase.geometry import find_mic

    frames = {int(f.info["step"]): f for f in dumped_frames(runs[2], runs["atoms"])}
    _, regions = centres(runs[2])
    for region in regions:
        parent = frames[int(region.info["step"])]
        centre = int(region.info["centre_id"])
        vectors, distances = find_mic(parent.positions - parent.positions[centre - 1],
                                      parent.cell, True)
        inside = np.nonzero(distances <= 5.0)[0]
        np.testing.assert_array_equal(region.arrays["id"], inside + 1)
        centre_pos = region.positions[region.arrays["id"] == centre][0]
        # extxyz stores 8 decimals
        np.testing.assert_allclose(region.positions - centre_pos, vectors[inside], atol=2e-8)
        assert region.info["parent_natoms"] == len(parent)
        np.testing.assert_allclose(region.info["parent_cell"].reshape(3, 3), parent.cell.array,
                                   atol=1e-9)


def test_devi_file_parses_like_deepmd_and_equals_reference(runs):
    table = np.loadtxt(runs[1] / "model_devi.out", ndmin=2)
    assert table.shape == (9, 7)
    # virial deviation max/min/avg: the analytic committee returns virials, so they are no
    # longer 0 (their values against DeePMD's formula: tests/test_drive_virial.py)
    vmax, vmin, vavg = table[:, 1], table[:, 2], table[:, 3]
    assert np.all(vmax > 0) and np.all(vmin >= 0)
    assert np.all(vmin <= vavg * (1 + 1e-6)) and np.all(vavg <= vmax * (1 + 1e-6))
    committee = lj_committee(["Cu", "Ni"])
    for row, frame in zip(table, dumped_frames(runs[1], runs["atoms"])):
        forces, _ = committee.committee_forces(frame)
        sigma = uncertainty.deepmd_deviation(forces)
        assert row[0] == frame.info["step"]
        np.testing.assert_allclose(row[4:], [sigma.max(), sigma.min(), sigma.mean()], rtol=1e-6)


def test_fix_halt_stops_on_max_local_uncertainty(runs, lammps_env, tmp_path):
    data = runs[1].parent / "data.uq"
    extra = "variable maxuq equal f_mon\nfix stop all halt 5 v_maxuq > 0.01 error soft"
    rc, output = lammps_env.run_lmp(tmp_path, script(data, "5 python lammps_uq.committee.evaluators."
                                                      "analytic:lj_committee elements Cu Ni",
                                                      extra=extra))
    assert rc == 0, output[-3000:]
    assert "Fix halt condition" in output
    assert "Loop time" in output and " for 5 steps " in output


def region_table(path):
    """(step, centre, ids, s_local) of every frame, for comparing files."""
    import ase.io

    return [(int(f.info["step"]), int(f.info["centre_id"]), f.arrays["id"].tolist(),
             f.arrays["s_local"]) for f in ase.io.read(path, ":")]


def assert_same_regions(a, b):
    assert [row[:3] for row in a] == [row[:3] for row in b]
    for row_a, row_b in zip(a, b):
        np.testing.assert_allclose(row_a[3], row_b[3], rtol=1e-9)


def test_restart_continues_the_same_files(runs, lammps_env, tmp_path):
    data = runs[1].parent / "data.uq"
    straight = tmp_path / "straight"
    straight.mkdir()
    first = script(data, steps=20).replace("run 20", "run 20\nwrite_restart r.20\nrun 20")
    rc, output = lammps_env.run_lmp(straight, first, 2)
    assert rc == 0, output[-3000:]
    # continue from step 20 in the same folder: the files hold steps 25-40 already,
    # which the restart must trim and write again, once
    again = f"""read_restart r.20
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
neighbor 1.0 bin
comm_modify cutoff 9.5
fix nve all nve
timestep 0.002
fix mon all uq {FIX}
run 20
"""
    before = region_table(straight / "regions.extxyz")
    rc, output = lammps_env.run_lmp(straight, again, 2)
    assert rc == 0, output[-3000:]
    after = region_table(straight / "regions.extxyz")
    assert_same_regions(after, before)
    assert_same_regions(after, region_table(runs[2] / "regions.extxyz"))
    steps = [row[0] for row in np.loadtxt(straight / "model_devi.out", ndmin=2)]
    assert steps == list(range(0, 41, 5))


def test_killed_run_leaves_a_readable_region_file(runs, lammps_env, tmp_path):
    import os
    import signal
    import subprocess
    import time

    import ase.io

    data = runs[1].parent / "data.uq"
    fix = FIX.replace("5 python", "1 python").replace("cooldown 10", "cooldown 0")
    (tmp_path / "in.test").write_text(script(data, fix, steps=100000))
    env = dict(os.environ, PATH=f"{lammps_env.BIN}:{os.environ['PATH']}")
    # `lmp` is a Python launcher around the binary: kill the whole process group
    proc = subprocess.Popen([lammps_env.tool("lmp"), "-in", "in.test", "-log", "none"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    path = tmp_path / "regions.extxyz"
    deadline = time.time() + 90
    while time.time() < deadline and (not path.exists() or path.stat().st_size < 200_000):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.5)  # the group is gone: nothing writes any more
    frames = ase.io.read(path, ":")
    assert len(frames) >= 20
    assert all(len(f) == len(f.arrays["id"]) > 0 for f in frames)


SELECTION_ERRORS = {
    "both thresholds": ("threshold 0.2 error_threshold 0.1", "exclude each other"),
    "max_centres 0": ("threshold 0.2 max_centres 0", "fix uq max_centres: got '0'; expected an integer from 1 to 2147483647"),
    "negative cooldown": ("threshold 0.2 cooldown -5", "fix uq cooldown: got '-5'; expected an integer from 0 to"),
    "region without file": ("threshold 0.2 region 4.0", "needs file PATH"),
    "file without region": ("threshold 0.2 file r.extxyz", "needs region R"),
    "region without threshold": ("region 4.0 file r.extxyz", "add threshold S"),
    "region too large": ("threshold 0.2 region 12.0 file r.extxyz", "must be below half"),
    "ghost cutoff": ("threshold 0.2 separation 12.0", "comm_modify cutoff 13"),
}


@pytest.mark.parametrize("case", list(SELECTION_ERRORS), ids=list(SELECTION_ERRORS))
def test_selection_keyword_errors(case, runs, lammps_env, tmp_path):
    words, message = SELECTION_ERRORS[case]
    fix = f"5 python lammps_uq.committee.evaluators.analytic:lj_committee elements Cu Ni {words}"
    text = script(runs[1].parent / "data.uq", fix, steps=0).replace("comm_modify cutoff 9.5",
                                                                 "comm_modify cutoff 12.0")
    if case == "ghost cutoff":
        text = text.replace("comm_modify cutoff 12.0", "")
    if case == "region too large":
        text = text.replace("comm_modify cutoff 12.0", "comm_modify cutoff 14.0")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc != 0 and message in output, output[-2000:]


def test_cli_select_matches_fix(runs, capsys):
    import ase.io

    from lammps_uq.cli import main

    frames = dumped_frames(runs[1], runs["atoms"])
    path = runs[1] / "frames.extxyz"
    ase.io.write(path, frames)
    assert main(["select", str(path), "--threshold", "0.25", "--separation", "6",
                 "--max-centres", "3", "--cooldown", "10"]) == 0
    printed = {int(w[0]): [int(v) for v in w[1:]]
               for w in (ln.split() for ln in capsys.readouterr().out.splitlines()) if len(w) > 1}
    assert printed == centres(runs[1])[0]
