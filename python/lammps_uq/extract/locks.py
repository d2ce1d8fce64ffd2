"""Exclusive locks on files, so that two runs on one output take turns (never both write)."""

from __future__ import annotations

import sys


def hold(handle, waiting: str) -> None:
    """Lock the open file ``handle`` exclusively; if another process holds it, print the line
    ``waiting`` on stderr and wait for it (released when ``handle`` is closed)."""
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(waiting, file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
