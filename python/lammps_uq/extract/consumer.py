"""``lammps-uq extract``: carve region frames as fix uq appends them, outside the MD ranks.

The region file is the queue (DESIGN.md section 8).  :func:`extract` reads its whole frames
(:class:`~lammps_uq.extract.follow.FrameFollower`), skips frames whose cell exists already (the cell
name holds the parent step, the centre id and the frame index, so a restarted consumer carves
each frame once) and submits the others as carving tasks to an executor.  With ``follow`` it
keeps reading until the *done marker* ``REGIONS.done`` (written by fix uq at the end of each
run, holding the file size then) says every frame is read, or until the process ``until_pid``
is gone (a run killed: the whole frames it wrote are still carved).  Two consumers of one
output folder take turns through a lock file (``DIR/.extract.lock``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import InputError

CARVE_FIELDS = ("molecules", "radius", "box", "cluster", "vacuum", "committee", "dtype", "relax",
                "fixed_fraction", "pad", "shrink", "bfgs_steps", "contact", "contact_k", "format")


def done_marker(regions) -> Path:
    """The file fix uq writes at the end of a run: the region file's size, in bytes."""
    return Path(f"{regions}.done")


def carve_settings_of(args: argparse.Namespace) -> argparse.Namespace:
    """The picklable carve settings a task needs (the options of ``lammps-uq carve``)."""
    return argparse.Namespace(**{k: getattr(args, k) for k in CARVE_FIELDS},
                              centre_index=None)


def settings_key(settings: argparse.Namespace) -> tuple:
    return ("carve", repr(sorted(vars(settings).items())))


def carve_task(index: int, atoms, settings: argparse.Namespace, out: str) -> tuple[int, int, int]:
    """Carve one region frame (a worker's task); returns (written, already there, failed)."""
    from .carve_io import carve_frames, carve_settings
    from .executors import cached

    options, calculator, provenance = cached(settings_key(settings),
                                            lambda: carve_settings(settings))
    return carve_frames([atoms], Path(out), options, calculator=calculator, fmt=settings.format,
                        provenance=provenance, first=index)


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finished(regions, follower, until_pid: int | None) -> bool:
    """Whether a follower has read everything it will ever get."""
    marker = done_marker(regions)
    if marker.exists():
        try:
            size = int(marker.read_text().split()[0])
        except (ValueError, IndexError, OSError):
            size = 0
        if follower.offset >= size:
            return True
    return not pid_alive(until_pid)


class Tally:
    """Frames carved, already there and failed; futures still running."""

    def __init__(self, progress):
        self.written = self.skipped = self.failed = 0
        self.futures: dict = {}
        self.progress = progress

    def collect(self, wait: bool = False) -> None:
        from concurrent.futures import wait as wait_for

        if wait and self.futures:
            wait_for(list(self.futures))
        for future in [f for f in self.futures if f.done()]:
            index = self.futures.pop(future)
            try:
                written, skipped, failed = future.result()
            except Exception as exc:  # noqa: BLE001 - a task's crash fails its frame only
                print(f"lammps-uq extract: frame {index} failed: {type(exc).__name__}: {exc}",
                      flush=True)
                written, skipped, failed = 0, 0, 1
            self.written, self.skipped = self.written + written, self.skipped + skipped
            self.failed += failed
            self.progress.done += written + skipped
            self.progress.failed += failed
        self.progress.update(self.futures)
        self.progress.show(force=wait)


def extract(regions, out: Path, settings, executor, *, follow: bool = False,
            until_pid: int | None = None, poll: float = 0.5, progress=None) -> Tally:
    """Carve every whole frame of ``regions`` into ``out`` (see the module docstring)."""
    from .carve_io import cell_name
    from .executors import Progress
    from .follow import FrameFollower

    follower = FrameFollower(regions, "REGIONS")
    tally = Tally(progress or Progress("lammps-uq extract"))
    while True:
        last = follow and finished(regions, follower, until_pid)  # decided before reading
        for index, atoms in follower.new_frames():
            if (out / f"{cell_name(atoms, index)}.extxyz").exists():
                tally.skipped += 1
                tally.progress.done += 1
                continue
            tally.futures[executor.submit(carve_task, index, atoms, settings, str(out))] = index
        tally.collect()
        if not follow or last:
            break
        time.sleep(poll)
    tally.collect(wait=True)
    return tally


def lock_folder(out: Path):
    """Hold ``out/.extract.lock`` (waiting for another consumer of the folder to finish)."""
    import fcntl

    handle = open(out / ".extract.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"lammps-uq extract: another consumer carves into {out}; waiting for it",
              flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def run(args: argparse.Namespace) -> int:
    """``lammps-uq extract REGIONS -o DIR [--follow] [carve options]``."""
    from .carve_io import carve_settings
    from .executors import cached, running
    from ..inputs import output_dir, require_file

    if args.nice:
        os.nice(args.nice)
    if not args.follow:
        require_file(args.regions, "REGIONS")
    if args.centre_index is not None:
        raise InputError(f"--centre-index: got {args.centre_index}; extract takes each centre "
                         "from its region frame (centre_id); use lammps-uq carve for plain frames")
    settings = carve_settings_of(args)
    # every option checked (and the committee loaded) before any work; kept for --workers 0
    cached(settings_key(settings), lambda: carve_settings(settings))
    out = output_dir(args.output, "--output")
    if args.until_pid is not None and args.until_pid <= 0:
        raise InputError(f"--until-pid: got {args.until_pid}; expected a process id > 0")
    with running(args.workers, args.parsl_config) as executor, lock_folder(out):
        tally = extract(args.regions, out, settings, executor, follow=args.follow,
                        until_pid=args.until_pid, poll=args.poll)
    print(f"lammps-uq extract: {tally.written} cells written, {tally.skipped} already there, "
          f"{tally.failed} failed", flush=True)
    return 0 if tally.failed == 0 else 1
