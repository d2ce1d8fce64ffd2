"""``lammps-uq extract``: carve region frames as fix uq appends them, outside the MD ranks.

The region file is the queue (docs/design.md, "From regions to a better potential").
:func:`extract` reads its whole frames
(:class:`~lammps_uq.extract.follow.FrameFollower`), skips frames whose cell exists already (the cell
name holds the parent step, the centre id and the frame index, so a restarted consumer carves
each frame once) and submits the others as carving tasks to an executor.  With ``follow`` it
keeps reading until the *done marker* ``REGIONS.done`` (written by fix uq at the end of each
run, holding the file size then) says every frame is read, or until the process ``until_pid``
is gone (a run killed: the whole frames it wrote are still carved).  A torn tail that can
never become whole (the writer has ended) is a failed frame.  A failed frame is recorded with
its reason in ``DIR/extract.failed.json`` and its entry removed once a rerun carves it.  Two
consumers of one output folder take turns through a lock file (``DIR/.extract.lock``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import InputError
from .label_output import FailureLog
from .settings import CarveSettings, ExtractJob


def done_marker(regions) -> Path:
    """The file fix uq writes at the end of a run: the region file's size, in bytes."""
    return Path(f"{regions}.done")


def carve_task(index: int, atoms, settings: CarveSettings,
               out: str) -> tuple[tuple[int, int, int], str | None]:
    """Carve one region frame (a worker's task): ((written, already there, failed), why it
    failed or None)."""
    from .carve_io import carve_frames, relaxer
    from .executors import cached

    calculator, provenance = cached(("carve", settings), lambda: relaxer(settings))
    failures: dict = {}
    counts = carve_frames([atoms], Path(out), settings, calculator=calculator,
                          fmt=settings.format, provenance=provenance, first=index,
                          failures=failures)
    return counts, (failures.get(index, "carve failed without a message") if counts[2] else None)


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


def marker_size(regions) -> int | None:
    """The size the done marker holds; None without one (an unreadable one holds 0)."""
    marker = done_marker(regions)
    if not marker.exists():
        return None
    try:
        return int(marker.read_text().split()[0])
    except (ValueError, IndexError, OSError):
        return 0


def file_size(path) -> int | None:
    return os.path.getsize(path) if os.path.exists(path) else None


class Writer:
    """What is known of the writer of ``regions`` before a read: its done marker's size, whether
    the process ``until_pid`` is gone, and the file's size then."""

    def __init__(self, regions, until_pid: int | None):
        self.marker = marker_size(regions)
        self.gone = not pid_alive(until_pid)
        self.size = file_size(regions)  # after the two above: the writer's last bytes are in

    def verdict(self, follower) -> tuple[bool, str | None]:
        """After reading all frames that were whole: (stop following, why a torn tail is
        failed for good, or None)."""
        if self.marker is not None and follower.offset >= self.marker:
            return True, None
        if self.marker is not None and self.size is not None and self.size >= self.marker:
            return True, "the done marker says its run has ended"
        if self.gone:
            torn = self.size is not None and self.size > follower.offset
            return True, ("the process that wrote it has exited" if torn else None)
        return False, None


class Tally:
    """Frames carved, already there and failed (each failure recorded); futures running."""

    def __init__(self, progress, failures: FailureLog):
        self.written = self.skipped = self.failed = 0
        self.futures: dict = {}
        self.progress, self.failures = progress, failures

    def skip(self, index: int) -> None:
        self.skipped += 1
        self.progress.done += 1
        self.failures.resolve(index)

    def fail(self, index: int, step, reason: str) -> None:
        print(f"lammps-uq extract: frame {index} failed: {reason}", file=sys.stderr, flush=True)
        step = step.item() if hasattr(step, "item") else step
        self.failures.record(index, reason=reason, step=step)
        self.failed += 1
        self.progress.failed += 1

    def collect(self, wait: bool = False) -> None:
        from concurrent.futures import wait as wait_for

        if wait and self.futures:
            wait_for(list(self.futures))
        for future in [f for f in self.futures if f.done()]:
            index, step = self.futures.pop(future)
            try:
                (written, skipped, failed), reason = future.result()
            except Exception as exc:  # noqa: BLE001 - a task's crash fails its frame only
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                written, skipped, failed = 0, 0, 1
            if failed:
                self.fail(index, step, reason)
            else:
                self.failures.resolve(index)
            self.written, self.skipped = self.written + written, self.skipped + skipped
            self.progress.done += written + skipped
        self.progress.update(self.futures)
        self.progress.show(force=wait)


def torn_tail(regions, follower, why: str) -> str:
    """Why the torn tail of ``regions`` (the frame after the follower's last) failed."""
    tail = (file_size(regions) or follower.offset) - follower.offset
    return (f"{str(regions)!r}: a torn last frame of {tail} bytes (from byte {follower.offset}) "
            f"was not carved; {why}, so it can never become whole")


def extract(regions, out: Path, settings: CarveSettings, executor, *, follow: bool = False,
            until_pid: int | None = None, poll: float = 0.5, progress=None) -> Tally:
    """Carve every whole frame of ``regions`` into ``out`` (see the module docstring)."""
    from .carve_io import cell_name
    from .executors import Progress
    from .follow import FrameFollower

    follower = FrameFollower(regions, "REGIONS")
    tally = Tally(progress or Progress("lammps-uq extract"),
                  FailureLog(out / "extract.failed.json", "extract"))
    told = False
    while True:
        writer = Writer(regions, until_pid if follow else None)  # known before reading
        for index, atoms in follower.new_frames():
            if (out / f"{cell_name(atoms, index)}.extxyz").exists():
                tally.skip(index)
                continue
            future = executor.submit(carve_task, index, atoms, settings, str(out))
            tally.futures[future] = (index, atoms.info.get("step"))
        stop, torn = writer.verdict(follower)
        if follow and writer.size is None and follower.offset == 0:
            if stop:
                raise InputError(f"REGIONS: got {str(regions)!r} (no such file, and the run that "
                                 "should write it has ended); expected the region file of fix uq")
            if not told:
                print(f"lammps-uq extract: waiting for REGIONS {str(regions)!r} to appear",
                      file=sys.stderr, flush=True)
                told = True
        tally.collect()
        if torn:
            tally.fail(follower.index, None, torn_tail(regions, follower, torn))
        if not follow or stop:
            break
        time.sleep(poll)
    tally.collect(wait=True)
    return tally


def lock_folder(out: Path):
    """Hold ``out/.extract.lock`` (waiting for another consumer of the folder to finish)."""
    from .locks import hold

    handle = open(out / ".extract.lock", "a")
    hold(handle, f"lammps-uq extract: another consumer carves into {out}; waiting for it")
    return handle


def run(job: ExtractJob) -> int:
    """``lammps-uq extract`` and the consumer of fix uq carve: carve ``job.regions`` into
    ``job.output``; exit status 0, or 1 when a frame failed."""
    from .carve_io import relaxer
    from .executors import cached, running
    from ..inputs import output_dir, require_file

    if job.nice:
        os.nice(job.nice)
    if not job.follow:
        require_file(job.regions, "REGIONS")
    # the committee loaded before any work (and kept for --workers 0)
    cached(("carve", job.carve), lambda: relaxer(job.carve))
    out = output_dir(job.output, "--output")
    with running(job.executor) as executor, lock_folder(out):
        tally = extract(job.regions, out, job.carve, executor, follow=job.follow,
                        until_pid=job.until_pid, poll=job.poll)
    print(f"lammps-uq extract: {tally.written} cells written, {tally.skipped} already there, "
          f"{tally.failed} failed" + (f" (reasons in {tally.failures.path})" if tally.failed
                                       else ""), flush=True)
    return 0 if tally.failed == 0 else 1
