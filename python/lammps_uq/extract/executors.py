"""Where carving and labelling tasks run: one ``concurrent.futures.Executor`` interface.

- default: local worker processes (``ProcessPoolExecutor`` with the ``spawn`` start method:
  each worker is a fresh interpreter, never a fork of the caller); ``workers=0`` runs the
  tasks in the calling process, one after the other;
- ``--parsl-config FILE``: Parsl (a Python file that defines ``config``, a
  ``parsl.config.Config``; on a cluster a ``HighThroughputExecutor`` with a Slurm or PBS
  provider), through ``parsl.concurrent.ParslPoolExecutor``;
- anything else with the same interface, e.g. Dask: ``Client(...).get_executor()``, passed
  to :func:`lammps_uq.extract.labelling.label_cells` or :func:`lammps_uq.extract.consumer.extract`.

Tasks are module-level functions with picklable arguments; :func:`cached` keeps a heavy
object (a committee, a calculator) once per worker process.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import InputError
from .settings import ExecutorSettings

_CACHE: dict = {}


def cached(key, make: Callable[[], Any]) -> Any:
    """``make()`` once per worker process and ``key``."""
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


class InlineExecutor(Executor):
    """Runs each task at submission, in the calling process (``--workers 0``)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the caller reads it from the future
            future.set_exception(exc)
        return future  # an interrupt (Ctrl-C, SIGTERM) is not the task's: it goes on up


def load_parsl_config(path: str, what: str = "--parsl-config"):
    """The ``config`` that the Python file ``path`` defines; one InputError otherwise."""
    import runpy

    expected = "expected a Python file that defines config = parsl.config.Config(...)"
    if not Path(path).is_file():
        raise InputError(f"{what}: got {path!r} (no such file); {expected}")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # noqa: BLE001 - the user's file: any error is a bad config
        raise InputError(f"{what}: got {path!r}, which does not load ({type(exc).__name__}: "
                         f"{exc}); {expected}") from exc
    from parsl.config import Config

    config = namespace.get("config")
    if not isinstance(config, Config):
        raise InputError(f"{what}: got {path!r}, whose config is {type(config).__name__}; "
                         f"{expected}")
    return config


def mpi_labels(config) -> tuple[list[str], list[str]]:
    """(labels of the MPI-capable executors, labels of the others) of a Parsl config."""
    mpi = [e.label for e in config.executors if getattr(e, "enable_mpi_mode", False)]
    return mpi, [e.label for e in config.executors if e.label not in mpi]


def parsl_executor(path: str) -> Executor:
    """A ``concurrent.futures`` view of Parsl, started with the config in ``path``."""
    config = load_parsl_config(path)
    from parsl.concurrent import ParslPoolExecutor

    # Parsl starts its interchange and workers by script name (interchange.py,
    # process_worker_pool.py): found on PATH only when the environment is activated, which
    # `.venv/bin/lammps-uq` alone does not do.  Its scripts sit next to this interpreter.
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
    mpi, plain = mpi_labels(config)
    # an MPI-capable executor takes only tasks with a resource specification (the walkers of
    # lammps-uq learn): carving, labelling and training go to the others
    return ParslPoolExecutor(config=config, executors=plain if mpi and plain else "all")


def make_executor(workers: int, parsl_config: str | None = None) -> Executor:
    """The executor of the options ``--workers`` and ``--parsl-config``."""
    if parsl_config is not None:
        return parsl_executor(parsl_config)
    if workers < 0:
        raise InputError(f"--workers: got {workers}; expected an integer >= 0 (0: in this process)")
    if workers == 0:
        return InlineExecutor()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=share_cores, initargs=(worker_threads(workers),))


def worker_threads(workers: int) -> int:
    """Threads per local worker: this machine's cores shared out (torch and xTB would each
    take every core, and ``workers`` of them thrash), unless OMP_NUM_THREADS is set."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, workers))


def share_cores(threads: int) -> None:
    """A local worker's initializer: OMP_NUM_THREADS before torch or xTB is imported, and a
    terminal's Ctrl-C left to the main process, which stops the run (a worker idling on its
    queue would die of it with a traceback).  A handler, not SIG_IGN: the programs a worker
    starts (mace training, a DFT code) still stop on Ctrl-C."""
    import signal

    os.environ["OMP_NUM_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, _ignore)


def _ignore(signum, frame) -> None:
    """SIGINT in a worker: nothing (see :func:`share_cores`)."""


def capacity(executor: Executor) -> int | None:
    """How many tasks ``executor`` runs at once (None: unknown, e.g. Parsl's own queue)."""
    if isinstance(executor, InlineExecutor):
        return 1
    workers = getattr(executor, "_max_workers", None)
    return workers if isinstance(workers, int) and workers > 0 else None


@contextmanager
def running(settings: ExecutorSettings = ExecutorSettings()) -> Iterator[Executor]:
    """The executor of ``--workers``/``--parsl-config``, shut down on leaving (queued tasks
    dropped where possible when leaving by an exception, e.g. Ctrl-C)."""
    executor = make_executor(settings.workers, settings.parsl_config)
    try:
        yield executor
    except BaseException:
        close(executor, cancel=True)
        raise
    close(executor)


def close(executor: Executor, cancel: bool = False) -> None:
    """Shut ``executor`` down; ``cancel`` drops queued tasks where the executor can (Parsl
    cannot, and warns if asked)."""
    if cancel and type(executor).__module__.split(".")[0] != "parsl":
        executor.shutdown(wait=True, cancel_futures=True)
    else:
        executor.shutdown(wait=True)


class Progress:
    """Counts of tasks pending / running / done / failed, shown as one line on stderr."""

    def __init__(self, what: str, every: float = 2.0, stream=None):
        self.what, self.every, self.stream = what, every, stream or sys.stderr
        self.pending = self.running = self.done = self.failed = 0
        self._shown, self._last = None, 0.0

    def update(self, futures) -> None:
        """Recount from the live futures (pending or running) plus the finished counts."""
        live = [f for f in futures if not f.done()]
        self.running = sum(1 for f in live if f.running())
        self.pending = len(live) - self.running

    def line(self) -> str:
        return (f"{self.what}: {self.pending} pending, {self.running} running, {self.done} done, "
                f"{self.failed} failed")

    def show(self, force: bool = False) -> None:
        line, now = self.line(), time.monotonic()
        if line != self._shown and (force or now - self._last >= self.every):
            print(line, file=self.stream, flush=True)
            self._shown, self._last = line, now
