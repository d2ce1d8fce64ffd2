"""The science of lammps-uq, free of LAMMPS and MACE: committee uncertainties and their
neighbourhood aggregation (paper Eqs. 1–2), centre selection, calibration (Eq. 3), figures."""
