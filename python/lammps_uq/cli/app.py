"""``lammps-uq``: the command-line entry point (subcommands are imported lazily)."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager

from .learn import add_learn
from .workflow import add_workflow
from ..errors import InputError


def _info(_args: argparse.Namespace) -> int:
    """Print where the plugin is and whether LAMMPS will autoload it."""
    from importlib.metadata import entry_points
    from pathlib import Path

    from .. import __version__
    from .._plugin import get_plugin_dir

    folder = Path(get_plugin_dir())
    plugins = sorted(p.name for p in folder.glob("*plugin.so")) if folder.is_dir() else []
    registered = any(ep.name == "lammps_uq" for ep in entry_points(group="lammps.plugins"))
    print(f"lammps-uq {__version__}")
    print(f"python      {sys.executable}")
    print(f"plugin dir  {folder}")
    print(f"plugins     {' '.join(plugins) or 'none (the package was not built: pip install .)'}")
    print(f"entry point {'registered' if registered else 'missing'} (lammps.plugins)")
    for line in build_info_lines(folder / "build_info.json"):
        print(line)
    return 0 if plugins and registered else 1


SELECT_SETTINGS = ("rcut", "alpha", "threshold", "error_threshold", "separation", "max_centres",
                   "cooldown")  # options of `select` named as fix uq's keywords


def bridge_python(plugin_dir, info: dict) -> str:
    """The interpreter fix uq starts when LAMMPS has none (the rule of uq_bridge.cpp)."""
    import os

    if os.environ.get("LAMMPS_UQ_PYTHON"):
        return f"{os.environ['LAMMPS_UQ_PYTHON']} (LAMMPS_UQ_PYTHON)"
    for folder in [plugin_dir, *plugin_dir.parents]:
        if (folder / "pyvenv.cfg").is_file() and (folder / "bin/python3").is_file():
            return f"{folder / 'bin/python3'} (the venv holding the plugin)"
    return f"{info['python']} (the build's interpreter)"


def build_info_lines(path) -> list[str]:
    """What the plugin in path's folder was built for (build_info.json, written by CMake)."""
    import json

    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [f"build info  unreadable: {exc} (rebuild: pip install .)"]
    return [
        f"built for   LAMMPS {info['lammps_version']} ({info['lammps_headers']} headers, "
        f"{info['lammps_sizes']}); uqplugin.so refuses any other LAMMPS",
        f"MPI         {info['mpi_family']} (headers: {info['mpi_headers']})",
        f"bridge      Python {info['python_version']}: starts {bridge_python(path.parent, info)}",
        f"autoload    export LAMMPS_PLUGIN_PATH={path.parent}"
        f"${{LAMMPS_PLUGIN_PATH:+:$LAMMPS_PLUGIN_PATH}}",
    ]


def _select(args: argparse.Namespace) -> int:
    """Print the centres each frame would get, by the rules of fix uq."""
    from ..inputs import committee_for, read_frames
    from ..science.selection import Selector, select_frames
    from ..science.settings import check_settings

    given = {key: getattr(args, key) for key in SELECT_SETTINGS if getattr(args, key) is not None}
    settings = check_settings(given, style="cli")  # the fix's rules
    frames = read_frames(args.frames, "FRAMES")
    if args.committee:
        calc = committee_for(args.committee, frames, args.frames, rcut=settings["rcut"])
        for atoms in frames:
            calc.calculate(atoms)
            atoms.arrays["s_local"] = calc.results["s_local"]
    else:
        for k, atoms in enumerate(frames):
            if "s_local" not in atoms.arrays:
                raise InputError(f"FRAMES: got {args.frames!r}, whose frame {k} has no per-atom "
                                 "s_local; expected fix uq region frames, or --committee FILES")
    threshold = settings.get("threshold", settings.get("error_threshold"))
    scale = 1.0 if "threshold" in settings else settings["alpha"]
    separation = settings.get("separation", 2 * settings["rcut"])
    selector = Selector(threshold=threshold, separation=separation, scale=scale,
                        max_centres=settings["max_centres"], cooldown=settings["cooldown"])
    for step, ids in select_frames(frames, selector):
        print(step, *ids)
    return 0


def _carve(args: argparse.Namespace) -> int:
    """Carve region frames into small cells (see lammps_uq.extract.carve)."""
    from pathlib import Path

    from ..extract.carve_io import carve_file, carve_settings
    from ..inputs import output_dir, require_file

    require_file(args.regions, "REGIONS")
    options, calculator, provenance = carve_settings(args)
    output_dir(args.output, "--output")
    written, skipped, failed = carve_file(args.regions, Path(args.output), options,
                                          calculator=calculator, fmt=args.format,
                                          centre_index=args.centre_index, provenance=provenance)
    print(f"lammps-uq carve: {written} cells written, {skipped} already there, {failed} failed")
    return 0 if failed == 0 else 1


def _add_carve(sub) -> None:
    from ..extract.carve_args import add_carve_options

    carve = sub.add_parser("carve", help="carve region frames into DFT-ready cells")
    carve.add_argument("regions", help="extxyz: fix uq regions, or any frame with --centre-index")
    add_carve_options(carve)
    carve.set_defaults(run=_carve)


TRACEBACK = "show the full Python traceback of an error instead of one line"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lammps-uq", description=__doc__.splitlines()[0])
    parser.add_argument("-T", "--traceback", action="store_true", help=TRACEBACK)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="where the LAMMPS plugin is and whether it autoloads")
    info.set_defaults(run=_info)
    select = sub.add_parser("select", help="centres of extxyz frames, by fix uq's rules")
    select.add_argument("frames", help="extxyz with per-atom s_local (or use --committee)")
    how = select.add_mutually_exclusive_group(required=True)
    how.add_argument("--threshold", type=float, help="select on s_local (eV/Å)")
    how.add_argument("--error-threshold", type=float, help="select on alpha * s_local (eV/Å)")
    select.add_argument("--alpha", type=float, default=1.0, help="for --error-threshold")
    select.add_argument("--rcut", type=float, default=4.0, help="aggregation radius (Å)")
    select.add_argument("--separation", type=float, help="Å (default 2 * rcut)")
    select.add_argument("--max-centres", type=int, default=4)
    select.add_argument("--cooldown", type=int, default=0, help="steps")
    select.add_argument("--committee", nargs="+", help="MACE model files to compute s_local")
    select.set_defaults(run=_select)
    _add_carve(sub)
    add_workflow(sub)
    add_learn(sub)
    _add_calibrate(sub)
    _add_demo(sub)
    for subcommand in sub.choices.values():  # -T also after the subcommand's name
        subcommand.add_argument("-T", "--traceback", action="store_true",
                                default=argparse.SUPPRESS, help=TRACEBACK)
    return parser


def _add_calibrate(sub) -> None:
    from ..science.calibrate import DEFAULT_RCUTS

    cal = sub.add_parser("calibrate", help="fit alpha of a committee on labelled frames")
    cal.add_argument("frames", nargs="+",
                     help="one or more extxyz sets with reference forces (REF_forces or forces); "
                          "include frames as far from training as production goes")
    cal.add_argument("--committee", nargs="+", required=True,
                     help="MACE model files (or 'default')")
    cal.add_argument("--rcut", type=float, nargs="+", default=list(DEFAULT_RCUTS),
                     help="radii (Å) of the local neighbourhoods")
    cal.add_argument("--quantile", type=float, default=0.9,
                     help="q of the conformal bound: error <= bound for q of neighbourhoods")
    cal.add_argument("--forces-key", help="per-atom array of the reference forces")
    cal.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    cal.add_argument("-o", "--output",
                     help="folder of calibration.json (default: the models', never the package's)")
    cal.add_argument("--force", action="store_true", help="overwrite an existing calibration.json")
    cal.add_argument("--plot", default="calibration.png", help="figure path")
    cal.set_defaults(run=lambda args: _lazy("cli_calibrate", args))


def _add_demo(sub) -> None:
    demo = sub.add_parser("demo", help="the main job: liquid water on the default committee")
    demo.add_argument("-o", "--output", default="lammps-uq-demo", help="folder of the run")
    demo.add_argument("--steps", type=int,
                      help="MD steps of 0.5 fs (default 300, or $LAMMPS_UQ_DEMO_STEPS)")
    demo.add_argument("--np", type=int, default=2, help="MPI ranks (default 2)")
    demo.add_argument("--committee", default="default", help="MACE model files or glob")
    demo.set_defaults(run=lambda args: _lazy("demo", args))


def _lazy(module: str, args: argparse.Namespace) -> int:
    from importlib import import_module

    return import_module(f"lammps_uq.{module}").run(args)


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


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; bad input ends it with one line on stderr and exit status 2.

    An InputError (raised where an option or file is checked) or an OSError (a file the OS
    refused) is the user's to fix; anything else is a lammps-uq bug, reported in one line too
    with exit status 1.  Ctrl-C or SIGTERM ends it with one line and 130 or 143 (each
    subcommand keeps what it finished; a rerun does the rest).  ``-T/--traceback`` shows the
    full trace of any of them.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with terminate_as_interrupt():
            return args.run(args)
    except KeyboardInterrupt as exc:
        if args.traceback:
            raise
        name = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        print(one_line(args.command, f"interrupted ({name}); what was finished is kept: run the "
                       "same command again to do the rest"), file=sys.stderr)
        raise SystemExit(143 if isinstance(exc, Terminated) else 130) from None
    except (InputError, OSError) as exc:
        if args.traceback:
            raise
        print(one_line(args.command, first_line(exc)), file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the trace with -T
        if args.traceback:
            raise
        print(one_line(args.command, f"internal error: {type(exc).__name__}: {first_line(exc)} "
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


if __name__ == "__main__":
    raise SystemExit(main())
