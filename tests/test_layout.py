"""The package's layers: no import cycle, no layer importing one above it, old names still work.

A static scan of every ``import`` in ``python/lammps_uq`` (module level and inside functions:
a lazy import is still a dependency).
"""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lammps_uq
from lammps_uq._moved import HOMES

ROOT = Path(lammps_uq.__file__).parent
# bottom to top: a module may import its own layer and the layers below it
LAYERS = ["base", "science", "committee", "inputs", "extract", "fix", "learn", "cli"]
BASE = {"lammps_uq", "lammps_uq._moved", "lammps_uq._plugin", "lammps_uq.errors",
        "lammps_uq.testing"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set:
    """Names of lammps_uq modules that ``path`` imports (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("lammps_uq"):
                for alias in node.names:  # `from pkg import module` names a module
                    sub = f"{base}.{alias.name}"
                    found.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py")
                              .exists() or (ROOT.parent / sub.replace(".", "/")).is_dir() else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lammps_uq")}
    found.discard(name)
    return found


def layer_of(name: str) -> int:
    if name in BASE:
        return 0
    return LAYERS.index(name.split(".")[1])


GRAPH = {module_name(p): imports_of(p) for p in ROOT.rglob("*.py")}


def test_every_module_belongs_to_a_layer():
    for name in GRAPH:
        assert layer_of(name) >= 0, name


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_a_layer_above_its_own(name):
    if name == "lammps_uq":
        return  # the package's lazy CommitteeCalculator is its public face
    above = {dep for dep in GRAPH[name] if layer_of(dep) > layer_of(name)}
    assert not above, f"{name} (layer {LAYERS[layer_of(name)]}) imports {sorted(above)}"


def test_no_import_cycle():
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(GRAPH.get(node, ())):
            if dep == node or dep not in GRAPH or dep.startswith("lammps_uq._moved"):
                continue
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep] if dep in stack else [node, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for name in sorted(GRAPH):
        if name not in state and name != "lammps_uq":
            visit(name, [name])


@pytest.mark.parametrize("old", sorted(HOMES))
def test_old_flat_names_are_the_same_modules(old):
    module = importlib.import_module(f"lammps_uq.{old}")
    assert module is importlib.import_module(f"lammps_uq.{HOMES[old]}")
    # the module keeps its own spec: relative imports inside it still resolve at home
    assert module.__spec__.name == f"lammps_uq.{HOMES[old]}"


def test_old_names_of_submodules_and_python_dash_m():
    from lammps_uq.evaluators.analytic import lj_committee
    from lammps_uq.committee.evaluators import analytic

    assert lj_committee is analytic.lj_committee
    out = subprocess.run([sys.executable, "-m", "lammps_uq.water", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--molecules" in out.stdout, out.stderr
