"""The cells of one ``label`` run, fed to an executor a few at a time and written as they finish.

At most as many cells are in flight as the executor has workers (one for ``--workers 0``, every
cell for Parsl, which queues them itself), so each label is appended to the output as soon as
it is computed, and an interrupt finds little to cancel.  On an interrupt (Ctrl-C, SIGTERM)
the queued cells are cancelled, the running calculations killed, and every label already
computed is still written before the interrupt goes on.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from .label_output import (FailureLog, append_frame, failures_path, folder_name,
                           labelled_frame)
from .label_process import kill_running, label_task, reason_of


class LabelQueue:
    """Label ``todo`` ({cell_id: (cell_id, source, atoms)}) into ``output``."""

    def __init__(self, todo: dict, output: Path, spec: str, config: dict, executor, retries: int,
                 timeout: float | None, progress):
        from .executors import capacity

        self.todo, self.output, self.spec, self.config = todo, output, spec, config
        self.executor, self.retries, self.timeout, self.progress = executor, retries, timeout, \
            progress
        self.waiting = list(todo)
        self.window = capacity(executor) or max(1, len(todo))
        self.failures = FailureLog(failures_path(output))
        self.workdir = Path(f"{output}.work").resolve()
        self.attempts: dict[str, int] = {}
        self.futures: dict = {}
        self.labelled = self.failed = 0

    def folder(self, cell_id: str) -> Path:
        return self.workdir / folder_name(cell_id)

    def run(self) -> None:
        try:
            while self.waiting or self.futures:
                self.fill()
                finished, _ = wait(list(self.futures), timeout=self.progress.every,
                                   return_when=FIRST_COMPLETED)
                for future in [f for f in self.futures if f in finished]:  # submission order
                    self.collect(future)
                self.progress.update(self.futures)
                self.progress.show()
        except BaseException:
            self.stop()
            raise
        self.progress.show(force=True)

    def fill(self) -> None:
        while self.waiting and len(self.futures) < self.window:
            cell_id = self.waiting.pop(0)
            self.attempts[cell_id] = self.attempts.get(cell_id, 0) + 1
            atoms = self.todo[cell_id][2]
            future = self.executor.submit(label_task, atoms, self.spec, self.config, self.timeout,
                                          str(self.folder(cell_id)))
            self.futures[future] = cell_id

    def collect(self, future) -> None:
        cell_id = self.futures.pop(future)
        _, source, atoms = self.todo[cell_id]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - any failure of one cell is recorded
            reason = reason_of(exc)
            if self.attempts[cell_id] <= self.retries:
                self.waiting.insert(0, cell_id)
                return
            self.failures.record(cell_id, source=source, attempts=self.attempts[cell_id],
                                 reason=reason)
            self.failed += 1
            self.progress.failed += 1
            return
        append_frame(self.output, labelled_frame(atoms, result, cell_id, source, self.spec))
        self.failures.resolve(cell_id)
        self.labelled += 1
        self.progress.done += 1

    def stop(self) -> None:
        """Interrupted: cancel the queued cells, kill the running ones, keep the finished."""
        for future in self.futures:
            future.cancel()
        kill_running([self.folder(c) for f, c in self.futures.items() if not f.done()])
        for future in [f for f in self.futures if f.done() and not f.cancelled()]:
            if future.exception() is None:
                self.collect(future)
