"""The data stages of an iteration: explore -> regions -> cells -> labels (module :mod:`.loop`).

Each stage is skipped when its output exists (``explore/run_J/.done``, ``regions.extxyz``,
``cells/.done``, ``labelled.done``); carving and labelling are idempotent per cell themselves,
so a stage interrupted half-way carves and labels only what is missing when started again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..extract.settings import CarveSettings, LabelSettings
from .explore import prepared_input, random_regions, recentre, template_files
from .walkers import region_key
from .state import LearnStopped, read_frames, read_json, write_frames, write_json


def check_templates(cfg) -> list[str]:
    """Every template readable, with a usable fix uq line (its variables resolved as in
    iteration 1's run), and its files there (before step 0); the elements of their fix lines."""
    from .explore import loop_variables

    variables = loop_variables(cfg, 1)
    elements: set[str] = set()
    for name in cfg["explore.templates"]:
        template, extra = template_files(name, cfg.folder, cfg["explore.files"])
        for path in [template, *extra]:
            if not path.is_file():
                raise InputError(f"CONFIG: explore: got {str(path)!r} (no such file); expected "
                                 "a LAMMPS template (explore.templates) or a file it reads "
                                 "(explore.files)")
        elements.update(prepared_input(template, cfg["selection"] == "random", variables)[1]
                        .elements)
        check_walkers_differ(cfg, template)
    return sorted(elements)


def check_walkers_differ(cfg, template: Path) -> None:
    """Walkers of one template must differ: by ${seed}, ${walker} or a walker variable in the
    template, or by their start frames (explore.start_data)."""
    from .explore import VARIABLE

    if cfg["explore.walkers"] < 2 or cfg["explore.start_data"]:
        return
    used = {a or b for a, b in VARIABLE.findall(template.read_text())}
    if not used & {"seed", "walker", *map(str, cfg["explore.walker_variables"])}:
        raise InputError(f"CONFIG: explore.walkers: got {cfg['explore.walkers']}, but "
                         f"{str(template)!r} uses neither ${{seed}} nor ${{walker}} nor a "
                         "variable of explore.walker_variables, and explore.start_data is unset: "
                         "its walkers would be one run repeated; expected a template whose "
                         "velocities (or other input) use ${seed}")


def explore(cfg, folder: Path, committee: list[Path], explorer, say) -> list[dict]:
    """Run every walker of the iteration (at once, as tasks); their records (``.done``)."""
    from .explorer import run_walkers
    from .walkers import plan

    return run_walkers(cfg, plan(cfg, folder, int(folder.name[5:])), committee, explorer, say)


def tagged(run: dict, j: int) -> list:
    """The region frames of one walker, each tagged with its walker (``explore_run``, its index;
    ``walker_name``), once per (walker, step, centre)."""
    frames, seen = [], set()
    for atoms in read_frames(Path(run["folder"]) / run["regions"]):
        atoms.info.update(explore_run=j, walker_name=run["name"])
        if region_key(atoms) not in seen:
            seen.add(region_key(atoms))
            frames.append(atoms)
    return frames


def choose_regions(cfg, folder: Path, runs: list[dict], iteration: int) -> list:
    """``regions.extxyz``: fix uq's centres (highest s_loc first up to max_centres), or as many
    at random atoms of random checked frames; moved to / drawn among atoms of
    ``extract.centre_element`` if set."""
    path = folder / "regions.extxyz"
    if path.exists():
        return read_frames(path)
    frames = [atoms for j, run in enumerate(runs) for atoms in tagged(run, j)]
    count = len(frames) if not cfg["max_centres"] else min(len(frames), cfg["max_centres"])
    if count == 0:
        peak = max((r["max_s_local"] for r in runs), default=0.0)
        raise LearnStopped(f"the exploration selected no centre (max s_loc {peak:.4f} eV/Å "
                           "stayed below the template's threshold): the committee is "
                           "confident everywhere it went")
    if cfg["selection"] == "random":
        rng = np.random.default_rng([cfg["seed"], iteration, 1])
        pools = [Path(r["folder"]) / "learn_frames.dump" for r in runs]
        chosen = random_regions(pools, runs[0]["elements"], count, rng,
                                cfg["extract.centre_element"])
    else:
        order = np.argsort([-float(f.info.get("centre_s_local", 0.0)) for f in frames],
                           kind="stable")
        chosen = [frames[k] for k in sorted(order[:count].tolist())]
        if cfg["extract.centre_element"]:
            chosen = [recentre(f, cfg["extract.centre_element"]) for f in chosen]
    write_frames(path, chosen)
    return chosen


def carve_settings(cfg, committee: list[Path]) -> CarveSettings:
    """The carve settings of ``extract.*`` (the border relaxed with the current committee);
    the others keep CarveSettings' defaults."""
    return CarveSettings(
        molecules=None if cfg["extract.radius"] else cfg["extract.molecules"],
        radius=cfg["extract.radius"] or None, relax=cfg["extract.relax"],
        committee=tuple(str(p) for p in committee) if cfg["extract.relax"] else ())


def label_settings(cfg) -> LabelSettings:
    """The label settings of ``label.*`` (a timeout of 0: none)."""
    config = cfg.path("label.calculator_config")
    return LabelSettings(calculator=cfg["label.calculator"],
                         calculator_config=str(config) if config else None,
                         retries=cfg["label.retries"], timeout=cfg["label.timeout"] or None,
                         min_contact=cfg["label.min_contact"])


def carve_cells(cfg, folder: Path, committee, executor, say) -> int:
    from ..extract.consumer import extract

    cells = folder / "cells"
    done = read_json(cells / ".done")
    if done is None:
        cells.mkdir(exist_ok=True)
        say("extract: carving the regions on the executor")
        tally = extract(folder / "regions.extxyz", cells, carve_settings(cfg, committee), executor)
        count = len(list(cells.glob("cell_*.extxyz")))
        if count == 0:
            raise LearnStopped(f"extract: none of the regions could be carved ({tally.failed} "
                               f"failed; see the messages above)")
        done = {"cells": count, "failed": tally.failed}
        write_json(cells / ".done", done)
    return done["cells"]


def label(cfg, folder: Path, executor, say) -> list:
    """Label the carved cells (resumable); the labelled frames, sorted by cell_id."""
    from ..extract.label_output import FailureLog, failures_path
    from ..extract.labelling import gather_cells, label_cells
    from ..extract.reference_calcs import load_config

    output = folder / "labelled.extxyz"
    done = read_json(folder / "labelled.done")
    if done is None:
        cells = gather_cells([str(folder / "cells")])
        settings = label_settings(cfg)
        say(f"label: {len(cells)} cells with {settings.calculator}")
        config = load_config(settings.calculator_config)
        labelled, skipped, failed = label_cells(cells, output, settings, config, executor)
        if labelled + skipped == 0:
            reasons = FailureLog(failures_path(output))
            first = next(iter(reasons.entries.values()), {}).get("reason", "?")
            raise LearnStopped(f"label: every one of the {len(cells)} cells failed to label "
                               f"(first reason: {first}; all in {reasons.path})")
        done = {"labelled": labelled + skipped, "failed": failed}
        write_json(folder / "labelled.done", done)
    frames = read_frames(output)
    return sorted(frames, key=lambda f: str(f.info["cell_id"]))


def explore_and_label(cfg, folder: Path, committee, executor, explorer, say, prov) -> list:
    """explore -> regions -> cells -> labels of one iteration, each stage after the last
    (:mod:`.stream` runs them at once); the labelled frames."""
    start = time.monotonic()
    runs = explore(cfg, folder, committee, explorer, say)
    prov.stage("explore", time.monotonic() - start, centres_selected_by_fix=sum(
        r["centres"] for r in runs), max_s_local=max(r["max_s_local"] for r in runs))
    prov.set(explore_runs=runs)
    regions = choose_regions(cfg, folder, runs, iteration=prov.data["iteration"])
    prov.stage("regions", 0.0, centres=len(regions))
    start = time.monotonic()
    cells = carve_cells(cfg, folder, committee, executor, say)
    prov.stage("extract", time.monotonic() - start, cells=cells)
    start = time.monotonic()
    frames = label(cfg, folder, executor, say)
    prov.stage("label", time.monotonic() - start, labelled=len(frames),
               label_failed=(read_json(folder / "labelled.done") or {}).get("failed", 0))
    return frames
