"""The package's layers: no import cycle, no layer importing one above it.

A static scan of every ``import`` in ``python/lammps_uq`` (module level and inside functions:
a lazy import is still a dependency) and of every module named in a string, which is imported
all the same: ``import_module("lammps_uq.X")``, a ``"lammps_uq.X:function"`` of the CLI's table,
``"-m", "lammps_uq.X"`` or ``-m lammps_uq.X`` of a command line (docstrings aside).
"""

import ast
import re
from pathlib import Path

import pytest

import lammps_uq

ROOT = Path(lammps_uq.__file__).resolve().parent  # the tree itself, not a venv of symlinks
# bottom to top: a module may import its own layer and the layers below it
LAYERS = ["base", "science", "committee", "inputs", "extract", "fix", "learn", "cli"]
BASE = {"lammps_uq", "lammps_uq._plugin", "lammps_uq.docs_blocks", "lammps_uq.errors",
        "lammps_uq.exits", "lammps_uq.testing"}
MODULE = r"lammps_uq(?:\.\w+)+"
WHOLE = re.compile(rf"({MODULE})(?::\w+)?")  # a string that is a module or module:function
DASH_M = re.compile(rf"-m\s+({MODULE})")  # python -m MODULE inside a longer string


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    where = ROOT.parent / name.replace(".", "/")
    return where.with_suffix(".py").exists() or where.is_dir()


def docstrings(tree: ast.AST) -> set:
    """The ids of the docstring nodes of ``tree`` (its module's, classes' and functions')."""
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree) if isinstance(node, kinds)
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def string_imports(tree: ast.AST) -> set:
    """The lammps_uq modules named in the strings of ``tree`` (see the module docstring)."""
    skip, found = docstrings(tree), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in skip:
            whole = WHOLE.fullmatch(node.value)
            found |= {whole.group(1)} if whole else set()
            found |= set(DASH_M.findall(node.value))
    return found


def statement_imports(tree: ast.AST, name: str, package: bool = False) -> set:
    """The lammps_uq modules that the import statements of ``tree`` (module ``name``) name,
    relative ones resolved.  ``package``: the tree is the package's ``__init__.py``."""
    package_name = name if package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package_name.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("lammps_uq"):
                for alias in node.names:  # `from pkg import module` names a module
                    sub = f"{base}.{alias.name}"
                    found.add(sub if is_module(sub) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lammps_uq")}
    return found - {name}


def imports_in(source: str, name: str, package: bool = False) -> set:
    """Names of lammps_uq modules that the module ``name``, whose text is ``source``, imports or
    starts: its import statements and the module names in its strings."""
    tree = ast.parse(source)
    return (statement_imports(tree, name, package) | string_imports(tree)) - {name}


def layer_of(name: str) -> int:
    if name in BASE:
        return 0
    return LAYERS.index(name.split(".")[1])


def upward_imports(source: str, name: str, package: bool = False) -> set:
    """The modules that the module ``name`` (text ``source``) imports from a layer above its own."""
    return {dep for dep in imports_in(source, name, package) if layer_of(dep) > layer_of(name)}


PATHS = {module_name(p): p for p in ROOT.rglob("*.py")}
# the import statements only: a module named in a string is imported when called, or runs in
# a process of its own (a provenance record names its maker so), which makes no import cycle
GRAPH = {name: statement_imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
         for name, path in PATHS.items()}


def test_every_module_belongs_to_a_layer():
    for name in GRAPH:
        assert layer_of(name) >= 0, name


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_a_layer_above_its_own(name):
    if name == "lammps_uq":
        return  # the package's lazy CommitteeCalculator is its public face
    path = PATHS[name]
    above = upward_imports(path.read_text(), name, path.name == "__init__.py")
    assert not above, f"{name} (layer {LAYERS[layer_of(name)]}) imports {sorted(above)}"


def test_no_import_cycle():
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(GRAPH.get(node, ())):
            if dep == node or dep not in GRAPH:
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




def test_every_module_named_in_a_string_exists():
    """A string naming no module (an old flat name, a typo) fails only when it runs."""
    for name, path in PATHS.items():
        missing = {dep for dep in string_imports(ast.parse(path.read_text())) if dep not in GRAPH}
        assert not missing, f"{name} names no such module: {sorted(missing)}"


FAKES = {  # a module of the layer on the left, naming in a string a module of a higher layer
    "import_module": ("lammps_uq.extract.fake", "import importlib\n\n\ndef f():\n"
                      "    return importlib.import_module('lammps_uq.learn.loop')\n"),
    "-m as a word": ("lammps_uq.fix.fake", "import subprocess, sys\nsubprocess.run([sys.executable,"
                     " '-m', 'lammps_uq.cli', 'extract', 'regions.extxyz'])\n"),
    "-m in a string": ("lammps_uq.extract.fake", "import os\n\n\ndef go(python):\n"
                       "    os.system(f'{python} -m lammps_uq.learn.loop learn.toml')\n"),
    "module:function": ("lammps_uq.science.fake", "RUNS = 'lammps_uq.cli.learn:run'\n"),
}


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_a_planted_upward_module_name_in_a_string_is_caught(kind):
    name, source = FAKES[kind]
    above = {"import_module": "lammps_uq.learn.loop", "-m as a word": "lammps_uq.cli",
             "-m in a string": "lammps_uq.learn.loop", "module:function": "lammps_uq.cli.learn"}
    assert upward_imports(source, name) == {above[kind]}
    assert not upward_imports(source, "lammps_uq.cli.fake")  # the top layer may name them all
    # named only in a docstring, it is no import
    documented = f'"""Run it as ``python -m {above[kind]}``."""\n'
    assert not upward_imports(documented, name)


def test_the_fix_starting_the_cli_by_a_string_is_caught(tmp_path):
    """Issue 24: fix/insitu.py started ``python -m lammps_uq.cli extract``: planted back into
    a copy of it, the check rejects it; the module as it is passes."""
    copy = tmp_path / "insitu.py"
    original = (ROOT / "fix" / "insitu.py").read_text()
    copy.write_text(original.replace('"lammps_uq.extract.consumer_main"', '"lammps_uq.cli"'))
    assert copy.read_text() != original
    assert upward_imports(copy.read_text(), "lammps_uq.fix.insitu") == {"lammps_uq.cli"}
    assert not upward_imports(original, "lammps_uq.fix.insitu")


# argparse (the command line) lives in cli/; the default committee's recipe scripts are
# `python -m` scripts of their own and keep theirs (issue 24 item 1)
ARGPARSE_ALLOWED = ("lammps_uq.cli", "lammps_uq.committee.default")


def imports_argparse(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "argparse"
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "argparse":
            return True
    return False


def argparse_allowed(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in ARGPARSE_ALLOWED)


def test_argparse_is_imported_only_by_the_command_line():
    found = sorted(name for name, path in PATHS.items()
                   if imports_argparse(path.read_text()) and not argparse_allowed(name))
    assert not found, f"argparse outside cli/ (and committee/default/): {found}"


@pytest.mark.parametrize("source", ["import argparse\n", "from argparse import Namespace\n",
                                    "def f():\n    import argparse as ap\n    return ap\n"])
def test_a_planted_argparse_import_is_caught(source):
    assert imports_argparse(source)
    assert not argparse_allowed("lammps_uq.extract.fake")
    assert argparse_allowed("lammps_uq.cli.fake") and argparse_allowed("lammps_uq.committee."
                                                                        "default.fake")
    assert not argparse_allowed("lammps_uq.client")
