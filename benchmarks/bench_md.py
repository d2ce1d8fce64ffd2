"""MD cost per step: `drive mean` vs `drive model 1` vs ASE with one MACECalculator (issue 15).

Water (the shipped 128-molecule frame, 384 atoms; `replicate 2 2 2` for 3072), the shipped
5-member committee (`mace default`, float64), statistics every 10 steps; measured side by side
in one run, every variant in its own process with --threads torch threads (default 2):

  (a) LAMMPS `fix uq ... drive mean`      (N_C evaluations every step)
  (b) LAMMPS `fix uq ... drive model 1`   (member 1 every step, the committee every 10)
  (c) ASE VelocityVerlet with one MACECalculator (member 1): what a user would otherwise run
  (d) ASE VelocityVerlet with lammps_uq.CommitteeCalculator every step

ms per MD step over the run (setup excluded), the ratios a/b, and b against
(c) x (1 + (N_C - 1)/N): single-model MD plus the committee's share of a check.
Then (--concurrency) one committee check on one rank: members in turn vs Python threads vs
torch.jit.fork, to see whether evaluating members concurrently gains anything.

    python benchmarks/bench_md.py [--sizes 384 3072] [--steps 40 10] [--concurrency]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "input_templates" / "water" / "water128.data"
EVERY = 10

LAMMPS = """units metal
atom_style full
read_data {data}
{replicate}
pair_style zero 5.0
pair_coeff * *
bond_style zero
bond_coeff *
angle_style zero
angle_coeff *
neighbor 1.0 bin
fix uq all uq {every} mace default elements O H {drive}
fix nve all nve
timestep 0.0005
thermo {steps}
run {steps}
"""

ASE = r"""
import json, os, sys, time
os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
import ase.io, torch
from ase.md.verlet import VelocityVerlet
from ase.units import fs
from lammps_uq.committee.speed import tune_malloc
tune_malloc()
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
kind, steps, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
atoms = ase.io.read(sys.argv[4], format="lammps-data", Z_of_type={1: 8, 2: 1}, units="metal",
                    atom_style="full").repeat(repeat)
from lammps_uq.committee.evaluators.mace_committee import expand_model_paths
paths = expand_model_paths(["default"])
if kind == "c":
    from mace.calculators import MACECalculator
    atoms.calc = MACECalculator(model_paths=paths[0], device="cpu", default_dtype="float64")
else:
    from lammps_uq import CommitteeCalculator
    atoms.calc = CommitteeCalculator(paths)
atoms.get_forces()
md = VelocityVerlet(atoms, timestep=0.5 * fs)
start = time.perf_counter()
md.run(steps)
print(json.dumps({"ms": 1000 * (time.perf_counter() - start) / steps}))
"""

CONCURRENT = r"""
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
import ase.io, torch
from lammps_uq.committee.speed import tune_malloc
tune_malloc()
from lammps_uq.committee.evaluators.graph import periodic_edges
from lammps_uq.committee.evaluators.mace_committee import MaceCommittee
from lammps_uq.committee.evaluators.mace_run import GhostExchange, run_member
from lammps_uq.committee.evaluators.protocol import NoExchange
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
atoms = ase.io.read(sys.argv[1], format="lammps-data", Z_of_type={1: 8, 2: 1}, units="metal",
                    atom_style="full").repeat(int(sys.argv[2]))
committee = MaceCommittee(["default"], device="cpu")
graph = periodic_edges(atoms, committee.r_max)
tensors = graph.tensors(committee.species, "cpu", "float64")
ghosts = GhostExchange(graph, NoExchange())
def one(model):
    return run_member(model, tensors, graph, ghosts)
def in_turn():
    return [one(m) for m in committee.models]
pool = ThreadPoolExecutor(len(committee.models))
def threads():
    return list(pool.map(one, committee.models))
def one_tensors(model):  # jit.fork wants tensors out
    energy, dedv = one(model)
    return torch.tensor(energy), torch.from_numpy(dedv)
def forked():
    futures = [torch.jit.fork(one_tensors, m) for m in committee.models]
    return [(float(e), d.numpy()) for e, d in (torch.jit.wait(f) for f in futures)]
result = {}
for name, run in (("in_turn", in_turn), ("threads", threads), ("jit_fork", forked),
                  ("in_turn_again", in_turn)):
    run()
    start = time.perf_counter()
    for _ in range(3):
        out = run()
    result[name] = 1000 * (time.perf_counter() - start) / 3
    reference = in_turn()
    result[name + "_max_dE_eV"] = max(abs(a[0] - b[0]) for a, b in zip(out, reference))
print(json.dumps(result))
"""


THREADS = "2"  # torch threads of every variant (--threads)


def lammps_ms(folder: Path, drive: str, steps: int, repeat: int) -> float:
    replicate = f"replicate {repeat} {repeat} {repeat}" if repeat > 1 else ""
    (folder / "in.bench").write_text(LAMMPS.format(data=DATA, replicate=replicate, every=EVERY,
                                                   drive=drive, steps=steps))
    env = dict(os.environ, OMP_NUM_THREADS=THREADS)
    cmd = [str(BIN / "mpirun"), "-np", "1", str(BIN / "lmp"), "-in", "in.bench", "-log", "none"]
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=True, env=env)
    loop = float(re.search(r"Loop time of ([0-9.eE+-]+)", out.stdout).group(1))
    for line in out.stdout.splitlines():
        if line.startswith("fix uq "):
            print(f"    [{drive}] {line}")
    return 1000 * loop / steps


def python_json(code: str, *args) -> dict:
    cmd = [sys.executable, "-c", code, *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS=THREADS))
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(size: int, steps: int, n_models: int = 5) -> None:
    repeat = {384: 1, 3072: 2}[size]
    with tempfile.TemporaryDirectory() as tmp:
        ms = {"a": lammps_ms(Path(tmp), "drive mean", steps, repeat),
              "b": lammps_ms(Path(tmp), "drive model 1", steps, repeat)}
    ms["c"] = python_json(ASE, "c", steps, repeat, DATA)["ms"]
    ms["d"] = python_json(ASE, "d", steps, repeat, DATA)["ms"]
    share = (n_models - 1) / EVERY
    print(f"water {size} atoms, {steps} steps, check every {EVERY}, N_C {n_models}, "
          f"1 process x {THREADS} threads; ms per MD step:")
    for key, what in (("a", "LAMMPS drive mean"), ("b", "LAMMPS drive model 1"),
                      ("c", "ASE VelocityVerlet, one MACECalculator"),
                      ("d", "ASE VelocityVerlet, CommitteeCalculator")):
        print(f"  ({key}) {what:42s} {ms[key]:10.1f}")
    print(f"  a/b = {ms['a'] / ms['b']:.2f}   d/b = {ms['d'] / ms['b']:.2f}   "
          f"b/c = {ms['b'] / ms['c']:.2f}")
    print(f"  b / (c x (1 + (N_C-1)/N = {1 + share:.1f})) = {ms['b'] / (ms['c'] * (1 + share)):.2f}"
          f"   (target <= 1.2)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 3072], choices=[384, 3072])
    parser.add_argument("--steps", type=int, nargs="+", default=[40, 10],
                        help="MD steps per size (a multiple of 10 keeps the check share exact)")
    parser.add_argument("--concurrency", action="store_true",
                        help="also time one check with members in turn, in threads, jit.fork")
    parser.add_argument("--threads", default="2", help="torch threads per process")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    for size, steps in zip(args.sizes, args.steps + args.steps[-1:] * len(args.sizes)):
        measure(size, steps)
    if args.concurrency:
        for size in args.sizes:
            result = python_json(CONCURRENT, DATA, {384: 1, 3072: 2}[size])
            print(f"one check of 5 members, {size} atoms, {THREADS} threads, ms "
                  "(and the largest energy difference from members in turn, eV): "
                  + "  ".join(f"{k} {v:.3g}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
