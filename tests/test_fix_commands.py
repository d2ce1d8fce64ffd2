"""fix uq meets every LAMMPS command: unfix, read_restart, minimize, respa, rerun, box changes,
later runs (issue 11).  Each test fails on the code before that issue's fixes."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytestmark = [pytest.mark.lammps]

GOOD = "lammps_uq.committee.evaluators.analytic:lj_committee"
SELECT = "threshold 0.05 max_centres 2 separation 5.0 region 5.0 file r.extxyz devi d.out"


def script(fix_args: str, run: str = "run 10", *, before: str = "", modify: str = "",
           after: str = "", dimension: int = 3) -> str:
    """FCC Cu/Ni (257 atoms, 14.6 Angstrom box) at 300 K under fix nve and fix uq `mon`."""
    extra_atom = "create_atoms 2 single 0.25 0.25 0.25" if dimension == 3 else ""
    lattice = "lattice fcc 3.65" if dimension == 3 else "lattice sq 2.6"
    zbox = "0 4" if dimension == 3 else "-0.5 0.5"
    return f"""units metal
dimension {dimension}
atom_style atomic
{lattice}
region box block 0 4 0 4 {zbox}
create_box 2 box
create_atoms 1 box
{extra_atom}
mass * 60.0
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
neighbor 1.0 bin
comm_modify cutoff 8.0
velocity all create 600 4928 loop geom
fix nve all nve
{before}
fix mon all uq {fix_args}
{modify}
{run}
{after}
"""


def frames_in(path) -> int:
    import ase.io

    return len(ase.io.read(path, ":")) if path.stat().st_size else 0


# --- 1. the drive-mean companion never outlives its fix -----------------------------------


@pytest.mark.parametrize("nprocs", [1, 2])
def test_unfix_drive_mean_then_reading_the_companion_is_a_clear_error(nprocs, lammps_env,
                                                                       tmp_path):
    text = script(f"1 python {GOOD} elements Cu Ni drive mean", "run 2",
                  modify="fix_modify mon energy yes",
                  after="unfix mon\nprint \"E $(f_mon_energy)\"")
    rc, output = lammps_env.run_lmp(tmp_path, text, nprocs)
    assert rc != 0 and "add 'unfix mon_energy'" in output, output[-2000:]


def test_unfix_both_then_run_again_works(lammps_env, tmp_path):
    text = script(f"1 python {GOOD} elements Cu Ni drive mean", "run 2",
                  after="unfix mon\nunfix mon_energy\nrun 2\nprint \"DONE\"")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc == 0 and "DONE" in output, output[-2000:]


# --- 2, 7. restarts: missing files start anew, shorter ones are refused; counters kept -----


def restart_pair(tmp_path, lammps_env, fix_args):
    first = script(fix_args, "run 20", after="write_restart r.20\nprint \"N6 $(f_mon[6])\"")
    rc, output = lammps_env.run_lmp(tmp_path, first, 2)
    assert rc == 0, output[-2000:]
    return lammps_env.printed(output, "N6")[0]


def continued(fix_args: str, extra: str = "run 0") -> str:
    return f"""read_restart r.20
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
neighbor 1.0 bin
comm_modify cutoff 8.0
fix nve all nve
fix mon all uq {fix_args}
{extra}
print "AFTER $(f_mon[5]) $(f_mon[6])"
"""


def test_restart_without_its_files_is_a_new_start(lammps_env, tmp_path):
    fix = f"5 python {GOOD} elements Cu Ni {SELECT}"
    centres = restart_pair(tmp_path, lammps_env, fix)
    assert centres > 0
    (tmp_path / "r.extxyz").unlink()
    rc, output = lammps_env.run_lmp(tmp_path, continued(fix, "run 10"), 2)
    assert rc == 0, output[-2000:]
    assert output.count("region file r.extxyz not found; starting it anew") == 1
    frames_in(tmp_path / "r.extxyz")  # readable
    # the same restart with a fix line that names no file at all
    rc, output = lammps_env.run_lmp(tmp_path, continued(f"5 python {GOOD} elements Cu Ni"), 2)
    assert rc == 0, output[-2000:]


def test_restart_with_a_shorter_file_is_refused_and_nothing_is_padded(lammps_env, tmp_path):
    fix = f"5 python {GOOD} elements Cu Ni {SELECT}"
    restart_pair(tmp_path, lammps_env, fix)
    path = tmp_path / "r.extxyz"
    size = path.stat().st_size
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    rc, output = lammps_env.run_lmp(tmp_path, continued(fix), 2)
    assert rc != 0
    assert re.search(rf"region file r.extxyz: it has {len(text) // 2} bytes, fewer than the "
                     rf"{size} recorded in the restart file", output), output[-2000:]
    assert path.stat().st_size == len(text) // 2 and "\0" not in path.read_text()


def test_centre_count_and_over_threshold_survive_later_runs_and_restarts(lammps_env, tmp_path):
    fix = f"5 python {GOOD} elements Cu Ni {SELECT}"
    first = script(fix, "run 20", after="print \"FIRST $(f_mon[5]) $(f_mon[6])\"\nrun 0\n"
                   "print \"LATER $(f_mon[5]) $(f_mon[6])\"\nwrite_restart r.20")
    rc, output = lammps_env.run_lmp(tmp_path, first, 2)
    assert rc == 0, output[-2000:]
    before = lammps_env.printed(output, "FIRST")
    assert before[0] > 0 and before[1] > 0
    assert np.array_equal(lammps_env.printed(output, "LATER"), before)
    rc, output = lammps_env.run_lmp(tmp_path, continued(fix), 2)
    assert rc == 0, output[-2000:]
    assert np.array_equal(lammps_env.printed(output, "AFTER"), before)


# --- 3 (monitor), 4, 6: minimize checks, respa, a shrinking box ---------------------------


def timing(output: str) -> tuple[int, int]:
    match = re.search(r"fix uq mon: (\d+) checks \((\d+) evaluations\)", output)
    assert match, output[-2000:]
    return int(match.group(1)), int(match.group(2))


def test_minimize_checks_every_n_iterations_in_monitor_mode(lammps_env, tmp_path):
    text = script(f"5 python {GOOD} elements Cu Ni", "minimize 0 1e-12 23 1000",
                  after="print \"MIN $(f_mon[1]) $(f_mon[2])\"")
    rc, output = lammps_env.run_lmp(tmp_path, text, 2)
    assert rc == 0, output[-2000:]
    checks, _ = timing(output)
    assert checks == 5  # iterations 0, 5, 10, 15, 20
    assert np.all(lammps_env.printed(output, "MIN") > 0)


def test_drive_mean_under_minimize_needs_fix_modify_energy(lammps_env, tmp_path):
    text = script(f"1 python {GOOD} elements Cu Ni drive mean", "minimize 0 1e-8 20 100")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc != 0 and "add 'fix_modify mon energy yes'" in output, output[-2000:]


def test_drive_mean_refuses_respa(lammps_env, tmp_path):
    text = script(f"1 python {GOOD} elements Cu Ni drive mean", "run_style respa 2 2\nrun 5")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc != 0 and "does not support run_style respa" in output, output[-2000:]


def test_monitoring_under_respa_still_checks(lammps_env, tmp_path):
    text = script(f"5 python {GOOD} elements Cu Ni", "run_style respa 2 2\nrun 10",
                  after="print \"R $(f_mon[1])\"")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc == 0 and timing(output)[0] == 3, output[-2000:]


@pytest.mark.parametrize("nprocs", [1, 2])
def test_shrinking_box_is_refused_at_the_check_where_region_no_longer_fits(nprocs, lammps_env,
                                                                             tmp_path):
    # box 14.6 Angstrom, region 7.0: fits until the box is below 14.0 Angstrom
    text = script(f"5 python {GOOD} elements Cu Ni threshold 0.05 region 7.0 file r.extxyz",
                  "run 40", before="fix def all deform 1 x scale 0.9 y scale 0.9 z scale 0.9")
    rc, output = lammps_env.run_lmp(tmp_path, text.replace("cutoff 8.0", "cutoff 9.0"), nprocs)
    assert rc != 0, output[-2000:]
    match = re.search(r"region 7 Angstrom must be below half the periodic box width ([0-9.]+) "
                      r"Angstrom \(direction x, at step (\d+)\)", output)
    assert match, output[-2000:]
    width, step = float(match.group(1)), int(match.group(2))
    assert width < 14.0 and 0 < step <= 40 and step % 5 == 0


def test_region_in_2d_is_not_limited_by_the_z_thickness(lammps_env, tmp_path):
    # 2d box 10.4 x 10.4 Angstrom, 2.6 Angstrom thick: region 4.0 fits in x and y
    text = script(f"5 python {GOOD} elements Cu Ni threshold 0.05 separation 4.0 region 4.0 "
                  "file r.extxyz", "run 10", before="fix 2d all enforce2d", dimension=2)
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc == 0, output[-2000:]


# --- 20. the timing line's shares add up ---------------------------------------------------


def test_timing_parts_are_rank_means_that_add_up(lammps_env, tmp_path):
    rc, output = lammps_env.run_lmp(tmp_path, script(f"2 python {GOOD} elements Cu Ni {SELECT}",
                                                     "run 20"), 2)
    assert rc == 0, output[-2000:]
    line = next(ln for ln in output.splitlines() if ln.startswith("fix uq mon: 11 checks"))
    took, share, run = (float(v) for v in re.search(
        r"took ([0-9.e+-]+) s = ([0-9.]+)% of the run \(([0-9.e+-]+) s\), mean over 2 ranks",
        line).groups())
    parts = re.findall(r"(?:gather|evaluate|comm|aggregate|select|output) ([0-9.e+-]+)", line)
    assert sum(float(p) for p in parts) == pytest.approx(took, rel=2e-3, abs=1e-4)
    assert share <= 100.0 and took <= run
