"""Cost of one committee check: offline calculators vs fix uq on 1 and 2 MPI ranks.

On a water box of each size with N_C small random MACE models (2 layers, 32x0e+32x1o,
l_max 3, correlation 3, r_max 5 Å; float64), measured side by side in one run:

  (a) N_C separate ASE MACECalculator calls on the periodic cell
  (b) lammps_uq.CommitteeCalculator (one shared periodic graph)
  (c) fix uq per check, 1 rank x 2 threads   (c1) 1 rank x 1 thread
  (d) fix uq per check, 2 ranks x 1 thread
  and the fix's own overhead: everything in the check but model forward/backward and, on 2
  ranks, rank 0's wait for the slower rank (printed on its own: load imbalance of the model).
Then (c) under three allocators: glibc defaults, glibc tuned (lammps_uq's default), tcmalloc
preloaded (which disables torch's deep binding, see lammps_uq/_speed.py).

    python benchmarks/bench_committee.py [--sizes 192 1536] [--models 5]
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
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
MODEL = dict(r_max=5.0, hidden_irreps="32x0e + 32x1o", max_ell=3, correlation=3)

OFFLINE = r"""
import json, os, sys, time, glob
os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
import torch
from lammps_uq import CommitteeCalculator, testing
from lammps_uq.committee.speed import tune_malloc
tune_malloc()
torch.set_num_threads(2)
atoms = testing.water_box(int(sys.argv[1]) // 3, seed=0)
paths = sorted(glob.glob(sys.argv[2]))
def timed(calc):
    calc.calculate(atoms.copy())
    start = time.perf_counter(); calc.calculate(atoms.copy()); return time.perf_counter() - start
result = {"b": timed(CommitteeCalculator(paths))}
if sys.argv[3] == "all":
    from mace.calculators import MACECalculator
    result["a"] = sum(timed(MACECalculator(model_paths=p, device="cpu", default_dtype="float64"))
                      for p in paths)
print(json.dumps(result))
"""

LAMMPS = """units metal
atom_style atomic
read_data data.water
pair_style zero 5.0
pair_coeff * *
neighbor 1.0 bin
fix uq all uq 1 mace {models} elements O H
run 0
run 1
"""


def offline(size: int, models: str, which: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", OFFLINE, str(size), models, which],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fix_check(folder: Path, ranks: int, threads: int, **extra) -> tuple[float, float, float]:
    """(seconds per check, fix overhead share, wait share) of the second run (2 checks).

    Overhead is everything but rank 0's model forward/backward and rank 0's wait for the
    slower rank at the collective check points (load imbalance of the model work itself).
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **extra)
    cmd = [str(BIN / "mpirun"), "-np", str(ranks), str(BIN / "lmp"), "-in", "in.bench",
           "-log", "none"]
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=env,
                         check=True).stdout
    line = [ln for ln in out.splitlines() if re.match(r"fix uq uq: \d+ checks", ln)][-1]
    inner = [ln for ln in out.splitlines() if "evaluator on rank 0" in ln][-1]
    checks = int(re.search(r": (\d+) checks", line).group(1))
    total = float(re.search(r"took ([0-9.eE+-]+) s", line).group(1))
    model = float(re.search(r"model ([0-9.eE+-]+) s", inner).group(1))
    wait = float(re.search(r"waiting for other ranks ([0-9.eE+-]+) s", inner).group(1))
    return total / checks, (total - model - wait) / total, wait / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 1536])
    parser.add_argument("--models", type=int, default=5)
    args = parser.parse_args()
    from lammps_uq import testing

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        testing.write_committee(folder / "models", [1, 8], n_models=args.models, **MODEL)
        models = str(folder / "models" / "*.model")
        for size in args.sizes:
            measure_size(folder, size, models)
    return 0


def measure_size(folder: Path, size: int, models: str) -> None:
    import ase.io

    from lammps_uq import testing

    atoms = testing.water_box(size // 3, seed=0)
    ase.io.write(folder / "data.water", atoms, format="lammps-data", specorder=["O", "H"],
                 masses=True)
    (folder / "in.bench").write_text(LAMMPS.format(models=models))
    t = offline(size, models, "all", dict(os.environ))
    c, c_over, _ = fix_check(folder, 1, 2)
    c1, _, _ = fix_check(folder, 1, 1)
    d, d_over, d_wait = fix_check(folder, 2, 1)
    print(f"\n{size} atoms, {models}: seconds per check")
    print(f"  (a) separate MACECalculator {t['a']:.3f}   (b) CommitteeCalculator {t['b']:.3f}")
    print(f"  (c) fix 1x2 {c:.3f}   (c1) fix 1x1 {c1:.3f}   (d) fix 2x1 {d:.3f}")
    print(f"  (c)/(b) = {c / t['b']:.3f}  (target <= 1.1)   (c)/(a) = {c / t['a']:.3f}  "
          f"(target <= 0.9)")
    print(f"  DD efficiency (c1)/(2 (d)) = {c1 / (2 * d):.3f}  (target >= 0.8)")
    print(f"  fix overhead (all but model forward/backward and waiting for the slower rank): "
          f"{100 * c_over:.2f}% on 1 rank, {100 * d_over:.2f}% on 2 ranks  (target <= 3%); "
          f"rank 0 waited {100 * d_wait:.2f}% of the check on 2 ranks")
    allocators = {"glibc defaults": {"LAMMPS_UQ_MALLOC_TUNING": "0"}, "glibc tuned": {}}
    if os.path.exists(TCMALLOC):
        allocators["tcmalloc"] = {"LD_PRELOAD": TCMALLOC}
    times = {name: fix_check(folder, 1, 2, **extra)[0] for name, extra in allocators.items()}
    print("  (c) by allocator: " + ", ".join(f"{k} {v:.3f} s" for k, v in times.items()))


if __name__ == "__main__":
    raise SystemExit(main())
