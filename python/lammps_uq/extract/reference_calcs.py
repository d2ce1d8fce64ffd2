"""Reference calculators of ``lammps-uq label``: xTB, DFT codes through ASE, or your own.

``--calculator SPEC``:

- ``xtb``: GFN2-xTB through ``tblite.ase.TBLite`` (offline, seconds per cell: the stand-in
  for DFT in the tests);
- ``vasp``, ``espresso``, ``cp2k``: ASE's calculators, set up from ``--calculator-config``, a
  TOML or YAML file with one table per code, e.g.::

      [espresso]
      command = "mpirun -np 32 pw.x"          # how the code is started on a compute node
      pseudo_dir = "/shared/pseudo"
      pseudopotentials = { O = "O.pbe-n-kjpaw_psl.1.0.0.UPF", H = "H.pbe-kjpaw_psl.1.0.0.UPF" }
      kpts = [1, 1, 1]
      [espresso.parameters]                     # passed to the ASE calculator as they are
      system = { ecutwfc = 80, input_dft = "revPBE" }

  (VASP: ``command``, ``pp_path`` (``VASP_PP_PATH``), ``kpts``, ``parameters`` such as
  ``xc``, ``encut``; CP2K: ``command``, ``parameters`` such as ``basis_set``, ``xc``);
- ``MODULE:FACTORY``: ``FACTORY(directory=...)`` returns any ASE calculator.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

CODES = ("vasp", "espresso", "cp2k")
SPECS = "xtb, vasp, espresso, cp2k or MODULE:FACTORY"
XTB = {"method": "GFN2-xTB", "electronic_temperature": 300.0, "accuracy": 1.0}
REQUIRED = {"vasp": ("command",), "espresso": ("command", "pseudopotentials"), "cp2k": ("command",)}


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
                config = yaml.safe_load(fh) or {}
        else:
            raise InputError(f"--calculator-config: got {path!r}; {expected}")
    except (ValueError, OSError, ImportError) as exc:
        raise InputError(f"--calculator-config: got {path!r}, unreadable ({exc}); "
                         f"{expected}") from exc
    if not isinstance(config, dict):
        raise InputError(f"--calculator-config: got {path!r}, not a table; {expected}")
    return config


def check_spec(spec: str, config: dict) -> None:
    """Refuse an unknown SPEC, or a DFT code whose config lacks what it needs."""
    if spec == "xtb":
        return
    if ":" in spec and all(spec.partition(":")[::2]):
        factory(spec)  # importable here, before any task
        return
    if spec not in CODES:
        raise InputError(f"--calculator: got {spec!r}; expected {SPECS}")
    section = config.get(spec)
    if not isinstance(section, dict):
        raise InputError(f"--calculator {spec}: no [{spec}] table in --calculator-config; "
                         f"expected one with {', '.join(REQUIRED[spec])}")
    for key in REQUIRED[spec]:
        if key not in section:
            raise InputError(f"--calculator-config: [{spec}] has no {key}; expected "
                             f"{', '.join(REQUIRED[spec])} (see lammps_uq.extract.reference_calcs)")


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
                                  pseudo_dir=str(section.get("pseudo_dir", ".")))
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
