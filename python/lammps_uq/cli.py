"""``lammps-uq``: the command-line entry point (subcommands are imported lazily)."""

from __future__ import annotations

import argparse
import sys


def _info(_args: argparse.Namespace) -> int:
    """Print where the plugin is and whether LAMMPS will autoload it."""
    from importlib.metadata import entry_points
    from pathlib import Path

    from . import __version__
    from ._plugin import get_plugin_dir

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
    import ase.io

    from .selection import Selector, select_frames

    frames = ase.io.read(args.frames, ":")
    if args.committee:
        from . import CommitteeCalculator

        calc = CommitteeCalculator(args.committee, rcut=args.rcut)
        for atoms in frames:
            calc.calculate(atoms)
            atoms.arrays["s_local"] = calc.results["s_local"]
    elif any("s_local" not in atoms.arrays for atoms in frames):
        raise SystemExit("lammps-uq select: frames have no per-atom s_local; give --committee")
    threshold = args.threshold if args.threshold is not None else args.error_threshold
    scale = 1.0 if args.threshold is not None else args.alpha
    selector = Selector(threshold=threshold, separation=args.separation or 2 * args.rcut,
                        max_centres=args.max_centres, cooldown=args.cooldown, scale=scale)
    for step, ids in select_frames(frames, selector):
        print(step, *ids)
    return 0


def _carve(args: argparse.Namespace) -> int:
    """Carve region frames into small cells (see lammps_uq.carve)."""
    from pathlib import Path

    from .carve_io import carve_file, carve_settings, require_file

    require_file(args.regions)
    options, calculator, provenance = carve_settings(args)
    written, skipped, failed = carve_file(args.regions, Path(args.output), options,
                                          calculator=calculator, fmt=args.format,
                                          centre_index=args.centre_index, provenance=provenance)
    print(f"lammps-uq carve: {written} cells written, {skipped} already there, {failed} failed")
    return 0 if failed == 0 else 1


def _add_carve(sub) -> None:
    carve = sub.add_parser("carve", help="carve region frames into DFT-ready cells")
    carve.add_argument("regions", help="extxyz: fix uq regions, or any frame with --centre-index")
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
    carve.add_argument("--relax", action=argparse.BooleanOptionalAction, default=True)
    relax = carve.add_argument_group("border relaxation (paper's Methods B values)")
    relax.add_argument("--fixed-fraction", type=float, default=0.8,
                       help="atoms within this fraction of l/2 stay fixed")
    relax.add_argument("--pad", type=float, default=2.0, help="Å added per direction at first")
    relax.add_argument("--shrink", type=float, default=0.2, help="Å removed per direction a cycle")
    relax.add_argument("--bfgs-steps", type=int, default=5, help="BFGS steps per cycle")
    relax.add_argument("--contact", type=float, default=1.0,
                       help="contact wall at this fraction of the parent's closest contacts; 0: off")
    relax.add_argument("--contact-k", type=float, default=10.0, help="wall stiffness, eV/Å²")
    carve.add_argument("--format", help="also write DFT input: vasp or espresso")
    carve.set_defaults(run=_carve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lammps-uq", description=__doc__.splitlines()[0])
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
    _add_calibrate(sub)
    _add_demo(sub)
    return parser


def _add_calibrate(sub) -> None:
    from .calibrate import DEFAULT_RCUTS

    cal = sub.add_parser("calibrate", help="fit alpha of a committee on labelled frames")
    cal.add_argument("frames", help="extxyz frames with reference forces (REF_forces or forces)")
    cal.add_argument("--committee", nargs="+", required=True,
                     help="MACE model files (or 'default')")
    cal.add_argument("--rcut", type=float, nargs="+", default=list(DEFAULT_RCUTS),
                     help="radii (Å) of the local neighbourhoods")
    cal.add_argument("--forces-key", help="per-atom array of the reference forces")
    cal.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    cal.add_argument("-o", "--output", help="folder of calibration.json (default: the models')")
    cal.add_argument("--plot", default="calibration.png", help="figure path")
    cal.set_defaults(run=lambda args: _lazy("calibrate", args))


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


def main(argv: list[str] | None = None) -> int:
    from .errors import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except InputError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    raise SystemExit(main())
