"""The data stages (explore, carve, label) of iteration 1 of a learn config, on their own.

``python walker_driver.py FOLDER`` runs them for ``FOLDER/learn.toml`` with the tiny
committee of ``FOLDER/tiny`` (the tests of walkers and streaming stages; training is not the
point there, and is left out to keep them short).  Prints ``DONE`` and exits 0 when they end,
exits 1 with the reason when they stop.
"""

from __future__ import annotations

import sys
from pathlib import Path


def data_stages(folder: Path) -> list:
    from lammps_uq.extract.executors import running
    from lammps_uq.extract.settings import ExecutorSettings
    from lammps_uq.learn import config as learn_config
    from lammps_uq.learn.explorer import exploring
    from lammps_uq.learn.iteration import explore_and_label
    from lammps_uq.learn.loop import Say
    from lammps_uq.learn.state import Provenance, iteration_dir
    from lammps_uq.learn.stream import stream_iteration

    cfg = learn_config.load(folder / "learn.toml")
    work = cfg.path("work_dir")
    it = iteration_dir(work, 1)
    it.mkdir(parents=True, exist_ok=True)
    committee = sorted((folder / "tiny").glob("member_*.model"))
    say = Say(1)
    say.iteration = 1
    prov = Provenance(it, iteration=1, selection=cfg["selection"])
    parsl = cfg.path("executor.parsl_config")
    stages = stream_iteration if cfg["explore.stream"] else explore_and_label
    walkers = len(cfg["explore.templates"]) * cfg["explore.walkers"]
    with running(ExecutorSettings(cfg["executor.workers"], str(parsl) if parsl else None)) as ex:
        with exploring(cfg, walkers) as explorer:
            return stages(cfg, it, committee, ex, explorer, say, prov)


def main(argv: list[str]) -> int:
    from lammps_uq.errors import CalculationFailed
    from lammps_uq.learn.state import LearnStopped

    try:
        frames = data_stages(Path(argv[0]).resolve())
    except (CalculationFailed, LearnStopped) as stop:
        print(f"STOPPED: {stop}", flush=True)
        return 1
    print(f"DONE {len(frames)} labelled", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
