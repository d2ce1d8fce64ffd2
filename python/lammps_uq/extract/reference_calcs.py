"""Reference calculators of ``lammps-uq label``: xTB, DFT codes through ASE, or your own.

``--calculator SPEC``:

- ``xtb``: GFN2-xTB through ``tblite.ase.TBLite`` (offline, seconds per cell: the stand-in
  for DFT in the tests; ``pip install tblite``);
- ``vasp``, ``espresso``, ``cp2k``: ASE's calculators, set up from ``--calculator-config``, a
  TOML or YAML file with one table per code, e.g.::

      [espresso]
      command = "mpirun -np 32 pw.x"          # how the code is started on a compute node
      pseudo_dir = "/shared/pseudo"
      pseudopotentials = { O = "O.pbe-n-kjpaw_psl.1.0.0.UPF", H = "H.pbe-kjpaw_psl.1.0.0.UPF" }
      kpts = [1, 1, 1]
      [espresso.parameters]                     # passed to the ASE calculator as they are
      system = { ecutwfc = 80, input_dft = "revPBE" }

  The keys of each code's table (``SCHEMA``; any other key, or a table that is not one of
  these codes, is refused before any work):

  - ``[vasp]``: ``command``; ``pp_path`` (the folder that holds ``potpaw_PBE/``; required
    unless ``VASP_PP_PATH`` is set); ``kpts``; ``parameters`` such as ``xc``, ``encut``;
  - ``[espresso]``: ``command``; ``pseudo_dir``; ``pseudopotentials`` (element symbol = file
    name); ``kpts``; ``parameters`` (ASE's ``input_data``), which must set ``ecutwfc``, flat
    or in ``system``;
  - ``[cp2k]``: ``command``; ``parameters`` such as ``basis_set``, ``xc``.

  ``command`` is a non-empty string, ``kpts`` a list of 3 integers >= 1, ``parameters`` a
  table.  A file may hold tables of several codes: all are checked, and the one of SPEC
  must have its required keys;
- ``MODULE:FACTORY``: ``FACTORY(directory=...)`` returns any ASE calculator (called once on
  a scratch folder before any work, to check that it does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _kpts(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in value)


def _pseudopotentials(value) -> bool:
    from ase.data import chemical_symbols

    return isinstance(value, dict) and bool(value) and all(
        symbol in chemical_symbols[1:] and _text(name) for symbol, name in value.items())


# per key of a code's table: (check of its value, what is expected); issue 25 adds CP2K keys
COMMAND = (_text, "a non-empty string (how the code is started)")
KPTS = (_kpts, "a list of 3 integers >= 1, e.g. [2, 2, 2]")
PARAMETERS = (lambda value: isinstance(value, dict),
              "a table (passed to the ASE calculator as it is)")
SCHEMA = {
    "vasp": {"command": COMMAND,
             "pp_path": (_text, "a non-empty string (the folder that holds potpaw_PBE/)"),
             "kpts": KPTS, "parameters": PARAMETERS},
    "espresso": {"command": COMMAND,
                 "pseudo_dir": (_text, "a non-empty string (the folder of the pseudopotentials)"),
                 "pseudopotentials": (_pseudopotentials, "a table of element symbol = file "
                                      "name, e.g. { O = \"O.pbe.UPF\" }"),
                 "kpts": KPTS, "parameters": PARAMETERS},
    "cp2k": {"command": COMMAND, "parameters": PARAMETERS},
}
CODES = tuple(SCHEMA)
REQUIRED = {"vasp": ("command",), "espresso": ("command", "pseudopotentials"), "cp2k": ("command",)}
SPECS = "xtb, vasp, espresso, cp2k or MODULE:FACTORY"
XTB = {"method": "GFN2-xTB", "electronic_temperature": 300.0, "accuracy": 1.0}
FACTORY = "expected MODULE:FACTORY where FACTORY(directory=...) returns an ASE calculator"


def load_config(path: str | None) -> dict:
    """The ``--calculator-config`` file as a dict ({} without one)."""
    if path is None:
        return {}
    expected = "expected a TOML (.toml) or YAML (.yaml, .yml) file"
    if not Path(path).is_file():
        raise InputError(f"--calculator-config: got {path!r} (no such file); {expected}")
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            with open(path, "rb") as fh:
                config = tomllib.load(fh)
        elif suffix in (".yaml", ".yml"):
            import yaml

            with open(path, encoding="utf-8") as fh:
                try:
                    config = yaml.safe_load(fh) or {}
                except yaml.YAMLError as exc:  # not a ValueError
                    raise ValueError(str(exc)) from exc
        else:
            raise InputError(f"--calculator-config: got {path!r}; {expected}")
    except (ValueError, OSError, ImportError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"--calculator-config: got {path!r}, unreadable ({reason}); "
                         f"{expected}") from exc
    if not isinstance(config, dict):
        raise InputError(f"--calculator-config: got {path!r}, not a table; {expected}")
    return config


def check_config(config: dict) -> None:
    """Refuse a table that is not a known code, an unknown key or a value of the wrong type."""
    for code, section in config.items():
        if code not in SCHEMA:
            what = f"table [{code}]" if isinstance(section, dict) else f"key {code!r}"
            raise InputError(f"--calculator-config: has unknown {what}; expected tables "
                             f"{', '.join(CODES)}")
        schema = SCHEMA[code]
        if not isinstance(section, dict):
            raise InputError(f"--calculator-config: {code}: got {section!r}; expected a table "
                             f"[{code}] with keys {', '.join(schema)}")
        for key, value in section.items():
            if key not in schema:
                raise InputError(f"--calculator-config: [{code}] has unknown key {key!r}; "
                                 f"expected keys {', '.join(schema)}")
            check, expected = schema[key]
            if not check(value):
                raise InputError(f"--calculator-config: [{code}] {key}: got {value!r}; "
                                 f"expected {expected}")


def check_spec(spec: str, config: dict) -> None:
    """Refuse an unknown SPEC, a bad config, or a calculator that cannot be made: before any
    work, as each cell would fail the same way."""
    is_factory = ":" in spec and all(spec.partition(":")[::2])
    if spec != "xtb" and spec not in CODES and not is_factory:
        raise InputError(f"--calculator: got {spec!r}; expected {SPECS}")
    check_config(config)
    if spec == "xtb":
        try:
            import tblite.ase  # noqa: F401
        except (ImportError, OSError) as exc:
            raise InputError(f"--calculator: got 'xtb', whose package tblite cannot be imported "
                             f"({exc}); expected tblite installed (pip install tblite)") from exc
    elif is_factory:
        _check_factory(spec)
    else:
        _check_code(spec, config.get(spec))


def _check_code(spec: str, section: dict | None) -> None:
    """The keys the code of ``spec`` cannot run without."""
    if section is None:
        raise InputError(f"--calculator {spec}: no [{spec}] table in --calculator-config; "
                         f"expected one with {', '.join(REQUIRED[spec])}")
    for key in REQUIRED[spec]:
        if key not in section:
            raise InputError(f"--calculator-config: [{spec}] has no {key}; expected "
                             f"{', '.join(REQUIRED[spec])} (see lammps_uq.extract.reference_calcs)")
    if spec == "vasp" and "pp_path" not in section and not os.environ.get("VASP_PP_PATH"):
        raise InputError("--calculator-config: [vasp] has no pp_path and VASP_PP_PATH is not "
                         "set; expected pp_path = the folder that holds potpaw_PBE/")
    if spec == "espresso":
        if "pseudo_dir" not in section:
            raise InputError("--calculator-config: [espresso] has no pseudo_dir; expected "
                             "pseudo_dir = the folder of the pseudopotential files")
        parameters = section.get("parameters", {})
        system = parameters.get("system")
        where, cutoff = "parameters.ecutwfc", parameters.get("ecutwfc")
        if cutoff is None and isinstance(system, dict):
            where, cutoff = "parameters.system.ecutwfc", system.get("ecutwfc")
        if cutoff is None:
            raise InputError("--calculator-config: [espresso] has no ecutwfc in parameters; "
                             "expected parameters.ecutwfc or parameters.system.ecutwfc, the "
                             "plane-wave cutoff in Ry (pw.x does not run without it)")
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not cutoff > 0:
            raise InputError(f"--calculator-config: [espresso] {where}: got {cutoff!r}; "
                             "expected a number > 0 (the plane-wave cutoff in Ry)")


def _check_factory(spec: str) -> None:
    """Call ``FACTORY(directory=...)`` once on a scratch folder: an ASE calculator back?"""
    from ase.calculators.calculator import BaseCalculator

    make = factory(spec)  # importable here, before any task
    folder = tempfile.mkdtemp(prefix="lammps-uq-calculator-")
    try:
        calc = make(directory=folder)
    except Exception as exc:  # noqa: BLE001 - whatever it is, every cell would raise it too
        reason = " ".join(str(exc).split())
        raise InputError(f"--calculator: got {spec!r}, whose factory raised "
                         f"{type(exc).__name__}: {reason[:200]}; {FACTORY}") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not isinstance(calc, BaseCalculator):
        shown = " ".join(repr(calc).split())
        raise InputError(f"--calculator: got {spec!r}, whose factory returned {shown[:80]} "
                         f"(type {type(calc).__name__}); {FACTORY}")


def make_calculator(spec: str, config: dict, directory: str):
    """A fresh ASE calculator for one cell; file-based codes work in ``directory``."""
    if spec == "xtb":
        from tblite.ase import TBLite

        return TBLite(verbosity=0, **XTB)
    if spec in CODES:
        return _dft(spec, dict(config[spec]), directory)
    return factory(spec)(directory=directory)


def factory(spec: str):
    """The callable of ``MODULE:FACTORY`` (the current directory is searched first)."""
    from ..inputs import load_factory

    return load_factory(spec, "--calculator")


def _dft(spec: str, section: dict, directory: str):
    kpts = section.get("kpts")
    parameters = dict(section.get("parameters", {}))
    if spec == "vasp":
        from ase.calculators.vasp import Vasp

        if "pp_path" in section:  # as [environment] VASP_PP_PATH of ASE's config.ini would
            from ase.config import cfg

            if not cfg.parser.has_section("environment"):
                cfg.parser.add_section("environment")
            cfg.parser["environment"]["VASP_PP_PATH"] = str(section["pp_path"])
        return Vasp(command=section["command"], directory=directory, kpts=kpts, **parameters)
    if spec == "espresso":
        from ase.calculators.espresso import Espresso, EspressoProfile

        profile = EspressoProfile(command=section["command"],
                                  pseudo_dir=str(section["pseudo_dir"]))
        return Espresso(profile=profile, directory=directory, kpts=kpts, input_data=parameters,
                        pseudopotentials=dict(section["pseudopotentials"]))
    from ase.calculators.cp2k import CP2K

    return CP2K(command=section["command"], directory=directory, **parameters)


def write_inputs(spec: str, config: dict, atoms, directory: str) -> list[str]:
    """Write the input files of a DFT code for ``atoms`` without running it; their names."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(folder))
    if spec not in CODES:
        raise InputError(f"--inputs-only: got --calculator {spec}, which writes no input files; "
                         f"expected one of {', '.join(CODES)}")
    if spec == "cp2k":  # ASE's CP2K starts cp2k_shell when made: write its input without one
        from ase.calculators.calculator import Calculator
        from ase.calculators.cp2k import CP2K

        calc = CP2K.__new__(CP2K)
        calc._shell, calc._debug, calc._force_env_id = None, False, None
        Calculator.__init__(calc, label=str(folder / "cp2k"),
                            **dict(config[spec].get("parameters", {})))
        calc.atoms = atoms.copy()
        (folder / "cp2k.inp").write_text(calc._generate_input())
    elif spec == "espresso":
        calc = make_calculator(spec, config, directory)
        calc.template.write_input(calc.profile, folder, atoms, dict(calc.parameters),
                                  ["energy", "forces", "stress"])
    else:
        make_calculator(spec, config, directory).write_input(atoms)
    return sorted(set(os.listdir(folder)) - before)
