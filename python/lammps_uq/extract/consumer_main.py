"""``python -m lammps_uq.extract.consumer_main [-T] JOB``: the consumer that ``fix uq ... carve``
starts, ``lammps-uq extract`` without the command-line package.

JOB is an :class:`~lammps_uq.extract.settings.ExtractJob` as JSON (its ``to_json``), made by
:mod:`lammps_uq.fix.insitu` from the fix's carve words: the settings cross the process
boundary as data, not as words parsed again.  The one-line errors and the exit statuses are
those of ``lammps-uq extract`` (:func:`lammps_uq.exits.run_command`); ``-T`` shows the full
trace in the consumer's log instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..exits import run_command

USAGE = "usage: python -m lammps_uq.extract.consumer_main [-T] JOB (an ExtractJob as JSON)"


@dataclass(frozen=True)
class Started:
    """What the consumer's command line holds: the job's JSON, and whether to show traces."""

    job: str
    traceback: bool = False


def consume(started: Started) -> int:
    from .consumer import run
    from .settings import ExtractJob

    return run(ExtractJob.from_json(started.job, "JOB"))


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    trace = words[:1] == ["-T"]
    if len(words) != 1 + trace:
        print(USAGE, file=sys.stderr)
        return 2
    return run_command("extract", consume, Started(words[-1], trace))


if __name__ == "__main__":
    raise SystemExit(main())
