"""In-situ carving against none: the MD wall time of the demo's water run, side by side.

Runs input_templates/water/in.water twice in one go (same steps, same seed, same ranks):

- ``none``: the carve words removed from the fix line;
- ``insitu``: as shipped (``carve cells --molecules 24``): fix uq starts the consumer
  (``lammps-uq extract --follow``) as a separate process and waits for it at the end.

Prints the MD loop time of each (LAMMPS "Loop time", which ends before the fix waits for the
consumer), their ratio (target <= 1.1), the whole process time, and when each cell was written
relative to the end of the MD loop (the done marker's time): negative = while the MD ran.

    python benchmarks/bench_insitu.py --steps 60 --np 1
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from lammps_uq.cli.demo import launcher, prepare

CARVE = "carve cells --molecules 24"


def run_case(folder: Path, case: str, steps: int, ranks: int, extra: str,
             threshold: float) -> dict:
    prepare(folder)
    text = (folder / "in.water").read_text().replace("error_threshold 0.09",
                                                     f"error_threshold {threshold}")
    if CARVE not in text:
        raise SystemExit(f"bench: {CARVE!r} not in in.water; update the benchmark")
    carve = "" if case == "none" else CARVE + (f" {extra}" if extra else "")
    (folder / "in.water").write_text(text.replace(CARVE, carve))
    command = launcher(ranks) + ["-in", "in.water", "-var", "steps", str(steps)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.time()
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env)
    seconds = time.time() - start
    (folder / "lammps.out").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"bench {case}: LAMMPS failed; see {folder / 'lammps.out'}")
    loop = float(re.search(r"Loop time of ([0-9.eE+-]+)", proc.stdout).group(1))
    select = re.search(r"select ([0-9.eE+-]+) output", proc.stdout)  # includes region writing
    result = {"case": case, "loop": loop, "process": seconds, "cells": [], "regions": 0,
              "select": float(select.group(1)) if select else float("nan")}
    regions = folder / "uq_regions.extxyz"
    if regions.exists():
        result["regions"] = regions.read_text().count("centre_id=")
    marker = folder / "uq_regions.extxyz.done"
    if case != "none" and marker.exists():
        end = marker.stat().st_mtime
        result["cells"] = sorted(p.stat().st_mtime - end for p in (folder / "cells").glob(
            "cell_*.extxyz"))
        result["waited"] = re.search(r"waited ([0-9.]+) s", proc.stdout)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--np", type=int, default=1, help="MPI ranks of the MD")
    parser.add_argument("--work", default="bench_insitu_work")
    parser.add_argument("--extra", default="", help="more carve words, e.g. --no-wait")
    parser.add_argument("--error-threshold", type=float, default=0.03,
                        help="below the template's 0.09, so a short run selects a centre at "
                             "most checks (max_centres 1, cooldown 100 as shipped)")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    results = [run_case(work / case, case, args.steps, args.np, args.extra, args.error_threshold)
               for case in ("none", "insitu")]
    print(f"water template, {args.steps} steps on {args.np} rank(s), error_threshold "
          f"{args.error_threshold}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    for r in results:
        print(f"  {r['case']:7s} MD loop {r['loop']:8.1f} s   whole process {r['process']:8.1f} s"
              f"   regions {r['regions']}   fix select+write {r['select']:.3f} s")
    ratio = results[1]["loop"] / results[0]["loop"]
    print(f"  ratio insitu/none (MD loop) {ratio:.3f}   (target <= 1.1)")
    cells = results[1]["cells"]
    waited = results[1].get("waited")
    print(f"  cells {len(cells)}, written at (s after the end of the MD loop): "
          + ", ".join(f"{t:+.1f}" for t in cells)
          + (f"; fix waited {waited.group(1)} s for the consumer" if waited else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
