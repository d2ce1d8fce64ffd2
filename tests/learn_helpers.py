"""Labellers and inputs of the lammps-uq learn tests (importable by spawned workers)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ase.calculators.calculator import Calculator

DATA = Path(__file__).parent / "data" / "learn_water8.extxyz"
MACE = ('{ num_channels = 8, max_L = 0, r_max = 3.5, MLP_irreps = "8x0e", batch_size = 2, '
        'num_radial_basis = 4, correlation = 1 }')
TEMPLATE = """# tiny water box driven by the committee (tests of lammps-uq learn)
variable        steps index 10
variable        committee index default
variable        start_data index water32.data
variable        seed index 4928459
units           metal
atom_style      full
read_data       ${start_data}
bond_style      zero
bond_coeff      *
angle_style     zero
angle_coeff     *
pair_style      zero 3.5
pair_coeff      * *
neighbor        1.0 bin
comm_modify     cutoff 6.0
fix             mon all uq 5 mace ${committee} elements O H drive mean rcut 3.0 &
                threshold 0.00001 max_centres 1 separation 4.0 region 5.0 &
                file uq_regions.extxyz carve cells --molecules 4
fix_modify      mon energy yes
velocity        all create 350.0 ${seed} loop geom
fix             md all nvt temp 350.0 350.0 0.05
timestep        0.0005
run             ${steps}
"""


def config_text(labeller: str = "xtb", selection: str = "uncertainty", workers: int = 2,
                e0s: str = "isolated") -> str:
    return f"""work_dir = "work"
iterations = 1
seed = 3
selection = "{selection}"
initial_data = "init.extxyz"
initial_committee = "tiny/member_*.model"
test_data = "test.extxyz"
max_centres = 2
[explore]
templates = ["in.tiny"]
start_data = "eq/start_*.data"
files = ["water32.data"]
steps = 10
ranks = 2
[extract]
molecules = 4
relax = false
[label]
calculator = "{labeller}"
retries = 0
min_contact = 0  # 4 unrelaxed molecules at the parent density may overlap their images
[train]
members = 2
epochs = 2
e0s = "{e0s}"
mace = {MACE}
[calibrate]
holdout_fraction = 0.25
rcut = [2.0, 3.0]
[executor]
workers = {workers}
"""


def make_inputs(folder: Path, **config) -> Path:
    """Data file, template, initial/test frames, a tiny random committee and learn.toml."""
    import ase.io

    from lammps_uq.committee.default.water import write_water_data
    from lammps_uq.testing import tiny_water_committee, water_box

    folder.mkdir(parents=True, exist_ok=True)
    write_water_data(water_box(32, density=0.86, seed=3), folder / "water32.data")
    (folder / "eq").mkdir()
    for k in range(2):  # the start frames of the runs (explore.start_data)
        write_water_data(water_box(32, density=0.86, seed=10 + k),
                         folder / "eq" / f"start_{k}.data")
    (folder / "in.tiny").write_text(TEMPLATE)
    frames = ase.io.read(DATA, ":")
    ase.io.write(folder / "init.extxyz", frames[:4])
    ase.io.write(folder / "test.extxyz", frames[4:])
    tiny_water_committee(folder / "tiny", 2)
    (folder / "learn.toml").write_text(config_text(**config))
    return folder / "learn.toml"


class _Slow(Calculator):
    """GFN2-xTB after a pause (so that a test can kill the loop while it labels)."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        from tblite.ase import TBLite

        time.sleep(2.0)
        calc = TBLite(verbosity=0, method="GFN2-xTB", electronic_temperature=300.0, accuracy=1.0)
        atoms = atoms.copy()
        atoms.calc = calc
        self.results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if atoms.pbc.all():  # an isolated atom (train.e0s) has none
            self.results["stress"] = atoms.get_stress()


def slow_xtb(directory):
    return _Slow()


class _Failing(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        raise RuntimeError("SCF not converged after 250 cycles (test labeller)")


def failing(directory):
    return _Failing()


def wait_for(condition, proc, seconds=900):
    """Poll ``condition`` until it holds, failing if ``proc`` ends or ``seconds`` pass."""
    end = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def kill(proc):
    """SIGKILL ``proc``'s session: the loop, its workers, the walkers and mace."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
