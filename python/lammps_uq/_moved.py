"""The module names of lammps-uq before it was grouped by layer keep working.

``import lammps_uq.carve`` (or ``python -m lammps_uq.water``) resolves to the module's home
(:mod:`lammps_uq.extract.carve`): the same module object, never a second copy.  Stdlib only and
cheap: :mod:`lammps_uq` installs the finder, and ``import lammps`` imports :mod:`lammps_uq`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

PACKAGE = __name__.rpartition(".")[0]

# old flat name (relative to the package) -> its home in the layers
HOMES = {
    "uncertainty": "science.uncertainty",
    "selection": "science.selection",
    "calibrate": "science.calibrate",
    "settings": "science.settings",
    "plots": "science.plots",
    "calculator": "committee.calculator",
    "evaluators": "committee.evaluators",
    "_speed": "committee.speed",
    "committee_ship": "committee.ship",
    "train_default": "committee.train_default",
    "water": "committee.water",
    "molecules": "extract.molecules",
    "carve": "extract.carve",
    "carve_io": "extract.carve_io",
    "contact_wall": "extract.contact_wall",
    "carve_args": "extract.carve_args",
    "consumer": "extract.consumer",
    "follow": "extract.follow",
    "labelling": "extract.labelling",
    "reference_calcs": "extract.reference_calcs",
    "executors": "extract.executors",
    "_fix": "fix.bridge",
    "regions": "fix.regions",
    "insitu": "fix.insitu",
    "cli_calibrate": "cli.calibrate",
    "cli_workflow": "cli.workflow",
    "demo": "cli.demo",
}


def home_of(fullname: str) -> str | None:
    """The module's name today, or None when ``fullname`` is not an old name."""
    head, dot, rest = fullname.partition(".")
    if head != PACKAGE or not dot:
        return None
    first, dot, tail = rest.partition(".")
    if first not in HOMES:
        return None
    return f"{PACKAGE}.{HOMES[first]}" + (f".{tail}" if tail else "")


class _Alias(importlib.abc.Loader):
    def __init__(self, home: str):
        self.home = home

    def create_module(self, spec):
        module = importlib.import_module(self.home)
        self.home_spec = module.__spec__
        return module

    def exec_module(self, module):
        # already executed at home; the import system has just set the alias's spec on it
        module.__spec__ = self.home_spec

    def get_code(self, fullname):
        # python -m OLDNAME: run the home module as __main__ with its own package context
        source = (f"import runpy\n"
                  f"runpy.run_module({self.home!r}, run_name='__main__', alter_sys=True)\n")
        return compile(source, f"<{fullname} -> {self.home}>", "exec")


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds every old module name before the path finder could load a second copy."""

    def find_spec(self, fullname, path=None, target=None):
        home = home_of(fullname)
        if home is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(home))


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())
