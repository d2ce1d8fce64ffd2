"""``lammps-uq label``: the calculator and its config are checked before any work (issue 21):
misspelt keys, values of the wrong type, missing keys a code cannot run without, a factory
that returns no ASE calculator, xTB without tblite: one line, exit 2, nothing written."""

from __future__ import annotations

import os
import sys

import ase.io
import pytest

from lammps_uq import testing
from lammps_uq.cli import main
from lammps_uq.extract.reference_calcs import check_spec

import helpers

ESPRESSO = """
[espresso]
command = "pw.x"
pseudo_dir = "/shared/pseudo"
pseudopotentials = { O = "O.pbe.UPF", H = "H.pbe.UPF" }
kpts = [2, 2, 2]
[espresso.parameters]
system = { ecutwfc = 80 }
"""
VASP = '[vasp]\ncommand = "vasp_std"\n'
FACTORY = "expected MODULE:FACTORY where FACTORY(directory=...) returns an ASE calculator"
CALCS = '''
from ase.calculators.lj import LennardJones


def _seen(directory):
    with open("seen.txt", "a") as fh:
        fh.write(directory + "\\n")


def number(directory):
    _seen(directory)
    return 5


def failing(directory):
    raise RuntimeError("no licence\\nfor this code")


def good(directory):
    _seen(directory)
    return LennardJones()
'''


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A folder with one carved cell and a calculator module; VASP_PP_PATH unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    monkeypatch.delitem(sys.modules, "labelcalcs", raising=False)
    (tmp_path / "labelcalcs.py").write_text(CALCS)
    (tmp_path / "cells").mkdir()
    atoms = testing.water_box(8, seed=0)
    atoms.info.update(parent_step=0, centre_id=1, centre_s_local=0.2, committee="a b")
    ase.io.write(tmp_path / "cells" / "cell_0_1_00000.extxyz", atoms)
    return tmp_path


def refused(capsys, folder, argv: list[str]) -> str:
    """The one stderr line of a refused ``lammps-uq label`` (exit 2, nothing written)."""
    line = helpers.refused(capsys, "label",
                           ["label", "cells", "-o", "out.extxyz", "--workers", "0"] + argv)
    for name in ("out.extxyz", "out.extxyz.work", "out.extxyz.inputs", "out.failed.json"):
        assert not (folder / name).exists(), name
    return line.removeprefix("lammps-uq label: ")


ESPRESSO_KEYS = "expected keys command, pseudo_dir, pseudopotentials, kpts, parameters"
CP2K_KEYS = ("command, parameters, functional, dispersion, basis_set, basis_set_file, "
             "pseudo_potential, potential_file, data_dir, inp, cutoff, rel_cutoff, eps_scf, "
             "max_scf, multiplicity, charge, stress, xc_smoothing, smearing")
PSEUDOS = 'expected a table of element symbol = file name, e.g. { O = "O.pbe.UPF" }'
KPTS = "expected a list of 3 integers >= 1, e.g. [2, 2, 2]"
BAD = {
    "kpoints": (ESPRESSO.replace("kpts =", "kpoints ="), "espresso",
                f"[espresso] has unknown key 'kpoints'; {ESPRESSO_KEYS}"),
    "pseudodir": (ESPRESSO.replace("pseudo_dir =", "pseudodir ="), "espresso",
                  f"[espresso] has unknown key 'pseudodir'; {ESPRESSO_KEYS}"),
    "paramters": (ESPRESSO.replace(".parameters]", ".paramters]"), "espresso",
                  f"[espresso] has unknown key 'paramters'; {ESPRESSO_KEYS}"),
    "espreso": (ESPRESSO.replace("[espresso", "[espreso"), "espresso",
                "has unknown table [espreso]; expected tables vasp, espresso, cp2k"),
    "top-level key": ('command = "pw.x"\n' + ESPRESSO, "espresso",
                      "has unknown key 'command'; expected tables vasp, espresso, cp2k"),
    "code not a table": ('cp2k = "cp2k.psmp"\n' + ESPRESSO, "espresso",
                         "cp2k: got 'cp2k.psmp'; expected a table [cp2k] with keys "
                         f"{CP2K_KEYS}"),
    "other code's key": (ESPRESSO + VASP + "encut = 520\n", "espresso",
                         "[vasp] has unknown key 'encut'; expected keys command, pp_path, kpts, "
                         "parameters"),
    "other code's type": (ESPRESSO + '[cp2k]\ncommand = "cp2k_shell"\nparameters = ["xc"]\n',
                          "espresso", "[cp2k] parameters: got ['xc']; expected a table (passed "
                          "to the ASE calculator as it is)"),
    "command 5": (ESPRESSO.replace('"pw.x"', "5"), "espresso",
                  "[espresso] command: got 5; expected a non-empty string (how the code is "
                  "started)"),
    "command empty": (VASP.replace('"vasp_std"', '" "'), "vasp",
                      "[vasp] command: got ' '; expected a non-empty string (how the code is "
                      "started)"),
    "parameters 3": (ESPRESSO.split("[espresso.")[0] + "parameters = 3\n", "espresso",
                     "[espresso] parameters: got 3; expected a table (passed to the ASE "
                     "calculator as it is)"),
    "kpts 2": (ESPRESSO.replace("[2, 2, 2]", "[2, 2]"), "espresso",
               f"[espresso] kpts: got [2, 2]; {KPTS}"),
    "kpts 0": (ESPRESSO.replace("[2, 2, 2]", "[0, 1, 1]"), "espresso",
               f"[espresso] kpts: got [0, 1, 1]; {KPTS}"),
    "kpts float": (ESPRESSO.replace("[2, 2, 2]", "[1.5, 1, 1]"), "espresso",
                   f"[espresso] kpts: got [1.5, 1, 1]; {KPTS}"),
    "kpts bool": (VASP + "kpts = [true, 1, 1]\n", "vasp",
                  f"[vasp] kpts: got [True, 1, 1]; {KPTS}"),
    "pseudopotentials symbol": (ESPRESSO.replace('O = "O', 'Ox = "O'), "espresso",
                                "[espresso] pseudopotentials: got {'Ox': 'O.pbe.UPF', 'H': "
                                f"'H.pbe.UPF'}}; {PSEUDOS}"),
    "pseudopotentials file": (ESPRESSO.replace('"O.pbe.UPF"', "5"), "espresso",
                              "[espresso] pseudopotentials: got {'O': 5, 'H': 'H.pbe.UPF'}; "
                              f"{PSEUDOS}"),
    "pseudopotentials text": (ESPRESSO.replace('{ O = "O.pbe.UPF", H = "H.pbe.UPF" }',
                                               '"O.pbe.UPF"'), "espresso",
                              f"[espresso] pseudopotentials: got 'O.pbe.UPF'; {PSEUDOS}"),
    "pseudo_dir 7": (ESPRESSO.replace('"/shared/pseudo"', "7"), "espresso",
                     "[espresso] pseudo_dir: got 7; expected a non-empty string (the folder of "
                     "the pseudopotentials)"),
    "pp_path list": (VASP + 'pp_path = ["/pp"]\n', "vasp",
                     "[vasp] pp_path: got ['/pp']; expected a non-empty string (the folder that "
                     "holds potpaw_PBE/)"),
    "no pp_path": (VASP, "vasp",
                   "[vasp] has no pp_path and VASP_PP_PATH is not set; expected pp_path = the "
                   "folder that holds potpaw_PBE/"),
    "no pseudo_dir": (ESPRESSO.replace('pseudo_dir = "/shared/pseudo"', ""), "espresso",
                      "[espresso] has no pseudo_dir; expected pseudo_dir = the folder of the "
                      "pseudopotential files"),
    "no ecutwfc": (ESPRESSO.replace("ecutwfc = 80", 'input_dft = "PBE"'), "espresso",
                   "[espresso] has no ecutwfc in parameters; expected parameters.ecutwfc or "
                   "parameters.system.ecutwfc, the plane-wave cutoff in Ry (pw.x does not run "
                   "without it)"),
    "no parameters": (ESPRESSO.split("[espresso.")[0], "espresso",
                      "[espresso] has no ecutwfc in parameters; expected parameters.ecutwfc or "
                      "parameters.system.ecutwfc, the plane-wave cutoff in Ry (pw.x does not "
                      "run without it)"),
    "ecutwfc text": (ESPRESSO.replace("ecutwfc = 80", 'ecutwfc = "80"'), "espresso",
                     "[espresso] parameters.system.ecutwfc: got '80'; expected a number > 0 "
                     "(the plane-wave cutoff in Ry)"),
    "flat ecutwfc 0": (ESPRESSO.replace("system = { ecutwfc = 80 }", "ecutwfc = 0"), "espresso",
                       "[espresso] parameters.ecutwfc: got 0; expected a number > 0 (the "
                       "plane-wave cutoff in Ry)"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_config_is_refused_before_any_work(case, here, capsys):
    text, code, message = BAD[case]
    (here / "dft.toml").write_text(text)
    got = refused(capsys, here, ["--calculator", code, "--calculator-config", "dft.toml"])
    assert got == f"--calculator-config: {message}"


def test_misspelt_yaml_key_is_refused(here, capsys):
    (here / "dft.yaml").write_text("cp2k:\n  command: cp2k_shell\n  parameter:\n    xc: BLYP\n")
    assert refused(capsys, here, ["--calculator", "cp2k", "--calculator-config", "dft.yaml"]) == (
        f"--calculator-config: [cp2k] has unknown key 'parameter'; expected keys {CP2K_KEYS}")


def test_broken_yaml_is_one_line(here, capsys):
    (here / "dft.yaml").write_text("cp2k:\n  command: [cp2k_shell\n")
    got = refused(capsys, here, ["--calculator", "cp2k", "--calculator-config", "dft.yaml"])
    assert got.startswith("--calculator-config: got 'dft.yaml', unreadable (while parsing")
    assert got.endswith("); expected a TOML (.toml) or YAML (.yaml, .yml) file")


def test_xtb_config_tables_are_checked_too(here, capsys):
    (here / "dft.toml").write_text(ESPRESSO.replace("kpts =", "kpoints ="))
    assert refused(capsys, here, ["--calculator", "xtb", "--calculator-config", "dft.toml"]) == (
        f"--calculator-config: [espresso] has unknown key 'kpoints'; {ESPRESSO_KEYS}")


def test_good_configs_still_write_their_inputs(here):
    """Only the code of --calculator needs its required keys: [vasp] may lack pp_path here."""
    (here / "dft.toml").write_text(ESPRESSO + VASP)
    assert main(["label", "cells", "-o", "out.extxyz", "--calculator", "espresso",
                 "--calculator-config", "dft.toml", "--inputs-only"]) == 0
    text = (here / "out.extxyz.inputs" / "cell_0_1_00000" / "espresso.pwi").read_text()
    assert "ecutwfc          = 80" in text and "/shared/pseudo" in text and "2 2 2" in text
    (here / "dft.yaml").write_text(
        "espresso:\n  command: pw.x\n  pseudo_dir: /shared/pseudo\n"
        "  pseudopotentials: {O: O.pbe.UPF, H: H.pbe.UPF}\n  parameters: {ecutwfc: 60}\n")
    assert main(["label", "cells", "-o", "yaml.extxyz", "--calculator", "espresso",
                 "--calculator-config", "dft.yaml", "--inputs-only"]) == 0
    text = (here / "yaml.extxyz.inputs" / "cell_0_1_00000" / "espresso.pwi").read_text()
    assert "ecutwfc          = 60" in text


def test_vasp_pp_path_may_come_from_the_environment(here, monkeypatch):
    monkeypatch.setenv("VASP_PP_PATH", str(here / "pp"))
    check_spec("vasp", {"vasp": {"command": "vasp_std"}})


@pytest.mark.parametrize("spec,message", [
    ("labelcalcs:number", "--calculator: got 'labelcalcs:number', whose factory returned 5 "
                          f"(type int); {FACTORY}"),
    ("labelcalcs:failing", "--calculator: got 'labelcalcs:failing', whose factory raised "
                           f"RuntimeError: no licence for this code; {FACTORY}"),
])
def test_factory_without_a_calculator_is_refused(spec, message, here, capsys):
    assert refused(capsys, here, ["--calculator", spec]) == message
    seen = (here / "seen.txt").read_text().split() if (here / "seen.txt").exists() else []
    assert len(seen) == (1 if spec.endswith("number") else 0)
    assert not any(os.path.exists(folder) for folder in seen)


def test_os_system_is_refused(here, capsys):
    got = refused(capsys, here, ["--calculator", "os:system"])
    assert got.startswith("--calculator: got 'os:system', whose factory raised TypeError: ")
    assert got.endswith(f"; {FACTORY}")


def test_good_factory_is_called_once_on_a_scratch_folder(here):
    check_spec("labelcalcs:good", {})
    seen = (here / "seen.txt").read_text().split()
    assert len(seen) == 1 and not (here / seen[0]).exists() and seen[0] != str(here)


def test_xtb_without_tblite_says_how_to_install_it(here, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tblite.ase", None)
    assert refused(capsys, here, ["--calculator", "xtb"]) == (
        "--calculator: got 'xtb', whose package tblite cannot be imported (import of tblite.ase "
        "halted; None in sys.modules); expected tblite installed (pip install tblite)")
