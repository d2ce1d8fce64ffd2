"""``lammps-uq learn CONFIG``: the active-learning loop (paper section II.D, Methods B).

Iteration 0 trains the first committee on ``initial_data`` (or adopts ``initial_committee``).
Iteration k >= 1: explore with the committee of k-1 (LAMMPS, ``drive mean``, fix uq selects
centres) -> regions (fix uq's centres, or as many at random) -> carve them
(:func:`lammps_uq.extract.consumer.extract`) and label them
(:func:`lammps_uq.extract.labelling.label_cells`) on the executor -> split the labelled cells
into training and held-out frames -> train a new committee on everything so far -> calibrate
alpha on every held-out frame -> test.  It stops after ``iterations`` or when an exploration
selects no centre, or when every cell of an iteration fails to label (the reason is kept in
``WORK/STOPPED``).  Every stage is skipped when its output exists (:mod:`.state`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import CalculationFailed

from .e0s import check_e0s, prepare_e0s
from .state import (LearnStopped, Provenance, iteration_dir, read_frames,
                    start_work, write_frames, write_json)


class Say:
    """One progress line per step: ``learn: iteration K/N stage: ...``."""

    def __init__(self, total: int):
        self.total, self.iteration, self.start = total, 0, time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"learn: iteration {self.iteration}/{self.total} [{time.monotonic() - self.start:6.0f}"
              f" s] {text}", flush=True)


def versions() -> dict:
    from ..committee.training import versions as package_versions
    from .. import __version__

    return {**package_versions(), "lammps-uq": __version__}


def split(frames: list, fraction: float, rng) -> tuple[list, list]:
    """(training, held-out) frames: ``floor(fraction * n)`` held out, at random."""
    held = set(rng.permutation(len(frames))[: int(fraction * len(frames))].tolist())
    return ([f for k, f in enumerate(frames) if k not in held],
            [f for k, f in enumerate(frames) if k in held])


def write_split(folder: Path, frames: list, cfg, iteration: int) -> None:
    """``split.json``, ``train_new.extxyz`` and ``holdout.extxyz`` of one iteration (once)."""
    if (folder / "split.json").exists():
        return
    rng = np.random.default_rng([cfg["seed"], iteration])
    train, held = split(frames, cfg["calibrate.holdout_fraction"], rng)
    write_frames(folder / "train_new.extxyz", train)
    write_frames(folder / "holdout.extxyz", held)
    write_json(folder / "split.json", {"seed": [cfg["seed"], iteration], "train": len(train),
                                       "holdout": len(held),
                                       "holdout_ids": [str(f.info.get("cell_id", "")) for f in held]})


def write_training_set(cfg, work: Path, folder: Path, iteration: int) -> int:
    """``train.extxyz``: the training frames of iterations 0..k (none a test_data frame);
    returns their number."""
    if not (folder / "train.extxyz").exists():
        frames = []
        for k in range(iteration + 1):
            frames += read_frames(iteration_dir(work, k) / "train_new.extxyz")
        never_tested_on(cfg, frames, test_frames(cfg),
                        f"train: the training set of iteration {iteration}", LearnStopped)
        write_frames(folder / "train.extxyz", frames)
    return len(read_frames(folder / "train.extxyz"))


def committee_stages(cfg, work: Path, k: int, previous, executor, say, prov) -> list[Path]:
    """train -> calibrate -> test of iteration ``k``; the new committee's files."""
    from .fit import adopt_committee, calibrate, test_errors, train_committee

    folder = iteration_dir(work, k)
    n_train = write_training_set(cfg, work, folder, k)
    start = time.monotonic()
    if k == 0 and cfg["initial_committee"]:
        paths = adopt_committee(initial_committee(cfg), folder)
        info = {"adopted": cfg["initial_committee"]}
    else:
        say(f"train: {n_train} training frames")
        paths, info = train_committee(cfg, folder, k, previous, executor, say)
        done = (prov.data.get("training") or {}).get("train_seconds") or {}
        info["train_seconds"] = {**done, **info["train_seconds"]}  # a rerun trains none again
    prov.set(committee=[p.name for p in paths], training=info)
    prov.stage("train", time.monotonic() - start, train_frames=n_train)
    start = time.monotonic()
    if not (folder / "committee" / "calibration.json").exists():
        say("calibrate: alpha on the held-out frames")
        prov.set(calibration=calibrate(cfg, work, k, paths))
        prov.stage("calibrate", time.monotonic() - start)
    if cfg["test_data"] and not (folder / "test_errors.json").exists():
        start = time.monotonic()
        result = test_errors(labelled_frames(cfg, "test_data"), paths, folder / "test_errors.json")
        say(f"test: force MAE {result['test_force_mae']:.4f} eV/Å")
        prov.stage("test", time.monotonic() - start, **result)
    return paths


def iteration_zero(cfg, work: Path, executor, say, initial: list | None) -> list[Path]:
    """Split initial_data (``initial``: its frames, if read already) and train or adopt."""
    folder = iteration_dir(work, 0)
    folder.mkdir(parents=True, exist_ok=True)
    prov = Provenance(folder, iteration=0, selection=cfg["selection"], versions=versions())
    if not (folder / "split.json").exists():
        write_split(folder, labelled_frames(cfg, "initial_data") if initial is None else initial,
                    cfg, 0)
    return committee_stages(cfg, work, 0, None, executor, say, prov)


def labelled_frames(cfg, key: str) -> list:
    """The frames of ``initial_data`` or ``test_data``, every one labelled."""
    from ..errors import InputError
    from ..inputs import read_frames as read_input

    frames = read_input(cfg.path(key), f"CONFIG: {key}")
    for k, atoms in enumerate(frames):
        if "REF_forces" not in atoms.arrays or "REF_energy" not in atoms.info:
            raise InputError(f"CONFIG: {key}: frame {k} of {cfg[key]!r} has no "
                             "REF_energy/REF_forces; expected labelled frames")
    return frames


def test_frames(cfg) -> list:
    """The ``test_data`` frames, checked labelled ([] without test_data)."""
    return labelled_frames(cfg, "test_data") if cfg["test_data"] else []


def never_tested_on(cfg, frames: list, tests: list, what: str, error=None) -> None:
    """Refuse training ``frames`` of which one is one of ``tests`` (the ``test_data`` frames;
    the same structure by :func:`~lammps_uq.extract.label_output.cell_digest`): test frames
    are never trained on."""
    from ..errors import InputError
    from ..extract.label_output import cell_digest

    digests = {cell_digest(f): j for j, f in enumerate(tests)}
    for k, atoms in enumerate(frames):
        j = digests.get(cell_digest(atoms))
        if j is not None:
            raise (error or InputError)(
                f"{what}: frame {k} is frame {j} of test_data {cfg['test_data']!r}; expected "
                "training frames that are never test frames")


def initial_committee(cfg) -> list[str]:
    """The model files of ``initial_committee`` (globs relative to the config's folder)."""
    from ..committee.evaluators.mace_committee import expand_model_paths

    return expand_model_paths([str(cfg.folder / p) for p in cfg["initial_committee"].split()],
                              "CONFIG: initial_committee")


def check_inputs(cfg, work: Path) -> tuple[list | None, list[str]]:
    """Everything the loop reads from outside work_dir, checked before anything is written
    there (a start refused for a typo leaves work_dir as it was); the initial_data frames
    (None when iteration 0 has split them already: a resumed loop does not read them) and the
    elements of the loop (the templates' and initial_data's)."""
    from ..extract.executors import load_parsl_config
    from ..extract.reference_calcs import check_spec, load_config
    from .iteration import check_templates, label_settings

    elements = set(check_templates(cfg))
    label = label_settings(cfg)
    check_spec(label.calculator, load_config(label.calculator_config))
    if cfg["executor.parsl_config"]:
        from .explorer import check_parsl

        check_parsl(load_parsl_config(str(cfg.path("executor.parsl_config")),
                                      "CONFIG: executor.parsl_config"), cfg["explore.ranks"])
    if cfg["initial_committee"]:
        initial_committee(cfg)
    tests = test_frames(cfg)
    if (iteration_dir(work, 0) / "split.json").exists():
        for name in ("train_new.extxyz", "holdout.extxyz"):
            elements.update(s for f in read_frames(iteration_dir(work, 0) / name)
                            for s in f.get_chemical_symbols())
        check_e0s(cfg, sorted(elements))
        return None, sorted(elements)
    initial = labelled_frames(cfg, "initial_data")
    never_tested_on(cfg, initial, tests, "CONFIG: initial_data")
    elements.update(s for f in initial for s in f.get_chemical_symbols())
    check_e0s(cfg, sorted(elements))
    return initial, sorted(elements)


def run_loop(cfg) -> dict:
    """Run (or continue) the loop of ``cfg``; returns {'iterations', 'stopped'}."""
    from ..extract.executors import running
    from ..extract.settings import ExecutorSettings

    work = cfg.path("work_dir")
    initial, elements = check_inputs(cfg, work)
    start_work(work, cfg)
    (work / "STOPPED").unlink(missing_ok=True)
    say = Say(cfg["iterations"])
    parsl = cfg.path("executor.parsl_config")
    where = ExecutorSettings(cfg["executor.workers"], str(parsl) if parsl else None)
    with running(where) as executor:
        try:
            prepare_e0s(cfg, work, elements, say)
            iterate(cfg, work, executor, say, initial)
        except (LearnStopped, CalculationFailed) as stop:
            # LearnStopped: nothing to continue with; CalculationFailed (LAMMPS, mace): a
            # restart tries the stage again.  Either way every file so far is kept.
            write_json(work / "STOPPED", {"iteration": say.iteration, "reason": str(stop)})
            say(f"stopped: {stop}")
            return {"iterations": say.iteration - 1, "stopped": str(stop)}
    say(f"done: {cfg['iterations']} iterations in {work}")
    return {"iterations": cfg["iterations"], "stopped": None}


def iterate(cfg, work: Path, executor, say, initial: list | None) -> None:
    from .explorer import exploring
    from .iteration import explore_and_label
    from .stream import stream_iteration

    data_stages = stream_iteration if cfg["explore.stream"] else explore_and_label
    committee = iteration_zero(cfg, work, executor, say, initial)
    walkers = len(cfg["explore.templates"]) * cfg["explore.walkers"]
    with exploring(cfg, walkers) as explorer:
        for k in range(1, cfg["iterations"] + 1):
            say.iteration = k
            folder = iteration_dir(work, k)
            folder.mkdir(exist_ok=True)
            prov = Provenance(folder, iteration=k, selection=cfg["selection"],
                              explored_with=[str(p) for p in committee], versions=versions())
            frames = data_stages(cfg, folder, committee, executor, explorer, say, prov)
            write_split(folder, frames, cfg, k)
            committee = committee_stages(cfg, work, k, committee, executor, say, prov)
