"""``fix uq ... carve DIR [options]``: a consumer process carves while the MD runs.

At fix creation the words are read into the typed settings (:func:`carve_words`: the options
of ``lammps-uq carve``, from the fields of :class:`~lammps_uq.extract.settings.CarveSettings`,
plus ``--no-wait`` and ``--workers N``), checked, and DIR made; at the first region frame of a
run, rank 0 starts the consumer (``lammps-uq extract REGIONS -o DIR --follow --until-pid PID``)
as a fresh interpreter, through the extract layer's own entry (``sys.executable -m``
:mod:`lammps_uq.extract.consumer_main`, never the command-line package above this layer),
handing it the job as JSON (:class:`~lammps_uq.extract.settings.ExtractJob`).  At the end of
every run (``post_run``) the fix writes the done marker and, unless ``--no-wait`` is among the
carve words, waits until the consumer has carved every frame written so far.  A later run
starts a new consumer (the lock in DIR makes it wait for an old one).

Why this is safe under MPI: ``subprocess.Popen`` with ``close_fds=True`` and no
``preexec_fn`` starts the child with ``vfork`` + ``exec`` (CPython >= 3.10 on Linux): the
rank's address space is never copied and no atfork handler of the MPI library runs; the
child is a new interpreter that shares nothing with the rank but the working folder.  It gets
its own session (``start_new_session``; a Ctrl-C to mpirun leaves it to finish whole frames),
the MPI launcher's variables are removed from its environment (it is no MPI process) and it
runs at ``nice`` 10 with one thread per worker, so the MD keeps its cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ..extract.settings import (CarveSettings, ExecutorSettings, ExtractJob, Settings, option,
                                options)

MPI_ENV = ("PMI_", "PMIX_", "OMPI_", "HYDRA_", "HYDI_", "MPIR_", "MPI_LOCAL")
NICE = 10
CONSUMER = "lammps_uq.extract.consumer_main"  # takes an ExtractJob as JSON
EXPECTED = ("expected carve DIR followed by options of 'lammps-uq carve' (and --no-wait, "
            "--workers N)")


@dataclass(frozen=True)
class Waiting(Settings):
    """The fix's own carve word."""

    wait: bool = option(True, "at the end of each run, wait until the consumer has carved "
                        "every frame written so far (--no-wait: not)")


ACCEPTED = ((CarveSettings, None), (ExecutorSettings, {"workers"}), (Waiting, None))


def word_table(accepted=ACCEPTED) -> dict:
    """{word: (which class, its Option, the value of a switch or None)}."""
    table = {}
    for which, (cls, only) in enumerate(accepted):
        for opt in options(cls):
            if only is not None and opt.name not in only:
                continue
            table[opt.flag] = (which, opt, True if opt.kind is bool else None)
            if opt.kind is bool and opt.default is True:
                table["--no-" + opt.flag[2:]] = (which, opt, False)
    return table


def read_words(words: list[str], accepted=ACCEPTED) -> list[dict]:
    """The values that option ``words`` give, one dict per class of ``accepted`` (as
    ``lammps-uq carve`` reads them); ValueError says what is wrong."""
    table, given, k = word_table(accepted), [{} for _ in accepted], 0
    while k < len(words):
        if words[k] not in table:
            raise ValueError(f"unrecognized word {words[k]!r}")
        which, opt, switch = table[words[k]]
        k += 1
        if switch is not None:
            given[which][opt.name] = switch
            continue
        stop = k + 1
        if opt.kind is tuple:
            stop = next((j for j in range(k, len(words)) if words[j].startswith("--")),
                        len(words))
        if stop <= k or stop > len(words) or words[k] in table:
            raise ValueError(f"argument {opt.flag}: expected "
                             f"{'one or more values' if opt.kind is tuple else 'one value'}")
        try:
            value = tuple(words[k:stop]) if opt.kind is tuple else opt.kind(words[k])
        except ValueError:
            raise ValueError(f"argument {opt.flag}: invalid {opt.kind.__name__} value: "
                             f"{words[k]!r}") from None
        given[which][opt.name], k = value, stop
    return given


def carve_words(words: list[str], what: str = "fix uq carve"):
    """(DIR, CarveSettings, ExecutorSettings, wait) of the words after ``carve``, checked."""
    if not words:
        raise InputError(f"{what}: missing DIR; expected carve DIR [--molecules K ...]")
    try:
        if words[0].startswith("-"):
            raise ValueError(f"got {words[0]!r} where DIR goes")
        carve, executor, waiting = read_words(words[1:])
    except ValueError as exc:
        raise InputError(f"{what}: bad options {' '.join(words)!r} ({exc}); {EXPECTED}") from exc
    return words[0], CarveSettings(**carve), ExecutorSettings(**executor), Waiting(**waiting).wait


def python_executable() -> str:
    """This interpreter (inside ``lmp`` sys.executable may name lmp itself)."""
    exe = Path(sys.executable)
    if exe.name.startswith("python") and exe.exists():
        return str(exe)
    found = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}") or \
        shutil.which("python3")
    if found is None:
        raise InputError(f"fix uq carve: no Python interpreter to start the consumer (got "
                         f"sys.executable {sys.executable!r}); expected python3 on PATH")
    return found


def consumer_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(MPI_ENV)}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


class InSituExtract:
    """The consumer of one fix's region file (only rank 0 starts one)."""

    def __init__(self, words: list[str], evaluator, regions: str, rank0: bool):
        from ..committee.evaluators.mace_committee import MaceCommittee
        from ..inputs import output_dir

        folder, carve, self.executor, self.wait = carve_words(words)
        self.out = output_dir(folder, "fix uq carve")  # checked now, before step 0
        self.regions, self.rank0 = regions, rank0
        if carve.relax and not carve.committee:
            if not isinstance(evaluator, MaceCommittee):
                raise InputError("fix uq carve: the border relaxation needs a MACE committee "
                                 "(--committee FILES, or the mace evaluator of fix uq); or give "
                                 "--no-relax")
            carve = replace(carve, committee=tuple(str(p) for p in evaluator.paths),
                            dtype=evaluator.dtype)
        self.carve = carve
        self.proc = None
        self.wrote = False  # a region was written in this run
        if rank0:
            done_file(regions).unlink(missing_ok=True)
        # the consumer starts at the first region of a run: by then setup() has started the
        # file, so it never reads a region file left over from an earlier job

    def job(self) -> ExtractJob:
        """What the consumer does: follow the region file while this process lives."""
        return ExtractJob(regions=self.regions, output=str(self.out), carve=self.carve,
                          executor=self.executor, follow=True, until_pid=os.getpid(),
                          nice=NICE)

    def command(self) -> list[str]:
        return [python_executable(), "-m", CONSUMER, self.job().to_json()]

    def start(self) -> None:
        log = open(self.out / "extract.log", "a")
        with log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, close_fds=True,
                                         start_new_session=True, env=consumer_env())

    def frame_written(self) -> None:
        """Rank 0, after each region frame: the first of a run starts the consumer."""
        if not self.wrote and self.proc is None:
            done_file(self.regions).unlink(missing_ok=True)
            self.start()
        self.wrote = True

    def finish_run(self) -> str:
        """End of a run: write the done marker; wait for the consumer unless --no-wait."""
        if self.proc is None:
            return ""
        size = os.path.getsize(self.regions) if os.path.exists(self.regions) else 0
        done_file(self.regions).write_text(f"{size}\n")
        self.wrote = False
        if not self.wait:
            self.proc = None
            return (f"fix uq carve: the consumer carves on into {self.out} (--no-wait; log "
                    f"{self.out / 'extract.log'})")
        start = time.monotonic()
        code = self.proc.wait()
        self.proc = None
        cells = len(list(self.out.glob("cell_*.extxyz")))
        return (f"fix uq carve: {cells} cells in {self.out}; waited {time.monotonic() - start:.1f}"
                f" s for the consumer (exit {code}, log {self.out / 'extract.log'})")


def done_file(regions: str) -> Path:
    from ..extract.consumer import done_marker

    return done_marker(regions)
