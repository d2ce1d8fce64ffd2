"""``fix uq ... carve DIR [options]``: a consumer process carves while the MD runs.

At fix creation the words are checked (and DIR made); at the first region frame of a run,
rank 0 starts ``lammps-uq extract REGIONS -o DIR --follow --until-pid PID`` as a fresh
interpreter, through the extract layer's own entry (``sys.executable -m``
:mod:`lammps_uq.extract.consumer_main`, never the command-line package above this layer).  At
the end of every run (``post_run``) the fix writes the done marker and, unless ``--no-wait`` is
among the carve words, waits until the consumer has carved every frame written so far.  A
later run starts a new consumer (the lock in DIR makes it wait for an old one).

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
from pathlib import Path

from ..errors import InputError

MPI_ENV = ("PMI_", "PMIX_", "OMPI_", "HYDRA_", "HYDI_", "MPIR_", "MPI_LOCAL")
NICE = 10
CONSUMER = "lammps_uq.extract.consumer_main"  # takes the words of lammps-uq extract


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
        from ..extract.carve_args import parse_carve_words
        from ..extract.carve_io import carve_options, check_format
        from ..committee.evaluators.mace_committee import MaceCommittee
        from ..inputs import output_dir

        args = parse_carve_words(words)
        check_format(args.format)
        carve_options(args)
        self.out = output_dir(args.output, "fix uq carve")  # checked now, before step 0
        self.wait, self.regions, self.rank0 = args.wait, regions, rank0
        self.argv = [w for w in words if w not in ("--wait", "--no-wait")]
        if args.relax and not args.committee:
            if not isinstance(evaluator, MaceCommittee):
                raise InputError("fix uq carve: the border relaxation needs a MACE committee "
                                 "(--committee FILES, or the mace evaluator of fix uq); or give "
                                 "--no-relax")
            self.argv += ["--committee", *evaluator.paths, "--dtype", evaluator.dtype]
        self.proc = None
        self.wrote = False  # a region was written in this run
        if rank0:
            done_file(regions).unlink(missing_ok=True)
        # the consumer starts at the first region of a run: by then setup() has started the
        # file, so it never reads a region file left over from an earlier job

    def command(self) -> list[str]:
        return [python_executable(), "-m", CONSUMER, self.regions,
                "-o", *self.argv, "--follow", "--until-pid", str(os.getpid()), "--nice", str(NICE)]

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
