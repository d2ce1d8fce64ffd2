"""Streaming stages (``explore.stream = true``): cells carved and labelled while walkers run.

The driver launches every walker (:mod:`.explorer`) and then polls: each walker's region file
is followed (:class:`~lammps_uq.extract.follow.FrameFollower`, whole frames only); a new centre
is admitted into ``regions.extxyz`` unless its (walker, step, centre atom) is there already or
its walker has used its share of ``max_centres`` (an even split over the walkers, first come:
a walker's frames arrive in step order, so the choice is the same on every run); it is carved
on the executor at once, and the carved cells are labelled in batches, one batch at a time
(:func:`lammps_uq.extract.labelling.label_cells`, in a thread of the driver) while the walkers
and the carving go on.  For ``selection = "random"`` a walker's centres are drawn from its
checked frames when it ends, as many as it selected (within its share).

Every piece is kept as it is made: ``regions.extxyz`` (rewritten whole, atomically), the cells
(one file each) and the labels (appended one by one), so a loop killed at any point starts
again where it was: finished walkers are not run again, a walker killed half-way is run again
from nothing and its centres already admitted are not admitted twice, and only cells without a
cell file or a label are carved or labelled.  Training waits for every walker and every label.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from ..extract.follow import FrameFollower
from .iteration import carve_settings, label_settings
from .state import LearnStopped, read_frames, read_json, write_frames, write_json
from .walkers import Walker, fix_line, plan, record, region_key

POLL = 0.5  # seconds between two looks at the walkers' region files


def shares(max_centres: int, walkers: int) -> list[float]:
    """Each walker's share of ``max_centres`` (0: no limit)."""
    if not max_centres:
        return [float("inf")] * walkers
    return [max_centres // walkers + (1 if k < max_centres % walkers else 0)
            for k in range(walkers)]


class Admission:
    """``regions.extxyz``: the centres admitted so far, with their (walker, step, centre)."""

    def __init__(self, path: Path, walkers: list[Walker], max_centres: int):
        self.path = path
        self.frames = read_frames(path) if path.exists() else []
        self.keys = {region_key(f) for f in self.frames}
        self.share = dict(zip((w.name for w in walkers), shares(max_centres, len(walkers))))
        self.count = {w.name: 0 for w in walkers}
        for atoms in self.frames:
            self.count[atoms.info["walker_name"]] += 1

    def admit(self, walker: Walker, frames: list) -> list[tuple[int, object]]:
        """Admit ``frames`` of ``walker`` (tagged); the (index, frame) of those admitted."""
        new = []
        for atoms in frames:
            atoms.info.update(explore_run=walker.index, walker_name=walker.name)
            key = region_key(atoms)
            if key in self.keys or self.count[walker.name] >= self.share[walker.name]:
                continue
            self.keys.add(key)
            self.count[walker.name] += 1
            new.append((len(self.frames), atoms))
            self.frames.append(atoms)
        if new:
            write_frames(self.path, self.frames)
        return new


class Labeller:
    """Labels carved cells in batches in a thread, one batch at a time."""

    def __init__(self, cfg, folder: Path, executor):
        from ..extract.reference_calcs import load_config

        self.folder, self.executor = folder, executor
        self.settings = label_settings(cfg)
        self.config = load_config(self.settings.calculator_config)
        self.output = folder / "labelled.extxyz"
        self.tried: set[str] = set()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.first_label: float | None = None
        self.size = self.output.stat().st_size if self.output.exists() else 0

    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start_batch(self) -> bool:
        """Label the cells not tried yet in this run (in a thread; label_cells skips those
        labelled already); False if there are none.  Only the new cell files are read."""
        from ..extract.labelling import gather_cells

        if self.busy():
            return False
        new = [str(path) for path in sorted((self.folder / "cells").glob("cell_*.extxyz"))
               if path.stem not in self.tried]
        if not new:
            return False
        batch = gather_cells(new)
        self.tried.update(c[0] for c in batch)
        self.thread = threading.Thread(target=self._label, args=(batch,), daemon=True)
        self.thread.start()
        return True

    def _label(self, batch) -> None:
        from ..extract.labelling import label_cells

        try:
            label_cells(batch, self.output, self.settings, self.config, self.executor)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the driver's thread
            self.error = exc

    def note_first_label(self) -> None:
        """When the first label of this run was seen in the output (to a poll)."""
        if self.first_label is None and self.output.exists() and \
                self.output.stat().st_size > self.size:
            self.first_label = time.monotonic()

    def check(self) -> None:
        if self.error is not None:
            raise self.error


class Stream:
    """The poll loop of one streaming iteration."""

    def __init__(self, cfg, folder: Path, committee, executor, say):
        self.cfg, self.folder, self.committee, self.say = cfg, folder, committee, say
        self.executor, self.iteration = executor, int(folder.name[5:])
        self.walkers = plan(cfg, folder, self.iteration)
        self.admission = Admission(folder / "regions.extxyz", self.walkers, cfg["max_centres"])
        self.followers = {w.name: FrameFollower(w.folder / fix_line(cfg, w)[1].regions,
                                                f"walker {w.name}'s regions")
                          for w in self.walkers}
        self.labeller = Labeller(cfg, folder, executor)
        self.settings = carve_settings(cfg, committee)
        self.carving: dict[Future, int] = {}
        self.drawn: set[str] = set()
        self.carve_failed = 0
        self.started = time.monotonic()

    def run(self, explorer) -> list[dict]:
        """Launch the walkers not done, follow them until every walker and label is in; the
        walkers' records.  A failed walker stops the loop after the others end."""
        from concurrent.futures import FIRST_COMPLETED, wait

        from .explorer import failed_walkers, walker_ended

        (self.folder / "cells").mkdir(exist_ok=True)
        running = {explorer.launch(self.cfg, w, self.committee, self.say): w
                   for w in self.walkers if record(w) is None}
        failures = []
        # the last test starts a batch of cells carved after the walkers ended, if any
        while running or self.carving or self.labeller.busy() or self.labeller.start_batch():
            finished, _ = wait(list(running) + list(self.carving), timeout=POLL,
                               return_when=FIRST_COMPLETED)
            for future in [f for f in finished if f in running]:
                reason = walker_ended(self.cfg, future, running.pop(future), self.say)
                failures += [reason] if reason else []
            self.follow({w.name for w in running.values()})
            self.collect_carving(finished)
            self.labeller.check()
            self.labeller.start_batch()
            self.labeller.note_first_label()
        self.labeller.check()
        self.labeller.note_first_label()
        if failures:
            raise failed_walkers(failures)
        return [record(w) for w in self.walkers]

    def follow(self, running: set[str]) -> None:
        """Admit the new centres of every walker and submit their carving."""
        for walker in self.walkers:
            done = record(walker)
            if walker.name not in running and done is None:
                continue  # failed, or not started
            if self.cfg["selection"] == "random":
                frames = self.random_centres(walker, done) if done else []
            else:
                frames = [f for _, f in self.followers[walker.name].new_frames()]
                if self.cfg["extract.centre_element"]:
                    from .explore import recentre

                    frames = [recentre(f, self.cfg["extract.centre_element"]) for f in frames]
            for index, atoms in self.admission.admit(walker, frames):
                self.carve(index, atoms)

    def random_centres(self, walker: Walker, done: dict) -> list:
        """A finished walker's random centres (drawn once, the same on every run)."""
        from .explore import random_regions

        if walker.name in self.drawn:
            return []
        self.drawn.add(walker.name)
        count = int(min(done["centres"], self.admission.share[walker.name]))
        rng = np.random.default_rng([self.cfg["seed"], self.iteration, 1, walker.index])
        return random_regions([walker.folder / "learn_frames.dump"], done["elements"], count, rng,
                              self.cfg["extract.centre_element"]) if count else []

    def carve(self, index: int, atoms) -> None:
        from ..extract.consumer import carve_task

        future = self.executor.submit(carve_task, index, atoms, self.settings,
                                      str(self.folder / "cells"))
        self.carving[future] = index

    def collect_carving(self, finished) -> None:
        for future in [f for f in finished if f in self.carving]:
            index = self.carving.pop(future)
            (_, _, failed), reason = future.result()
            if failed:
                self.carve_failed += 1
                self.say(f"extract: region {index} not carved: {reason}")

    def resume_carving(self) -> None:
        """Carve the admitted centres whose cell is missing (a loop killed mid-carve)."""
        from ..extract.carve_io import cell_name

        for index, atoms in enumerate(self.admission.frames):
            if not (self.folder / "cells" / f"{cell_name(atoms, index)}.extxyz").exists():
                self.carve(index, atoms)


def stream_iteration(cfg, folder: Path, committee, executor, explorer, say, prov) -> list:
    """explore, carve and label of one iteration at once; the labelled frames."""
    if read_json(folder / "labelled.done") is None:
        stream = Stream(cfg, folder, committee, executor, say)
        say(f"stream: {len(stream.walkers)} walkers; cells carved and labelled as centres "
            "appear")
        stream.resume_carving()
        runs = stream.run(explorer)
        seconds = time.monotonic() - stream.started
        first = stream.labeller.first_label
        finish_markers(folder, runs, stream, seconds,
                       None if first is None else first - stream.started)
    runs = read_json(folder / "stream.json")
    prov.stage("explore", runs["seconds"], centres_selected_by_fix=runs["centres_by_fix"],
               max_s_local=runs["max_s_local"], first_label_after=runs["first_label_after"])
    prov.set(explore_runs=runs["walkers"])
    prov.stage("regions", 0.0, centres=runs["centres"])
    prov.stage("extract", 0.0, cells=(read_json(folder / "cells" / ".done") or {}).get("cells"))
    prov.stage("label", 0.0, labelled=runs["labelled"], label_failed=runs["label_failed"])
    frames = read_frames(folder / "labelled.extxyz")
    return sorted(frames, key=lambda f: str(f.info["cell_id"]))


def finish_markers(folder: Path, runs: list[dict], stream: Stream, seconds: float,
                   first_label: float | None) -> None:
    """``stream.json``, ``cells/.done`` and ``labelled.done`` of a finished iteration (or
    LearnStopped when nothing could be labelled)."""
    from ..extract.label_output import FailureLog, failures_path

    output = folder / "labelled.extxyz"
    labelled = len(read_frames(output)) if output.exists() else 0
    failed = len(FailureLog(failures_path(output)).entries)
    if not stream.admission.frames:
        peak = max((r["max_s_local"] for r in runs), default=0.0)
        raise LearnStopped(f"the exploration selected no centre (max s_loc {peak:.4f} eV/Å "
                           "stayed below the template's threshold): the committee is "
                           "confident everywhere it went")
    if labelled == 0:
        raise LearnStopped(f"label: every one of the {len(stream.admission.frames)} centres "
                           f"failed to carve or label (reasons in {failures_path(output)})")
    cells = len(list((folder / "cells").glob("cell_*.extxyz")))
    write_json(folder / "stream.json", {
        "seconds": round(seconds, 3), "walkers": runs, "centres": len(stream.admission.frames),
        "centres_by_fix": sum(r["centres"] for r in runs),
        "max_s_local": max(r["max_s_local"] for r in runs), "labelled": labelled,
        "label_failed": failed, "first_label_after": None if first_label is None
        else round(first_label, 3)})
    write_json(folder / "cells" / ".done", {"cells": cells, "failed": stream.carve_failed})
    write_json(folder / "labelled.done", {"labelled": labelled, "failed": failed})
