"""The Python half of ``fix uq``: the bridge the C++ fix calls, region snapshots, in-situ carving.

Nothing here is imported by ``import lammps`` (the plugin entry point is
:mod:`lammps_uq._plugin`, stdlib only).
"""
