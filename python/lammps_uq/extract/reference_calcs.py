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
  - ``[cp2k]``: every key optional (:mod:`lammps_uq.extract.cp2k`: RPBE-D3,
    DZVP-MOLOPT-SR-GTH, GTH-PBE by default): ``command``, ``functional``, ``dispersion``,
    ``basis_set``, ``basis_set_file``, ``pseudo_potential``, ``potential_file``, ``cutoff``
    and ``rel_cutoff`` (Ry), ``eps_scf``, ``max_scf``, ``charge``, ``multiplicity``,
    ``stress``, ``smearing``, ``data_dir``, ``xc_smoothing``; ``parameters`` (more ASE
    ``CP2K`` keywords) and ``inp`` (more CP2K input).

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


# per key of a code's table: (check of its value, what is expected)
COMMAND = (_text, "a non-empty string (how the code is started)")
KPTS = (_kpts, "a list of 3 integers >= 1, e.g. [2, 2, 2]")
PARAMETERS = (lambda value: isinstance(value, dict),
              "a table (passed to the ASE calculator as it is)")
POSITIVE = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
            "a number > 0")
COUNT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1")
CP2K_KEYS = {
    **{key: (_text, "a non-empty string") for key in (
        "functional", "dispersion", "basis_set", "basis_set_file", "pseudo_potential",
        "potential_file", "data_dir", "inp")},
    "cutoff": (POSITIVE[0], "a number > 0 (Ry)"), "rel_cutoff": (POSITIVE[0], "a number > 0 (Ry)"),
    "eps_scf": POSITIVE, "max_scf": COUNT, "multiplicity": COUNT,
    "charge": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "stress": (lambda v: isinstance(v, bool), "true or false"),
    "xc_smoothing": (lambda v: isinstance(v, bool), "true or false"),
    "smearing": (lambda v: isinstance(v, dict) and set(v) <= {"electronic_temperature",
                                                               "added_mos"},
                 "a table with electronic_temperature (K) and added_mos"),
}
SCHEMA = {
    "vasp": {"command": COMMAND,
             "pp_path": (_text, "a non-empty string (the folder that holds potpaw_PBE/)"),
             "kpts": KPTS, "parameters": PARAMETERS},
    "espresso": {"command": COMMAND,
                 "pseudo_dir": (_text, "a non-empty string (the folder of the pseudopotentials)"),
                 "pseudopotentials": (_pseudopotentials, "a table of element symbol = file "
                                      "name, e.g. { O = \"O.pbe.UPF\" }"),
                 "kpts": KPTS, "parameters": PARAMETERS},
    "cp2k": {"command": COMMAND, "parameters": PARAMETERS, **CP2K_KEYS},
}
CODES = tuple(SCHEMA)
REQUIRED = {"vasp": ("command",), "espresso": ("command", "pseudopotentials"), "cp2k": ()}
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


def check_spec(spec: str, config: dict, *, run: bool = True) -> None:
    """Refuse an unknown SPEC, a bad config, or a calculator that cannot be made: before any
    work, as each cell would fail the same way (``run`` False: only inputs are written, so the
    code itself need not be here)."""
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
        _check_code(spec, config.get(spec), run)


def check_elements(spec: str, config: dict, elements) -> None:
    """Refuse a code whose data files lack an element of the cells (CP2K's basis sets and
    potentials), before any cell is computed."""
    if spec == "cp2k":
        from .cp2k import check

        check(config.get(spec), elements)


def _check_code(spec: str, section: dict | None, run: bool = True) -> None:
    """The keys the code of ``spec`` cannot run without."""
    if spec == "cp2k":  # every key has a default
        from .cp2k import check

        return check(section, run=run)
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
        return _dft(spec, dict(config.get(spec) or {}), directory)
    return factory(spec)(directory=directory)


def wants_stress(spec: str, config: dict) -> bool:
    """Whether a periodic cell's label must carry a stress (CP2K's only when ``stress``)."""
    if spec == "cp2k":
        return bool((config.get("cp2k") or {}).get("stress", False))
    return True


def code_failure(spec: str, folder: Path) -> str | None:
    """The code's own reason a calculation in ``folder`` failed, if it wrote one."""
    if spec == "cp2k":
        from .cp2k import abort_reason

        reason = abort_reason(Path(folder) / "cp2k.out")
        return f"CP2K: {reason}" if reason else None
    return None


def provenance(spec: str, config: dict, folder: Path) -> dict:
    """``label_method``, ``label_code`` and ``label_settings`` of a label (extxyz info)."""
    import json

    from ..committee.training import versions

    if spec == "cp2k":
        from .cp2k import provenance as cp2k_provenance

        return cp2k_provenance(config.get("cp2k"), Path(folder) / "cp2k.out")
    if spec == "xtb":
        found = versions().get("tblite")
        code = f"tblite {found}" if found else "tblite"
        return {"label_method": XTB["method"], "label_code": code,
                "label_settings": json.dumps(XTB, sort_keys=True)}
    section = config.get(spec)
    return {"label_method": spec, "label_settings": json.dumps(section, sort_keys=True,
                                                               default=str)}


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
    from .cp2k import calculator

    return calculator(section, directory)


def write_inputs(spec: str, config: dict, atoms, directory: str) -> list[str]:
    """Write the input files of a DFT code for ``atoms`` without running it; their names."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(folder))
    if spec not in CODES:
        raise InputError(f"--inputs-only: got --calculator {spec}, which writes no input files; "
                         f"expected one of {', '.join(CODES)}")
    if spec == "cp2k":
        from .cp2k import write_input

        write_input(config.get(spec), atoms, folder)
    elif spec == "espresso":
        calc = make_calculator(spec, config, directory)
        calc.template.write_input(calc.profile, folder, atoms, dict(calc.parameters),
                                  ["energy", "forces", "stress"])
    else:
        make_calculator(spec, config, directory).write_input(atoms)
    return sorted(set(os.listdir(folder)) - before)
