"""The `lammps.plugins` entry point: infallible, and autoloads regular and editable installs."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from lammps_uq import _plugin

REPO = Path(__file__).resolve().parents[1]

WHERE = '''
import lammps_uq
from lammps_uq.committee.evaluators.analytic import lj_committee

def factory(elements):
    with open("imported_from.txt", "w") as fh:
        fh.write(lammps_uq.__file__)
    return lj_committee(elements)
'''


def test_get_plugin_dir_never_raises(monkeypatch):
    def broken(_name):
        raise ModuleNotFoundError("simulated")

    monkeypatch.setattr(_plugin, "files", broken)
    assert _plugin.get_plugin_dir() == ""


def test_plugin_dir_holds_exactly_one_autoloaded_plugin(lammps_env):
    folder = Path(_plugin.get_plugin_dir())
    assert (folder / "uqplugin.so").exists() and (folder / "_uqbridge.so").exists()
    # LAMMPS autoloads every *plugin.so in the folder: the bridge must not match
    assert sorted(p.name for p in folder.glob("*plugin.so")) == ["uqplugin.so"]


def test_entry_point_is_registered(lammps_env):
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="lammps.plugins") if ep.name == "lammps_uq"]
    assert len(eps) == 1 and eps[0].load()() == _plugin.get_plugin_dir()


def test_autoload_without_plugin_load_line(lammps_env, tmp_path):
    (tmp_path / "where.py").write_text(WHERE)
    rc, output = lammps_env.run_lmp(tmp_path, _input("where:factory"))
    assert rc == 0, output[-2000:]
    assert "Loaded 1 plugins from" in output
    # the interpreter inside `lmp` imports the same lammps_uq as this Python
    import lammps_uq

    assert Path((tmp_path / "imported_from.txt").read_text()) == Path(lammps_uq.__file__)


def _input(factory: str) -> str:
    return f"""units metal
lattice fcc 3.65
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 63.5
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
fix mon all uq 1 python {factory} elements Cu
run 0
"""


@pytest.mark.slow
def test_editable_install_autoloads_the_fix(lammps_env, tmp_path):
    """pip install -e into a fresh venv (seeing this one's packages) and run `lmp` from it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    parent = [p for p in sys.path if p.endswith("site-packages")][0]
    Path(site, "parent.pth").write_text(parent + "\n")
    pip = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                          "-C", f"build-dir={tmp_path / 'build'}", "-e", str(REPO)], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]

    work = tmp_path / "run"
    work.mkdir()
    (work / "where.py").write_text(WHERE)
    (work / "in.test").write_text(_input("where:factory"))
    env = dict(os.environ, PATH=f"{lammps_env.BIN}:{os.environ['PATH']}")
    code = "import sys; from lammps.executable import lmp; sys.argv = ['lmp', '-in', 'in.test']; lmp()"
    proc = subprocess.run([python, "-c", code], cwd=work, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"Loaded 1 plugins from {site}/lammps_uq/lib" in proc.stdout
    # the embedded interpreter imported the package from the source tree
    assert Path((work / "imported_from.txt").read_text()) == REPO / "python/lammps_uq/__init__.py"


def test_cli_info_reports_the_plugin(lammps_env, capsys):
    from lammps_uq.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "uqplugin.so" in out and "entry point registered" in out
    from lammps_uq._plugin import get_plugin_dir

    # the wheel build: the facts CMake wrote into build_info.json next to the plugin
    version = metadata.version("lammps").split(".")
    month = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[int(version[1]) - 1]
    assert f"built for   LAMMPS {int(version[2])} {month} {version[0]} (wheel headers" in out
    assert "MPI         MPICH" in out
    assert f"bridge      Python {sys.version_info.major}.{sys.version_info.minor}: " in out
    assert f"export LAMMPS_PLUGIN_PATH={get_plugin_dir()}" in out
