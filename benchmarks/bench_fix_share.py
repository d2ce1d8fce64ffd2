"""Time share of `fix uq` in a 4000-atom Cu/Ni run with the analytic committee every 10 steps.

Runs the same LAMMPS input with and without the fix, side by side in one invocation, on
1 and 2 MPI ranks, and prints the fix's own timing line (gather, evaluate, comm, aggregate,
output), its share of the run, the share of the fix that is not the committee itself, and
the ratio of loop times with/without the fix.

    python benchmarks/bench_fix_share.py [--steps 200] [--every 10]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent

INPUT = """units metal
atom_style atomic
lattice fcc 3.70
region box block 0 10 0 10 0 10
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 4821
mass 1 63.546
mass 2 58.693
pair_style lj/cut 5.0
pair_coeff 1 1 0.05 2.35
pair_coeff 2 2 0.05 2.21
pair_coeff 1 2 0.05 2.28
neighbor 1.0 bin
velocity all create 300.0 87287 loop geom
fix md all nve
{fix}
thermo 100
run {steps}
"""
FIX = "fix uq all uq {every} python lammps_uq.committee.evaluators.analytic:lj_committee elements Cu Ni"


def run(folder: Path, nprocs: int, with_fix: bool, steps: int, every: int) -> str:
    text = INPUT.format(fix=FIX.format(every=every) if with_fix else "", steps=steps)
    (folder / "in.bench").write_text(text)
    cmd = [str(BIN / "mpirun"), "-np", str(nprocs), str(BIN / "lmp"), "-in", "in.bench",
           "-log", "none"]
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=True)
    return out.stdout


def loop_time(output: str) -> float:
    return float(re.search(r"Loop time of ([0-9.eE+-]+)", output).group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for nprocs in (1, 2):
            base = loop_time(run(Path(tmp), nprocs, False, args.steps, args.every))
            out = run(Path(tmp), nprocs, True, args.steps, args.every)
            line = next(ln for ln in out.splitlines() if ln.startswith("fix uq "))
            parts = dict(re.findall(r"(gather|evaluate|comm|aggregate|select|output) ([0-9.eE+-]+)", line))
            total = sum(float(v) for v in parts.values())
            share = float(re.search(r"= ([0-9.]+)% of the run", line).group(1))
            overhead = total - float(parts["evaluate"])
            print(f"ranks={nprocs} atoms=4000 steps={args.steps} every={args.every}")
            print(f"  {line}")
            print(f"  fix share of run {share:.1f}%; fix overhead (all but evaluate) "
                  f"{overhead:.4f} s = {100 * overhead / total:.1f}% of the fix")
            print(f"  loop time with/without fix: {loop_time(out):.3f} s / {base:.3f} s "
                  f"= {loop_time(out) / base:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
