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
    return 0 if plugins and registered else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lammps-uq", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="where the LAMMPS plugin is and whether it autoloads")
    info.set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
