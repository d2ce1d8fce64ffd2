"""How a command of lammps-uq ends: one line on stderr and an exit status per kind of failure.

Shared by ``lammps-uq`` (:mod:`lammps_uq.cli`) and the consumer process that fix uq starts
(:mod:`lammps_uq.extract.consumer_main`), which must not import the command line.  Stdlib only.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from .errors import InputError

TRACEBACK = "show the full Python traceback of an error instead of one line"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_line(command: str, text: str) -> str:
    """``lammps-uq COMMAND: text`` (a text that starts with the command keeps it once)."""
    for start in (f"{command}: ", f"{command} "):
        if text.startswith(start):
            text = text[len(start):]
            break
    return f"lammps-uq {command}: {text}"


def run_command(command: str, run, args) -> int:
    """``run(args)``; bad input ends it with one line on stderr and exit status 2.

    An InputError (raised where an option or file is checked) or an OSError (a file the OS
    refused) is the user's to fix; anything else is a lammps-uq bug, reported in one line too
    with exit status 1.  Ctrl-C or SIGTERM ends it with one line and 130 or 143 (each
    command keeps what it finished; a rerun does the rest).  ``args.traceback`` (``-T``)
    shows the full trace of any of them.
    """
    try:
        with terminate_as_interrupt():
            return run(args)
    except KeyboardInterrupt as exc:
        if args.traceback:
            raise
        name = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        print(one_line(command, f"interrupted ({name}); what was finished is kept: run the "
                       "same command again to do the rest"), file=sys.stderr)
        raise SystemExit(143 if isinstance(exc, Terminated) else 130) from None
    except (InputError, OSError) as exc:
        if args.traceback:
            raise
        print(one_line(command, first_line(exc)), file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the trace with -T
        if args.traceback:
            raise
        print(one_line(command, f"internal error: {type(exc).__name__}: {first_line(exc)} "
                       "(run lammps-uq -T ... for the traceback)"), file=sys.stderr)
        raise SystemExit(1) from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's or ``kill``'s), raised where Ctrl-C would be."""


@contextmanager
def terminate_as_interrupt():
    """SIGTERM raises :class:`Terminated` in the main thread while the block runs."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum, frame):
        raise Terminated()

    old = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
