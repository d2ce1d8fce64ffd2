"""One iteration's data stages of ``lammps-uq learn`` with streaming stages against the stages
in turn, side by side, same seeds (issue 26).

Each run is a fresh process (tests/walker_driver.py) doing explore -> carve -> label of
iteration 1 for the tests' tiny water loop scaled up: a 32-molecule box, the tiny random MACE
committee driving, ``--walkers`` walkers of 1 rank, ``--steps`` steps, ``max_centres`` 4 and
GFN2-xTB labels of 4-molecule cells, 2 local workers.  The parent measures the wall time of
each run and when the first label reaches ``labelled.extxyz`` (polled every 0.05 s) after the
run started; the modes alternate (turn, stream, turn, stream, ...).  Writes
``benchmarks/results/learn_streaming_wW_sS.json`` and prints the ratios.

    python benchmarks/learn_streaming.py [--repeats 2] [--steps 300] [--walkers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def prepare(folder: Path, stream: bool, steps: int, walkers: int) -> None:
    import learn_helpers

    config = learn_helpers.make_inputs(folder, labeller="xtb", workers=2)
    text = config.read_text().replace("ranks = 2\n", f"ranks = 1\nwalkers = {walkers}\n"
                                      f"stream = {'true' if stream else 'false'}\n")
    text = text.replace("steps = 10\n", f"steps = {steps}\n")
    config.write_text(text.replace("max_centres = 2\n", "max_centres = 4\n"))


def timed_run(folder: Path) -> dict:
    """Wall time of the data stages and when the first label arrived (s after the start)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}:{os.environ.get('PYTHONPATH', '')}"}
    labelled = folder / "work" / "iter_001" / "labelled.extxyz"
    start, first = time.monotonic(), None
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "walker_driver.py"),
                             str(folder)], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    while proc.poll() is None:
        if first is None and labelled.exists() and labelled.stat().st_size:
            first = time.monotonic() - start
        time.sleep(0.05)
    wall = time.monotonic() - start
    output = proc.stdout.read()
    if proc.returncode != 0 or "DONE" not in output:
        raise SystemExit(f"learn_streaming: the run in {folder} failed:\n{output[-3000:]}")
    if first is None:
        first = wall
    return {"wall_s": round(wall, 2), "first_label_s": round(first, 2),
            "labelled": int(output.split("DONE ")[1].split()[0])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--walkers", type=int, default=2)
    parser.add_argument("--out", help="default: benchmarks/results/"
                        "learn_streaming_wW_sS.json (W walkers, S steps)")
    args = parser.parse_args()
    args.out = args.out or str(ROOT / "benchmarks" / "results" /
                               f"learn_streaming_w{args.walkers}_s{args.steps}.json")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            for mode in ("turn", "stream"):
                folder = Path(tmp) / f"{mode}_{k}"
                prepare(folder, mode == "stream", args.steps, args.walkers)
                result = {"mode": mode, "repeat": k, **timed_run(folder)}
                runs.append(result)
                print(f"learn_streaming: {mode:6s} run {k}: wall {result['wall_s']:6.1f} s, "
                      f"first label after {result['first_label_s']:6.1f} s, "
                      f"{result['labelled']} labels", flush=True)
    mean = {m: {key: sum(r[key] for r in runs if r["mode"] == m) / args.repeats
                for key in ("wall_s", "first_label_s")} for m in ("turn", "stream")}
    ratio = mean["stream"]["wall_s"] / mean["turn"]["wall_s"]
    first = mean["stream"]["first_label_s"] / mean["turn"]["first_label_s"]
    print(f"learn_streaming: wall stream/turn {ratio:.2f}; first label stream/turn {first:.2f}")
    summary = {"machine": f"{platform.node()} ({os.cpu_count()} cores)",
               "date": time.strftime("%Y-%m-%d"), "steps": args.steps,
               "walkers": args.walkers, "runs": runs, "mean": mean,
               "wall_ratio_stream_over_turn": round(ratio, 3),
               "first_label_ratio_stream_over_turn": round(first, 3)}
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
