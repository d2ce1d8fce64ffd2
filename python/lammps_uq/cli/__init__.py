"""``lammps-uq``: the command line (subcommands import their libraries lazily)."""

from .app import main

__all__ = ["main"]
