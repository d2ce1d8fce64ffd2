"""CP2K labels through ASE's ``CP2K`` calculator (``cp2k_shell``): ``--calculator cp2k``.

The ``[cp2k]`` table of ``--calculator-config`` names the physics; everything has a default
that a DFT user would accept for training data of water (the paper's RPBE-D3 level with
CP2K's GTH pseudopotentials and MOLOPT basis sets)::

    [cp2k]
    command = "cp2k_shell"                # or a site CP2K: "/opt/cp2k/bin/cp2k_shell.psmp"
    functional = "RPBE"                   # RPBE (libxc), PBE, revPBE, BLYP
    dispersion = "D3"                     # D3 (zero damping), D3BJ or none
    xc_smoothing = true                   # XC_GRID: XC_SMOOTH_RHO NN10, XC_DERIV SPLINE2_SMOOTH
    basis_set = "DZVP-MOLOPT-SR-GTH"
    basis_set_file = "BASIS_MOLOPT"
    pseudo_potential = "GTH-PBE"
    potential_file = "GTH_POTENTIALS"
    cutoff = 800                          # Ry, plane-wave cutoff of the finest grid
    rel_cutoff = 60                       # Ry
    eps_scf = 1e-6
    max_scf = 300                         # a 16-molecule water cell needed more than 100
    charge = 0
    multiplicity = 1                      # > 1: unrestricted Kohn-Sham
    stress = false                        # true: the analytical stress (REF_stress)
    smearing = { electronic_temperature = 300.0, added_mos = 20 }   # metals: Fermi-Dirac,
                                          # diagonalization instead of OT
    data_dir = "/usr/share/cp2k"          # where the basis and potential files are searched

The SCF is OT (DIIS, FULL_SINGLE_INVERSE) for insulators, diagonalization with Broyden
mixing and Fermi-Dirac smearing when ``smearing`` is set.  Each label runs its own
``cp2k_shell`` in the cell's folder, with ``OMP_NUM_THREADS`` = the worker's cores.  A failed
calculation raises with CP2K's own reason (the text of its ``[ABORT]`` box, e.g. "SCF run
NOT converged").  Every label carries ``label_method``, ``label_code`` (CP2K's version
string) and ``label_settings`` (these settings as JSON).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError

RYDBERG_EV = 13.605693122994  # CODATA 2018, as ase.units.Rydberg
FUNCTIONALS = {  # name: (XC_FUNCTIONAL subsections, DFT-D3 reference functional)
    "RPBE": (("GGA_X_RPBE", "GGA_C_PBE"), "RPBE"),
    "PBE": (("PBE",), "PBE"),
    "revPBE": (("PBE\n          PARAMETRIZATION REVPBE",), "revPBE"),
    "BLYP": (("BLYP",), "BLYP"),
}
DISPERSION = {"D3": "DFTD3", "D3BJ": "DFTD3(BJ)", "none": None}
DEFAULTS = {
    "command": "cp2k_shell", "functional": "RPBE", "dispersion": "D3",
    "basis_set": "DZVP-MOLOPT-SR-GTH", "basis_set_file": "BASIS_MOLOPT",
    "pseudo_potential": "GTH-PBE", "potential_file": "GTH_POTENTIALS",
    "cutoff": 800.0, "rel_cutoff": 60.0, "eps_scf": 1e-6, "max_scf": 300, "charge": 0,
    "multiplicity": 1, "stress": False, "smearing": None, "data_dir": "", "xc_smoothing": True,
}
INSTALL = ("expected CP2K installed (Debian/Ubuntu: apt-get install cp2k cp2k-data) or "
           "[cp2k] command = the path of a cp2k_shell")


def settings(section: dict | None) -> dict:
    """The ``[cp2k]`` table over :data:`DEFAULTS` (keys and types are checked by
    ``reference_calcs.check_config``)."""
    out = dict(DEFAULTS)
    out.update(section or {})
    out.pop("parameters", None)
    out.pop("inp", None)
    return out


def data_dir(values: dict) -> Path:
    """The folder of CP2K's data files: ``data_dir``, ``$CP2K_DATA_DIR`` or Debian's."""
    return Path(values["data_dir"] or os.environ.get("CP2K_DATA_DIR") or "/usr/share/cp2k")


def check(section: dict | None, elements=(), *, run: bool = True) -> None:
    """Refuse, before any work: no cp2k_shell (when it is to ``run``), an unknown functional
    or dispersion, a basis/potential file that is missing or lacks an element of the cells."""
    values = settings(section)
    for key, known in (("functional", FUNCTIONALS), ("dispersion", DISPERSION)):
        if values[key] not in known:
            raise InputError(f"--calculator-config: [cp2k] {key}: got {values[key]!r}; "
                             f"expected one of {', '.join(known)}")
    if not run:
        return
    program = values["command"].split()[0]
    if shutil.which(program) is None:
        raise InputError(f"--calculator cp2k: command {program!r} is not on PATH; {INSTALL}")
    for key, name, what in (("basis_set_file", values["basis_set"], "basis set"),
                            ("potential_file", values["pseudo_potential"], "potential")):
        _check_data(data_dir(values), key, values[key], name, what, elements)


def _check_data(folder: Path, key: str, filename: str, name: str, what: str, elements) -> None:
    path = Path(filename) if os.path.isabs(filename) else folder / filename
    if not path.is_file():
        raise InputError(f"--calculator-config: [cp2k] {key}: {str(path)!r} does not exist; "
                         f"expected a CP2K data file (set data_dir, $CP2K_DATA_DIR, or "
                         "apt-get install cp2k-data)")
    found = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            words = line.split()
            if len(words) >= 2 and words[0].isalpha() and name in words[1:]:
                found.add(words[0])
    missing = sorted(set(elements) - found)
    if missing:
        raise InputError(f"--calculator-config: [cp2k] {what} {name!r} has no entry for "
                         f"{', '.join(missing)} in {path}; expected a {what} named there for "
                         "every element of the cells")


def method(values: dict) -> str:
    """One line naming the level of theory, e.g. RPBE-D3/DZVP-MOLOPT-SR-GTH/GTH-PBE/800 Ry."""
    dispersion = "" if values["dispersion"] == "none" else f"-{values['dispersion']}"
    return (f"{values['functional']}{dispersion}/{values['basis_set']}/"
            f"{values['pseudo_potential']}/{values['cutoff']:g} Ry")


def input_text(values: dict, extra: str = "") -> str:
    """The CP2K input that ASE's calculator merges its own keywords into; ``extra`` (the
    table's ``inp``) merged in section by section, its keywords in place of ours."""
    text = _base_input(values)
    return merged(text, extra) if extra.strip() else text


def merged(text: str, extra: str) -> str:
    """CP2K input ``text`` with the sections and keywords of ``extra`` merged in."""
    from ase.calculators.cp2k import parse_input

    root = parse_input(text)
    _merge(root, parse_input(extra))
    return "\n".join(root.write()) + "\n"


def _merge(into, more) -> None:
    """``more``'s keywords replace ours of the same name (CP2K refuses a keyword twice) and
    its sections merge into ours of the same name and parameters."""
    names = {k.split()[0].upper() for k in more.keywords if k.split()}
    into.keywords = [k for k in into.keywords if not k.split() or k.split()[0].upper() not in
                     names] + more.keywords
    for section in more.subsections:
        same = [s for s in into.subsections
                if s.name.upper() == section.name.upper() and s.params == section.params]
        if same:
            _merge(same[0], section)
        else:
            into.subsections.append(section)


def _base_input(values: dict) -> str:
    subsections, reference = FUNCTIONALS[values["functional"]]
    xc = "".join(f"        &{s}\n        &END\n" for s in subsections)
    dispersion = DISPERSION[values["dispersion"]]
    vdw = "" if dispersion is None else (
        "      &VDW_POTENTIAL\n        POTENTIAL_TYPE PAIR_POTENTIAL\n"
        f"        &PAIR_POTENTIAL\n          TYPE {dispersion}\n"
        "          PARAMETER_FILE_NAME dftd3.dat\n"
        f"          REFERENCE_FUNCTIONAL {reference}\n"
        "        &END PAIR_POTENTIAL\n      &END VDW_POTENTIAL\n")
    return ("&FORCE_EVAL\n  &DFT\n"
            f"    &QS\n      EPS_DEFAULT 1.0E-12\n    &END QS\n"
            f"    &MGRID\n      REL_CUTOFF {values['rel_cutoff']:g}\n    &END MGRID\n"
            f"{_scf(values)}"
            f"    &XC\n      &XC_FUNCTIONAL\n{xc}      &END XC_FUNCTIONAL\n{vdw}{_grid(values)}"
            "    &END XC\n"
            "  &END DFT\n&END FORCE_EVAL\n")


def _grid(values: dict) -> str:
    """The smoothed XC grid of CP2K's own water inputs: it damps the GGA's grid noise in
    low-density regions (a net force on a molecule; docs/cp2k.md)."""
    if not values["xc_smoothing"]:
        return ""
    return ("      &XC_GRID\n        XC_SMOOTH_RHO NN10\n        XC_DERIV SPLINE2_SMOOTH\n"
            "      &END XC_GRID\n")


def _scf(values: dict) -> str:
    smearing = values["smearing"]
    head = f"    &SCF\n      EPS_SCF {values['eps_scf']:g}\n"
    if not smearing:
        return (head + "      SCF_GUESS ATOMIC\n      &OT\n        MINIMIZER DIIS\n"
                "        PRECONDITIONER FULL_SINGLE_INVERSE\n      &END OT\n    &END SCF\n")
    return (head + f"      ADDED_MOS {int(smearing.get('added_mos', 20))}\n"
            "      &DIAGONALIZATION\n        ALGORITHM STANDARD\n      &END DIAGONALIZATION\n"
            "      &MIXING\n        METHOD BROYDEN_MIXING\n        ALPHA 0.2\n"
            "      &END MIXING\n      &SMEAR ON\n        METHOD FERMI_DIRAC\n"
            f"        ELECTRONIC_TEMPERATURE [K] "
            f"{float(smearing.get('electronic_temperature', 300.0)):g}\n"
            "      &END SMEAR\n    &END SCF\n")


def options(section: dict | None) -> dict:
    """The keywords of ASE's ``CP2K`` (but command, directory, label) for ``section``."""
    section = section or {}
    values = settings(section)
    multiplicity = values["multiplicity"]
    found = dict(inp=input_text(values, section.get("inp", "")), xc=None,
                 basis_set=values["basis_set"], basis_set_file=values["basis_set_file"],
                 pseudo_potential=values["pseudo_potential"],
                 potential_file=values["potential_file"],
                 cutoff=float(values["cutoff"]) * RYDBERG_EV, max_scf=values["max_scf"],
                 charge=values["charge"], stress_tensor=bool(values["stress"]),
                 uks=multiplicity > 1, multiplicity=multiplicity if multiplicity > 1 else None)
    found.update(section.get("parameters", {}))
    return found


def calculator(section: dict | None, directory: str):
    """A fresh ASE ``CP2K`` calculator for one cell, results in ase.units: its
    ``cp2k_shell`` works in ``directory`` (``cp2k.inp``, ``cp2k.out``)."""
    from ase.calculators.calculator import all_changes
    from ase.calculators.cp2k import CP2K

    class CP2KInASEUnits(CP2K):
        def calculate(self, atoms=None, properties=None, system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results.update(results_in_atomic_units(self._shell, self._force_env_id,
                                                        len(self.atoms)))

    folder = Path(directory).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    values = settings(section)
    os.environ.setdefault("CP2K_DATA_DIR", str(data_dir(values)))
    # the shell works in the cell's folder, so that CP2K's PROJECT is short ("cp2k": CP2K
    # aborts on a project name of more than 80 characters, e.g. a deep absolute path)
    command = f"cd {shlex.quote(str(folder))} && exec {values['command']}"
    return CP2KInASEUnits(command=command, directory=".", label="cp2k", **options(section))


def results_in_atomic_units(shell, env: int, natoms: int) -> dict:
    """Energy, forces and stress of the last evaluation, asked of ``cp2k_shell`` in atomic
    units and converted with ase.units.  The shell's own eV and Å (``UNITS_EV_A``, what ASE's
    calculator reads) use CP2K's constants (CODATA 2006 up to CP2K 2023), 8e-8 apart from
    ASE's: 1.5e-4 eV on the 1,900 eV of 4 water molecules."""
    from ase.units import Bohr, Hartree

    shell.send("UNITS_AU")
    shell.expect("* READY")
    shell.send(f"GET_E {env}")
    energy = float(shell.recv()) * Hartree
    shell.expect("* READY")
    shell.send(f"GET_F {env}")
    assert int(shell.recv()) == 3 * natoms
    forces = np.array([[float(x) for x in shell.recv().split()] for _ in range(natoms)])
    shell.expect("* END")
    shell.expect("* READY")
    shell.send(f"GET_STRESS {env}")
    stress = np.array([float(x) for x in shell.recv().split()]).reshape(3, 3)
    shell.expect("* READY")
    voigt = -stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # CP2K's sign is the opposite
    return {"energy": energy, "free_energy": energy, "forces": forces * Hartree / Bohr,
            "stress": voigt * Hartree / Bohr ** 3}


def write_input(section: dict | None, atoms, folder: Path) -> None:
    """``folder/cp2k.inp`` for ``atoms``, without starting a ``cp2k_shell`` (as ASE's
    calculator would start one when made)."""
    from ase.calculators.calculator import Calculator
    from ase.calculators.cp2k import CP2K

    calc = CP2K.__new__(CP2K)
    calc._shell, calc._debug, calc._force_env_id = None, False, None
    Calculator.__init__(calc, label=str(folder / "cp2k"), **options(section))
    calc.atoms = atoms.copy()
    (folder / "cp2k.inp").write_text(calc._generate_input())


def abort_reason(output: Path) -> str | None:
    """CP2K's own words from the ``[ABORT]`` box of ``output`` (or an unconverged SCF)."""
    if not output.is_file():
        return None
    lines = output.read_text(errors="replace").splitlines()
    marks = [k for k, line in enumerate(lines) if "[ABORT]" in line]
    if marks:
        return _box_text(lines, marks[0]) or "CP2K aborted"
    for line in lines:
        if "SCF run NOT converged" in line:
            where = line.split("::")[0].strip(" *")
            return f"SCF run NOT converged ({where}; raise max_scf or check the structure)"
    return None


def _box_text(lines: list[str], k: int) -> str:
    """The text of the star box around line ``k``, without its drawing and source line."""
    start = max(j for j in range(k + 1) if lines[j].strip().startswith("****"))
    end = min(j for j in range(k, len(lines)) if lines[j].strip().startswith("****") or
              j == len(lines) - 1)
    words = []
    for row in lines[start + 1:end]:
        text = row.strip().strip("*")[10:].strip()
        if text and ".F:" not in text:
            words.append(text)
    return " ".join(" ".join(words).split())


def version(output: Path) -> str:
    """CP2K's version string from ``output`` ('' if not there)."""
    if output.is_file():
        for line in output.read_text(errors="replace").splitlines():
            if "CP2K| version string:" in line:
                return line.split(":", 1)[1].strip()
    return ""


def provenance(section: dict, output: Path) -> dict:
    """``label_method``, ``label_code`` and ``label_settings`` of one CP2K label."""
    values = settings(section)
    return {"label_method": method(values), "label_code": version(output),
            "label_settings": json.dumps({**values, "data_dir": str(data_dir(values))},
                                         sort_keys=True)}
