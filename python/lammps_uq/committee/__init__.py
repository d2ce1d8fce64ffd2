"""Committees of models at run time: the evaluators ``fix uq`` calls, the ASE calculator
around the same code, the torch process settings and the training command line.  The
recipe of the shipped water committee (data, training, calibration) is
:mod:`lammps_uq.committee.default`."""
