"""The active-learning loop (``lammps-uq learn``): explore, extract, label, train, calibrate."""
