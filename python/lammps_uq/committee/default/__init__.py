"""The recipe of the default water committee (data, training, calibration, its tables).

Not imported at run time: ``python -m lammps_uq.committee.default.train`` rebuilds the
committee shipped in ``lammps_uq/data/water_committee``; the runtime that evaluates any
committee is :mod:`lammps_uq.committee` itself (evaluators, calculator, speed).
"""
