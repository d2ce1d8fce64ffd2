"""Where the walkers run: a local pool of spawned processes, or Parsl.

- Local (no ``executor.parsl_config``): a ``ProcessPoolExecutor`` (spawn) of
  ``explore.concurrent`` workers (0: one per walker), each running one walker's launcher line
  (:func:`~.walkers.explore_task`) at a time.
- Parsl: the walkers go to the config's MPI-capable executors (``MPIExecutor``, or a
  ``HighThroughputExecutor`` with ``enable_mpi_mode=True``), each task with a resource
  specification of ``explore.ranks`` ranks on one node; with ``explore.ranks = 1`` a plain
  executor serves too.  Carving, labelling and training go to the other executors
  (:func:`lammps_uq.extract.executors.parsl_executor`).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Iterator

from ..errors import CalculationFailed, InputError
from ..extract.executors import mpi_labels
from .walkers import Walker, command, explore_task, finish, prepare, record


def check_parsl(config, ranks: int, what: str = "CONFIG: executor.parsl_config") -> None:
    """Refuse a Parsl config that cannot run the walkers (``ranks`` > 1 and no MPI-capable
    executor) or that leaves carving, labelling and training nowhere to go."""
    mpi, plain = mpi_labels(config)
    if ranks > 1 and not mpi:
        raise InputError(
            f"{what}: got executors {plain} for explorations of explore.ranks = {ranks}, none "
            "MPI-capable; expected a parsl.executors.MPIExecutor (or a HighThroughputExecutor "
            "with enable_mpi_mode=True) for the walkers, or explore.ranks = 1")
    if not plain:
        raise InputError(f"{what}: got only MPI-capable executors {mpi}; expected one more "
                         "(e.g. a HighThroughputExecutor) for carving, labelling and training")


class Explorer:
    """Launches walkers on ``executor`` (with Parsl's resource specification ``resources``)."""

    def __init__(self, executor: Executor, resources: dict | None = None):
        self.executor, self.resources = executor, resources

    def launch(self, cfg, walker: Walker, committee: list, say) -> Future:
        """Prepare the walker's folder and submit its run."""
        prepare(cfg, walker)
        argv = command(cfg, walker, [str(p) for p in committee])
        say(f"explore: walker {walker.name} ({cfg['explore.templates'][walker.template]}, "
            f"{cfg['explore.steps']} steps, {cfg['explore.ranks']} ranks, seed "
            f"{walker.variables['seed']})")
        files = " ".join(str(p) for p in committee)
        say(" ".join("FILES" if w == files else w for w in argv) + f" (in {walker.folder})")
        kwargs = {"parsl_resource_specification": self.resources} if self.resources else {}
        return self.executor.submit(explore_task, str(walker.folder), argv,
                                    cfg["explore.threads"], walker.name, **kwargs)


@contextmanager
def exploring(cfg, walkers: int) -> Iterator[Explorer]:
    """The Explorer of ``cfg`` (``walkers``: how many one iteration runs)."""
    if cfg["executor.parsl_config"]:
        from parsl import dfk
        from parsl.concurrent import ParslPoolExecutor

        kernel = dfk()
        mpi, plain = mpi_labels(kernel.config)
        ranks = cfg["explore.ranks"]
        labels = mpi if (mpi and ranks > 1) or not plain else plain
        resources = {"num_nodes": 1, "num_ranks": ranks, "ranks_per_node": ranks} \
            if labels == mpi else None
        yield Explorer(ParslPoolExecutor(dfk=kernel, executors=labels), resources)
        return
    pool = ProcessPoolExecutor(max_workers=cfg["explore.concurrent"] or walkers,
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        yield Explorer(pool)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def walker_ended(cfg, future: Future, walker: Walker, say) -> str | None:
    """Record a finished walker (``.done``); the reason it failed, or None."""
    try:
        seconds = future.result()
    except Exception as exc:  # noqa: BLE001 - one walker's failure is told, the others go on
        say(f"explore: {exc}")
        return str(exc)
    done = finish(cfg, walker, seconds)
    say(f"explore: walker {walker.name}: {done['centres']} centres, max s_loc "
        f"{done['max_s_local']:.4f} eV/Å ({seconds:.0f} s)")
    return None


def failed_walkers(failures: list[str]) -> CalculationFailed:
    """The error that stops the loop after walkers failed (their state kept: a restart reruns
    just them)."""
    more = f" (and {len(failures) - 1} more walkers)" if len(failures) > 1 else ""
    return CalculationFailed(f"{failures[0]}{more}; every other walker's state is kept: "
                             "started again, the loop reruns only the failed walkers")


def run_walkers(cfg, walkers: list[Walker], committee, explorer: Explorer, say) -> list[dict]:
    """Run every walker not done yet at once (stages in turn); their records.  When a walker
    fails the others still end, then the loop stops naming it."""
    futures = {explorer.launch(cfg, w, committee, say): w for w in walkers if record(w) is None}
    failures = []
    while futures:
        finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        for future in finished:
            reason = walker_ended(cfg, future, futures.pop(future), say)
            if reason:
                failures.append(reason)
    if failures:
        raise failed_walkers(failures)
    return [record(w) for w in walkers]
