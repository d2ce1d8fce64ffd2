"""The options of ``lammps-uq carve``, shared by ``lammps-uq extract`` and ``fix uq ... carve``,
and the executor options of ``extract`` and ``label``.

Kept apart from the CLI so that library code (the fix's in-situ carving and its consumer
process, :mod:`lammps_uq.extract.consumer_main`) can check carve words without importing the
command-line package.
"""

from __future__ import annotations

import argparse

from ..errors import InputError


def add_carve_options(carve: argparse.ArgumentParser) -> None:
    """``-o/--output`` and every carve option (not the input argument)."""
    carve.add_argument("-o", "--output", required=True, help="folder of the cells")
    size = carve.add_mutually_exclusive_group()
    size.add_argument("--molecules", type=int, help="K whole molecules (default 64)")
    size.add_argument("--radius", type=float,
                      help="whole molecules (atoms of solids) within R Å of the centre")
    carve.add_argument("--box", type=float, help="cubic length (Å) instead of the parent density")
    carve.add_argument("--cluster", action="store_true", help="non-periodic cluster with vacuum")
    carve.add_argument("--vacuum", type=float, default=6.0, help="Å around a cluster")
    carve.add_argument("--centre-index", type=int, help="centre atom (0-based) of plain frames")
    carve.add_argument("--committee", nargs="+", help="MACE models for the border relaxation")
    carve.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                       help="precision of the relaxing committee")
    carve.add_argument("--relax", action=argparse.BooleanOptionalAction, default=True)
    relax = carve.add_argument_group("border relaxation (paper's Methods B values)")
    relax.add_argument("--fixed-fraction", type=float, default=0.8,
                       help="atoms within this fraction of l/2 stay fixed")
    relax.add_argument("--pad", type=float, default=2.0, help="Å added per direction at first")
    relax.add_argument("--shrink", type=float, default=0.2, help="Å removed per direction a cycle")
    relax.add_argument("--bfgs-steps", type=int, default=5, help="BFGS steps per cycle")
    relax.add_argument("--contact", type=float, default=1.0,
                       help="contact wall at this fraction of the parent's closest contacts; "
                            "0: off")
    relax.add_argument("--contact-k", type=float, default=10.0, help="wall stiffness, eV/Å²")
    carve.add_argument("--format", help="also write DFT input: vasp or espresso")


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--parsl-config``: where the tasks of extract or label run."""
    where = parser.add_argument_group("where the tasks run")
    where.add_argument("--workers", type=int, default=1,
                       help="local worker processes (spawned; 0: in this process)")
    where.add_argument("--parsl-config",
                       help="Python file defining `config` (a parsl.config.Config): run on Parsl")


class _Refusing(argparse.ArgumentParser):
    """A parser that raises instead of printing and exiting (for words inside a fix line)."""

    def error(self, message):
        raise InputError(message)


def parse_carve_words(words: list[str], what: str = "fix uq carve") -> argparse.Namespace:
    """``DIR [carve options]`` as given after ``carve`` on the fix line, checked."""
    if not words:
        raise InputError(f"{what}: missing DIR; expected carve DIR [--molecules K ...]")
    parser = _Refusing(prog=what, add_help=False)
    add_carve_options(parser)
    parser.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--workers", type=int, default=1)
    try:
        return parser.parse_args(["-o", *words])
    except InputError as exc:
        raise InputError(f"{what}: bad options {' '.join(words)!r} ({exc}); expected carve DIR "
                         "followed by options of 'lammps-uq carve' (and --no-wait, "
                         "--workers N)") from exc
