"""Helpers of the LAMMPS tests: configurations, running `lmp`, reading dumps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
ELEMENTS = ["Cu", "Ni"]
FACTORY = "lammps_uq.committee.evaluators.analytic:lj_committee"
TIMEOUT = 120  # seconds a LAMMPS test process may take before it counts as a hang


def lammps_problem() -> str:
    """Empty if lmp, mpirun and the built plugin are usable, else why not."""
    for tool in ("lmp", "mpirun"):
        if not (BIN / tool).exists() and not shutil.which(tool):
            return f"{tool} not found next to {sys.executable} or on PATH"
    try:
        from lammps_uq._plugin import get_plugin_dir
    except ImportError as exc:
        return f"lammps_uq is not installed: {exc}"
    if not (Path(get_plugin_dir()) / "uqplugin.so").exists():
        return f"uqplugin.so not built in {get_plugin_dir()} (pip install .)"
    return ""


def tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name)


def run_lmp(folder: Path, script: str, nprocs: int = 1, timeout: float = TIMEOUT):
    """Run `mpirun -np N lmp -in in.test` in folder; returns (returncode, output)."""
    (folder / "in.test").write_text(script)
    cmd = [tool("mpirun"), "-np", str(nprocs), tool("lmp"), "-in", "in.test", "-log", "log.test"]
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        cmd, cwd=folder, capture_output=True, text=True, timeout=timeout, env=env
    )
    return proc.returncode, proc.stdout + proc.stderr


def run_python(folder: Path, code: str, nprocs: int = 1, timeout: float = TIMEOUT):
    """Run a Python script under `mpirun -np N`; returns (returncode, output)."""
    (folder / "drive.py").write_text(code)
    cmd = [tool("mpirun"), "-np", str(nprocs), sys.executable, "drive.py"]
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        cmd, cwd=folder, capture_output=True, text=True, timeout=timeout, env=env
    )
    return proc.returncode, proc.stdout + proc.stderr


def hotspot_config(triclinic: bool, repeat: int = 5, seed: int = 7):
    """FCC Cu/Ni box (4*repeat**3 atoms) whose disorder and Ni content grow along x.

    The committee disagrees more where atoms are displaced more, so the
    uncertainty varies in space.  Positions are far from any cutoff boundary by
    chance only (random), which is what the 1e-10 comparisons need.
    """
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.65, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    frac = atoms.get_scaled_positions()[:, 0]
    nickel = rng.random(len(atoms)) < 0.1 + 0.6 * frac
    atoms.numbers[nickel] = 28
    amplitude = 0.02 + 0.25 * frac**2
    atoms.positions += rng.normal(size=(len(atoms), 3)) * amplitude[:, None]
    if triclinic:
        cell = atoms.cell.array.copy()
        cell[1, 0] += 3.1
        cell[2, 0] += -2.3
        cell[2, 1] += 2.7
        atoms.set_cell(cell, scale_atoms=True)
    atoms.wrap()
    return atoms


def write_data(atoms, path: Path, elements: list[str] = ELEMENTS):
    """LAMMPS data file (atomic, metal) and the atoms as LAMMPS will see them."""
    import ase.io
    from ase.data import atomic_numbers

    ase.io.write(path, atoms, format="lammps-data", specorder=elements, masses=True)
    ztype = {i + 1: atomic_numbers[s] for i, s in enumerate(elements)}
    return ase.io.read(path, format="lammps-data", Z_of_type=ztype, units="metal")


def fix_script(data: str, fix_args: str, *, dump_every: int = 1, steps: int = 0) -> str:
    """Input that reads data, defines fix uq `mon`, dumps its outputs at full precision."""
    return f"""units metal
atom_style atomic
boundary p p p
read_data {data}
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
neighbor 1.0 bin
fix mon all uq {fix_args}
dump d all custom {dump_every} dump.uq id type f_mon[1] f_mon[2] f_mon[3]
dump_modify d format float %.17g sort id
run {steps}
print "UQSCALAR $(f_mon:%.17g)"
print "UQVECTOR $(f_mon[1]:%.17g) $(f_mon[2]:%.17g) $(f_mon[3]:%.17g) $(f_mon[4]:%.17g) $(f_mon[5]:%.17g) $(f_mon[6]:%.17g) $(f_mon[7]:%.17g) $(f_mon[8]:%.17g) $(f_mon[9]:%.17g) $(f_mon[10]:%.17g)"
"""


def read_dump(path: Path) -> list[np.ndarray]:
    """Frames of a `dump custom` file, each an array sorted by atom id."""
    from lammps_uq.cli.demo import read_dump_frames

    return [table for _, _, table in read_dump_frames(path)]


def printed(output: str, tag: str) -> np.ndarray:
    """Numbers of the last line starting with tag in LAMMPS output."""
    line = [ln for ln in output.splitlines() if ln.startswith(tag)][-1]
    return np.array([float(v) for v in line.split()[1:]])


def thermo_table(output: str, first: tuple = ("Step", "PotEng")) -> np.ndarray:
    """The rows of the thermo table whose header starts with ``first`` (up to its first
    non-row line: a warning, the loop time)."""
    lines = output.splitlines()
    start = next(i for i, ln in enumerate(lines) if tuple(ln.split()[:len(first)]) == first)
    ncols = len(lines[start].split())
    rows = []
    for line in lines[start + 1:]:
        words = line.split()
        if len(words) != ncols or not words[0].isdigit():
            break
        rows.append([float(v) for v in words])
    return np.array(rows)


def refused(capsys, command: str, argv: list[str]) -> str:
    """The one stderr line of a refused ``lammps-uq`` call (checked: exit 2, no trace)."""
    import pytest

    from lammps_uq.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lammps-uq {command}: "), err
    return lines[0]


def require_ctrl_c(sig) -> None:
    """A Ctrl-C test needs SIGINT to reach the command it starts. A pytest started as a
    background job of a non-interactive shell (``cmd &``, nohup) ignores SIGINT, and so do its
    children, which then run on as if never interrupted: say so instead of a timeout."""
    import signal

    import pytest

    if sig == signal.SIGINT and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        pytest.fail("SIGINT is ignored in this pytest process (started as a shell's background "
                    "job?), so the command under test would ignore Ctrl-C too; run pytest in "
                    "the foreground")
