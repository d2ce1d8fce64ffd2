"""CP2K labels (issue 25): `lammps-uq label --calculator cp2k` against an independent CP2K run,
finite differences of the energy, ASE's units and conventions, failures in CP2K's words.

Needs Debian's `cp2k` and `cp2k-data` (`cp2k_shell`, `cp2k.psmp`, /usr/share/cp2k): skipped
without them locally, a failure in CI (LAMMPS_UQ_REQUIRE_ALL=1, where .ci/run installs them).
The settings are cheap (SZV-MOLOPT-SR-GTH, 200 Ry, REL_CUTOFF 30) but the SCF tight and the XC
grid smoothed as by default: these tests check the code path, not the physics
(benchmarks/cp2k_cutoff.py measures the cutoff).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import ase.io
import numpy as np
import pytest
from ase.units import Bohr, GPa, Hartree

from lammps_uq.cli import main

if shutil.which("cp2k_shell") is None or shutil.which("cp2k.psmp") is None:
    if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1":
        raise RuntimeError("cp2k_shell / cp2k.psmp not on PATH (apt-get install cp2k cp2k-data)")
    pytest.skip("CP2K not installed (apt-get install cp2k cp2k-data)", allow_module_level=True)

FAST = {"cutoff": 200, "rel_cutoff": 30, "eps_scf": 1e-8, "stress": True,
        "basis_set": "SZV-MOLOPT-SR-GTH", "xc_smoothing": True}
CONFIG = "[cp2k]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in FAST.items())


def carved_cell():
    """The 4 molecules nearest to O atom 0 of a test frame of the default committee."""
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir
    from lammps_uq.extract.carve import CarveOptions, carve

    frame = ase.io.read(default_committee_dir() / "test.extxyz", 0)
    return carve(frame, 0, CarveOptions(molecules=4), parent_volume=frame.get_volume(),
                 parent_natoms=len(frame))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """One label of the carved cell through the CLI, as a user runs it."""
    folder = tmp_path_factory.mktemp("cp2k")
    cell = carved_cell()
    (folder / "cells").mkdir()
    ase.io.write(folder / "cells" / "cell_0_1_00000.extxyz", cell)
    (folder / "cp2k.toml").write_text(CONFIG)
    code = main(["label", str(folder / "cells"), "-o", str(folder / "out.extxyz"), "--workers",
                 "1", "--calculator", "cp2k", "--calculator-config", str(folder / "cp2k.toml")])
    assert code == 0, (folder / "out.failed.json").read_text()
    return folder, cell, ase.io.read(folder / "out.extxyz")


INDEPENDENT = """&GLOBAL
  PROJECT independent
  PRINT_LEVEL MEDIUM
&END GLOBAL
&FORCE_EVAL
  METHOD Quickstep
  STRESS_TENSOR ANALYTICAL
  &PRINT
    &FORCES ON
    &END FORCES
    &STRESS_TENSOR ON
    &END STRESS_TENSOR
  &END PRINT
  &DFT
    BASIS_SET_FILE_NAME BASIS_MOLOPT
    POTENTIAL_FILE_NAME GTH_POTENTIALS
    &QS
      EPS_DEFAULT 1.0E-12
    &END QS
    &MGRID
      CUTOFF 200
      REL_CUTOFF 30
    &END MGRID
    &SCF
      EPS_SCF 1.0E-8
      MAX_SCF 100
      SCF_GUESS ATOMIC
      &OT
        MINIMIZER DIIS
        PRECONDITIONER FULL_SINGLE_INVERSE
      &END OT
    &END SCF
    &XC
      &XC_FUNCTIONAL
        &GGA_X_RPBE
        &END GGA_X_RPBE
        &GGA_C_PBE
        &END GGA_C_PBE
      &END XC_FUNCTIONAL
      &VDW_POTENTIAL
        POTENTIAL_TYPE PAIR_POTENTIAL
        &PAIR_POTENTIAL
          TYPE DFTD3
          PARAMETER_FILE_NAME dftd3.dat
          REFERENCE_FUNCTIONAL RPBE
        &END PAIR_POTENTIAL
      &END VDW_POTENTIAL
      &XC_GRID
        XC_SMOOTH_RHO NN10
        XC_DERIV SPLINE2_SMOOTH
      &END XC_GRID
    &END XC
  &END DFT
  &SUBSYS
    &CELL
      A {a}
      B {b}
      C {c}
      PERIODIC XYZ
    &END CELL
    &COORD
{coord}
    &END COORD
    &KIND H
      BASIS_SET SZV-MOLOPT-SR-GTH
      POTENTIAL GTH-PBE
    &END KIND
    &KIND O
      BASIS_SET SZV-MOLOPT-SR-GTH
      POTENTIAL GTH-PBE
    &END KIND
  &END SUBSYS
&END FORCE_EVAL
"""


def independent_run(cell, folder):
    """Energy (eV), forces (eV/Å) and CP2K's printed stress (GPa) of ``cp2k.psmp -i``."""
    vec = [" ".join(f"{x:.12f}" for x in row) for row in cell.cell]
    coord = "\n".join(f"      {s} {x:.12f} {y:.12f} {z:.12f}"
                      for s, (x, y, z) in zip(cell.get_chemical_symbols(), cell.positions))
    (folder / "independent.inp").write_text(
        INDEPENDENT.format(a=vec[0], b=vec[1], c=vec[2], coord=coord))
    env = dict(os.environ, OMP_NUM_THREADS=str(len(os.sched_getaffinity(0))),
               CP2K_DATA_DIR="/usr/share/cp2k")
    subprocess.run(["cp2k.psmp", "-i", "independent.inp", "-o", "independent.out"], cwd=folder,
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return parse_output((folder / "independent.out").read_text(), len(cell))


def parse_output(text: str, natoms: int):
    lines = text.splitlines()
    energy = [float(line.split(":")[-1]) for line in lines
              if line.startswith(" ENERGY| Total FORCE_EVAL")][-1] * Hartree
    start = max(k for k, line in enumerate(lines) if "ATOMIC FORCES in [a.u.]" in line)
    rows = [line.split() for line in lines[start + 1:] if len(line.split()) == 6
            and line.split()[0].isdigit()][:natoms]
    forces = np.array([[float(w) for w in row[3:]] for row in rows]) * Hartree / Bohr
    k = max(k for k, line in enumerate(lines) if "STRESS| Analytical stress tensor [GPa]" in line)
    stress = np.array([[float(w) for w in lines[k + 2 + i].split()[2:5]] for i in range(3)])
    return energy, forces, stress


def test_label_equals_an_independent_cp2k_run(labelled):
    folder, cell, frame = labelled
    energy, forces, stress_gpa = independent_run(cell, folder)
    print(f"CP2K label vs independent cp2k.psmp: dE = "
          f"{abs(frame.info['REF_energy'] - energy):.2e} eV, max dF = "
          f"{np.abs(frame.arrays['REF_forces'] - forces).max():.2e} eV/Å")
    assert frame.info["REF_energy"] == pytest.approx(energy, abs=1e-6)
    np.testing.assert_allclose(frame.arrays["REF_forces"], forces, atol=1e-5)
    # ASE's convention: stress = (1/V) dE/d(strain), Voigt xx yy zz yz xz xy, eV/Å^3;
    # CP2K prints the pressure-like tensor in GPa (the opposite sign)
    voigt = -stress_gpa[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] * GPa
    np.testing.assert_allclose(frame.info["REF_stress"], voigt, atol=2e-6)


def test_label_carries_method_code_and_settings(labelled):
    _, _, frame = labelled
    assert frame.info["label_calculator"] == "cp2k"
    assert frame.info["label_method"] == "RPBE-D3/SZV-MOLOPT-SR-GTH/GTH-PBE/200 Ry"
    assert frame.info["label_code"] == "CP2K version 2023.1" or \
        frame.info["label_code"].startswith("CP2K version")
    settings = json.loads(frame.info["label_settings"])
    assert settings["cutoff"] == 200 and settings["functional"] == "RPBE"
    assert settings["basis_set_file"] == "BASIS_MOLOPT"


def _differences(atoms, cell, frame, fresh):
    """max |F - F_fd| on atom 0 (x) and atom 4 (z) with ``atoms``' calculator, and the
    finite-difference stress xx, yz with a fresh calculator per strained cell (``fresh``):
    cp2k_shell's SET_CELL, which ASE sends for a new cell, left energies that gave the yz
    stress the wrong sign.  8 energies: the CI budget."""

    def energy(positions):
        atoms.positions = positions
        return atoms.get_potential_energy()

    h, worst = 0.002, 0.0  # well below the grid spacing (~0.1 Å), whose ripple F follows
    for atom, axis in ((0, 0), (4, 2)):
        shifted = [cell.positions.copy(), cell.positions.copy()]
        shifted[0][atom, axis] += h
        shifted[1][atom, axis] -= h
        numeric = -(energy(shifted[0]) - energy(shifted[1])) / (2 * h)
        worst = max(worst, abs(numeric - frame.arrays["REF_forces"][atom, axis]))
    eps, stress = 2e-4, []
    for i, j in ((0, 0), (1, 2)):  # Voigt 0 (xx) and 3 (yz)
        pair = []
        for sign in (1, -1):
            strain = np.zeros((3, 3))
            strain[i, j] = strain[j, i] = sign * eps / (1 if i == j else 2)
            strained = cell.copy()
            strained.set_cell(cell.cell @ (np.eye(3) + strain), scale_atoms=True)
            pair.append(fresh(strained))
        stress.append((pair[0] - pair[1]) / (2 * eps * cell.get_volume()))
    return worst, stress


def test_forces_and_stress_are_derivatives_of_the_energy(labelled, tmp_path):
    """Central differences (h = 0.002 Å, strain 2e-4) on two atoms (one O, one H) and two
    stress components equal the label's forces and stress (ASE's sign and Voigt order)."""
    from lammps_uq.extract.cp2k import calculator

    _, cell, frame = labelled

    def fresh(strained):
        with calculator(FAST | {"stress": False}, str(tmp_path / f"s{fresh.k}")) as calc:
            fresh.k += 1
            return calc.get_potential_energy(strained)

    fresh.k = 0
    atoms = cell.copy()
    with calculator(FAST | {"stress": False}, str(tmp_path)) as calc:  # ends its cp2k_shell
        atoms.calc = calc
        worst, stress = _differences(atoms, cell, frame, fresh)
    print(f"finite differences: max |F - F_fd| = {worst:.2e} eV/Å; stress fd {stress} vs "
          f"{frame.info['REF_stress'][[0, 3]]}")
    # 1.5e-4 eV/Å measured; without the smoothed XC grid the 200 Ry grid's noise (a net force
    # of 1.1 eV/Å) left 2.3e-3 (docs/cp2k.md); a units or sign error would be 0.1-1 eV/Å
    assert worst < 1e-3
    np.testing.assert_allclose(stress, frame.info["REF_stress"][[0, 3]], atol=2e-5)


def test_unconverged_scf_is_a_failure_in_cp2ks_words(tmp_path, capsys):
    (tmp_path / "cells").mkdir()
    ase.io.write(tmp_path / "cells" / "cell_0_1_00000.extxyz", carved_cell())
    (tmp_path / "c.toml").write_text(CONFIG + "max_scf = 2\n")
    assert main(["label", str(tmp_path / "cells"), "-o", str(tmp_path / "o.extxyz"),
                 "--workers", "1", "--retries", "0", "--calculator", "cp2k",
                 "--calculator-config", str(tmp_path / "c.toml")]) == 1
    reason = json.loads((tmp_path / "o.failed.json").read_text())["cell_0_1_00000"]["reason"]
    assert reason.startswith("CalculationFailed: CP2K: SCF run NOT converged (WARNING in "
                             "qs_scf.F:"), reason


def test_isolated_atoms_for_the_loops_e0s(tmp_path):
    """learn's E0s with CP2K: an isolated H and O (non-periodic box, as learn.e0s makes them)
    computed unrestricted in their ground-state spin, energies in eV (the molecular basis sets
    miss some of an atom's energy: H -12.78 eV with DZVP-MOLOPT-SR-GTH, exact -13.6 eV)."""
    from lammps_uq.committee.training import isolated_atom
    from lammps_uq.extract.label_process import label_task
    from lammps_uq.learn.e0s import atom_config

    energies = {}
    for symbol, multiplicity in (("H", 2), ("O", 3)):
        atoms = isolated_atom(symbol)
        assert not atoms.pbc.any() and atoms.cell[0, 0] == 12.0
        config = atom_config("cp2k", {"cp2k": FAST | {"eps_scf": 1e-6}}, symbol)  # the default
        energies[symbol] = label_task(atoms, "cp2k", config, None, str(tmp_path / symbol))["energy"]
        text = (tmp_path / symbol / "cp2k.inp").read_text()
        assert "UNRESTRICTED_KOHN_SHAM ON" in text and f"MULTIPLICITY {multiplicity}" in text
        assert "MINIMIZER CG" in text
    print(f"isolated atoms: {energies}")
    assert -14.0 < energies["H"] < -11.5  # in Hartree it would be -0.47
    assert -440.0 < energies["O"] < -400.0  # 6 valence electrons of GTH-PBE O: about -430 eV


def test_a_metal_cell_with_smearing(tmp_path):
    """A mixed Cu/Ni fcc cell (4 atoms), Fermi-Dirac smearing: labelled, and CP2K ran it as a
    metal (its output reports the smearing and a Fermi energy).  At this test's 200 Ry the
    forces of the semicore Cu/Ni potentials are far from converged (net force ~6 eV/Å): the
    code path is tested here, not the physics."""
    from ase.build import bulk

    cell = bulk("Cu", "fcc", a=3.55, cubic=True)
    cell.symbols[[1, 2]] = "Ni"
    cell.rattle(0.05, seed=3)
    (tmp_path / "cells").mkdir()
    ase.io.write(tmp_path / "cells" / "cell_0_1_00000.extxyz", cell)
    (tmp_path / "c.toml").write_text(
        '[cp2k]\nfunctional = "PBE"\ndispersion = "none"\ncutoff = 200\nrel_cutoff = 30\n'
        'basis_set = "SZV-MOLOPT-SR-GTH"\nsmearing = { electronic_temperature = 1000.0, '
        'added_mos = 20 }\n')
    assert main(["label", str(tmp_path / "cells"), "-o", str(tmp_path / "o.extxyz"),
                 "--workers", "1", "--calculator", "cp2k",
                 "--calculator-config", str(tmp_path / "c.toml")]) == 0
    frame = ase.io.read(tmp_path / "o.extxyz")
    assert frame.info["label_method"] == "PBE/SZV-MOLOPT-SR-GTH/GTH-PBE/200 Ry"
    assert np.abs(frame.arrays["REF_forces"]).max() > 0.01  # rattled: not at a minimum
    assert sorted(set(frame.get_chemical_symbols())) == ["Cu", "Ni"]
    output = (tmp_path / "o.extxyz.work" / "cell_0_1_00000" / "cp2k.out").read_text()
    assert "FERMI_DIRAC" in output and "Fermi energy:" in output


@pytest.mark.parametrize("config,message", [
    ('[cp2k]\nbasis_set = "NOPE-GTH"\n',
     "lammps-uq label: --calculator-config: [cp2k] basis set 'NOPE-GTH' has no entry for H, O "
     "in /usr/share/cp2k/BASIS_MOLOPT; expected a basis set named there for every element of "
     "the cells"),
    ('[cp2k]\ncommand = "no_such_cp2k_shell"\n',
     "lammps-uq label: --calculator cp2k: command 'no_such_cp2k_shell' is not on PATH; expected "
     "CP2K installed (Debian/Ubuntu: apt-get install cp2k cp2k-data) or [cp2k] command = the "
     "path of a cp2k_shell"),
    ('[cp2k]\nfunctional = "B3LYP"\n',
     "lammps-uq label: --calculator-config: [cp2k] functional: got 'B3LYP'; expected one of "
     "RPBE, PBE, revPBE, BLYP"),
], ids=["missing basis", "no cp2k_shell", "unknown functional"])
def test_bad_cp2k_settings_are_one_line(config, message, tmp_path, capsys):
    (tmp_path / "cells").mkdir()
    ase.io.write(tmp_path / "cells" / "cell_0_1_00000.extxyz", carved_cell())
    (tmp_path / "c.toml").write_text(config)
    with pytest.raises(SystemExit) as exc:
        main(["label", str(tmp_path / "cells"), "-o", str(tmp_path / "o.extxyz"), "--workers",
              "0", "--calculator", "cp2k", "--calculator-config", str(tmp_path / "c.toml")])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "o.extxyz").exists()


def test_mace_run_train_accepts_cp2k_labels(labelled, tmp_path):
    """The 1-epoch smoke test of the xTB labels (test_labelling.py), on CP2K labels with
    their stress."""
    import sys

    _, _, frame = labelled
    ase.io.write(tmp_path / "train.extxyz", [frame] * 4)
    args = [sys.executable, "-m", "mace.cli.run_train", "--name=smoke",
            f"--train_file={tmp_path / 'train.extxyz'}", "--valid_fraction=0.5",
            "--energy_key=REF_energy", "--forces_key=REF_forces", "--stress_key=REF_stress",
            f"--work_dir={tmp_path / 'train'}", "--device=cpu", "--model=MACE", "--r_max=3.0",
            "--num_channels=8", "--max_L=0", "--max_ell=1", "--correlation=1",
            "--num_interactions=1", "--MLP_irreps=8x0e", "--batch_size=2",
            "--max_num_epochs=1", "--E0s=average", "--default_dtype=float64", "--seed=1"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "train" / "smoke.model").exists()
