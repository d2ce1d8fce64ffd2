"""``lammps-uq info``: where the LAMMPS plugin is, what it was built for, whether it autoloads."""

from __future__ import annotations

import argparse
import sys


def run(_args: argparse.Namespace) -> int:
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
