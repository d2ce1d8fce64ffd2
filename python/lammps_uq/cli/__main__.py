"""``python -m lammps_uq.cli``."""

from .app import main

raise SystemExit(main())
