"""lammps-uq label: xTB references in MACE's keys, failures recorded and retried, resumable."""

from __future__ import annotations

import json
import subprocess
import sys

import ase.io
import pytest

from lammps_uq import testing
from lammps_uq.cli import main

FLAKY = '''
import os, time
from ase.calculators.calculator import CalculationFailed
from ase.calculators.lj import LennardJones


class Flaky(LennardJones):
    """Fails its first try in each cell's folder (an SCF that did not converge)."""

    def __init__(self, directory, mode):
        super().__init__(sigma=2.5, epsilon=0.01, rc=5.0)
        self.folder, self.mode = directory, mode

    def calculate(self, *args, **kwargs):
        os.makedirs(self.folder, exist_ok=True)
        marker = os.path.join(self.folder, "tried")
        if self.mode == "sleep":
            time.sleep(30)
        if self.mode == "broken" or not os.path.exists(marker):
            open(marker, "w").close()
            raise CalculationFailed("SCF not converged after 100 cycles")
        super().calculate(*args, **kwargs)


def flaky(directory):
    return Flaky(directory, "flaky")


def broken(directory):
    return Flaky(directory, "broken")


def sleepy(directory):
    return Flaky(directory, "sleep")
'''


def write_cells(folder, n: int = 2, molecules: int = 8):
    folder.mkdir()
    for k in range(n):
        atoms = testing.water_box(molecules, seed=k)
        atoms.info.update(parent_step=10 * k, centre_id=k + 1, centre_s_local=0.2,
                          committee="a.model b.model")
        ase.io.write(folder / f"cell_{10 * k}_{k + 1}_{k:05d}.extxyz", atoms)


def test_xtb_labels_in_mace_keys_with_provenance(tmp_path, capsys):
    write_cells(tmp_path / "cells")
    out = tmp_path / "labelled.extxyz"
    assert main(["label", str(tmp_path / "cells"), "-o", str(out), "--calculator", "xtb",
                 "--workers", "0"]) == 0
    frames = ase.io.read(out, ":")
    assert [f.info["cell_id"] for f in frames] == ["cell_0_1_00000", "cell_10_2_00001"]
    for k, frame in enumerate(frames):
        assert frame.info["REF_energy"] < -1000  # eV: 8 molecules of GFN2-xTB water
        assert frame.arrays["REF_forces"].shape == (24, 3)
        assert frame.info["REF_stress"].shape == (6,)
        assert frame.info["parent_step"] == 10 * k and frame.info["centre_id"] == k + 1
        assert frame.info["committee"] == "a.model b.model"
        assert frame.info["label_calculator"] == "xtb"
    # a rerun labels nothing; a torn last frame (a killed run) is cut and that cell redone
    text = out.read_text()
    out.write_text(text[: len(text) - 200])
    assert main(["label", str(tmp_path / "cells"), "-o", str(out), "--calculator", "xtb",
                 "--workers", "0"]) == 0
    assert "1 cells labelled, 1 already there, 0 failed" in capsys.readouterr().out
    assert len(ase.io.read(out, ":")) == 2


def test_failures_are_retried_then_recorded_and_rerun(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flakycalc.py").write_text(FLAKY)
    write_cells(tmp_path / "cells")
    base = ["label", "cells", "-o", "out.extxyz", "--workers", "0"]
    assert main(base + ["--calculator", "flakycalc:broken", "--retries", "2"]) == 1
    assert "0 cells labelled, 0 already there, 2 failed" in capsys.readouterr().out
    failed = json.loads((tmp_path / "out.failed.json").read_text())
    assert failed["cell_0_1_00000"] == {
        "source": "cells/cell_0_1_00000.extxyz", "attempts": 3,
        "reason": "CalculationFailed: SCF not converged after 100 cycles"}
    # the flaky calculator fails the first try of each cell: one retry labels it
    for cell in (tmp_path / "out.extxyz.work").iterdir():
        (cell / "tried").unlink()
    assert main(base + ["--calculator", "flakycalc:flaky", "--retries", "1"]) == 0
    assert "2 cells labelled, 0 already there, 0 failed" in capsys.readouterr().out
    assert json.loads((tmp_path / "out.failed.json").read_text()) == {}
    assert len(ase.io.read("out.extxyz", ":")) == 2


def test_collapsed_cells_are_refused_before_any_calculation(tmp_path, monkeypatch, capsys):
    """Two atoms 0.30 Å apart (an H on an O): recorded with both atoms named, never computed
    (the broken calculator would fail with another reason); --min-contact 0 lets it through."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flakycalc.py").write_text(FLAKY)
    write_cells(tmp_path / "cells", n=2)
    path = tmp_path / "cells" / "cell_10_2_00001.extxyz"
    atoms = ase.io.read(path)
    atoms.positions[4] = atoms.positions[0] + [0.30, 0.0, 0.0]  # O 0 and H 4
    ase.io.write(path, atoms)
    base = ["label", "cells", "-o", "out.extxyz", "--workers", "0", "--retries", "0",
            "--calculator", "flakycalc:broken"]
    assert main(base) == 1
    assert "0 cells labelled, 0 already there, 2 failed" in capsys.readouterr().out
    failed = json.loads((tmp_path / "out.failed.json").read_text())
    assert failed["cell_10_2_00001"] == {
        "source": "cells/cell_10_2_00001.extxyz", "attempts": 0,
        "reason": "atoms 0 (O) and 4 (H) are 0.300 Å apart, closer than 0.7 x their covalent "
                  "radii (0.679 Å): not a physical structure, not labelled (min_contact)"}
    assert failed["cell_0_1_00000"]["reason"].startswith("CalculationFailed")
    assert not (tmp_path / "out.extxyz.work" / "cell_10_2_00001").exists()
    assert main(base + ["--min-contact", "0"]) == 1
    failed = json.loads((tmp_path / "out.failed.json").read_text())
    assert failed["cell_10_2_00001"]["reason"].startswith("CalculationFailed")


def test_timeout_is_a_recorded_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flakycalc.py").write_text(FLAKY)
    write_cells(tmp_path / "cells", n=1)
    assert main(["label", "cells", "-o", "out.extxyz", "--workers", "0", "--retries", "0",
                 "--calculator", "flakycalc:sleepy", "--timeout", "0.5"]) == 1
    reason = json.loads((tmp_path / "out.failed.json").read_text())["cell_0_1_00000"]["reason"]
    assert reason == "LabelTimeout: timeout after 0.5 s (its process was killed)"


DFT = """
[espresso]
command = "mpirun -np 4 pw.x"
pseudo_dir = "/shared/pseudo"
pseudopotentials = { O = "O.pbe.UPF", H = "H.pbe.UPF" }
kpts = [2, 2, 2]
[espresso.parameters]
system = { ecutwfc = 80 }
[cp2k]
command = "cp2k_shell.psmp"
functional = "BLYP"
stress = true
cutoff = 500
[vasp]
command = "vasp_std"
pp_path = "{pp}"
kpts = [1, 1, 1]
[vasp.parameters]
xc = "PBE"
encut = 520
"""


@pytest.mark.parametrize("code,name,expected", [
    ("espresso", "espresso.pwi", ["ecutwfc          = 80", "O.pbe.UPF", "2 2 2"]),
    ("cp2k", "cp2k.inp", ["&BLYP", "STRESS_TENSOR ANALYTICAL", "REFERENCE_FUNCTIONAL BLYP",
                          "BASIS_SET DZVP-MOLOPT-SR-GTH", "POTENTIAL GTH-PBE",
                          f"CUTOFF [eV] {500 * 13.605693122994:.18e}"]),
    ("vasp", "INCAR", ["ENCUT = 520"]),
])
def test_dft_inputs_are_written_from_the_config(code, name, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for symbol in ("O", "H"):  # stand-in POTCARs: ASE copies them into the cell's folder
        (tmp_path / "pp" / "potpaw_PBE" / symbol).mkdir(parents=True)
        (tmp_path / "pp" / "potpaw_PBE" / symbol / "POTCAR").write_text(f" PAW_PBE {symbol}\n")
    (tmp_path / "dft.toml").write_text(DFT.replace("{pp}", str(tmp_path / "pp")))
    write_cells(tmp_path / "cells", n=1)
    assert main(["label", "cells", "-o", "out.extxyz", "--calculator", code,
                 "--calculator-config", "dft.toml", "--inputs-only"]) == 0
    text = (tmp_path / "out.extxyz.inputs" / "cell_0_1_00000" / name).read_text()
    for piece in expected:
        assert piece in text
    assert not (tmp_path / "out.extxyz").exists()


@pytest.mark.parametrize("extra,message", [
    (["--calculator", "gaussian"],
     "lammps-uq label: --calculator: got 'gaussian'; expected xtb, vasp, espresso, cp2k or "
     "MODULE:FACTORY"),
    (["--calculator", "vasp"],
     "lammps-uq label: --calculator vasp: no [vasp] table in --calculator-config; expected one "
     "with command"),
    (["--calculator", "espresso", "--calculator-config", "{tmp}/bad.toml"],
     "lammps-uq label: --calculator-config: [espresso] has no pseudopotentials; expected "
     "command, pseudopotentials (see lammps_uq.extract.reference_calcs)"),
    (["--calculator", "xtb", "--parsl-config", "{tmp}/missing.py"],
     "lammps-uq label: --parsl-config: got '{tmp}/missing.py' (no such file); expected a Python "
     "file that defines config = parsl.config.Config(...)"),
    (["--calculator", "nosuchmodule:make"],
     "lammps-uq label: --calculator: cannot import module 'nosuchmodule' (No module named "
     "'nosuchmodule'); expected a module on the Python path or in the current directory"),
], ids=["unknown calculator", "no config", "config lacks a key", "parsl config missing",
        "factory module missing"])
def test_label_errors_are_one_line(extra, message, tmp_path, capsys):
    write_cells(tmp_path / "cells", n=1)
    (tmp_path / "bad.toml").write_text('[espresso]\ncommand = "pw.x"\n')
    argv = ["label", str(tmp_path / "cells"), "-o", str(tmp_path / "o.extxyz"), "--workers", "0"]
    with pytest.raises(SystemExit) as exc:
        main(argv + [w.format(tmp=tmp_path) for w in extra])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == message.format(tmp=tmp_path)


def test_unwritable_output_folder(tmp_path, capsys):
    write_cells(tmp_path / "cells", n=1)
    (tmp_path / "file").write_text("x\n")
    with pytest.raises(SystemExit):
        main(["label", str(tmp_path / "cells"), "-o", str(tmp_path / "file" / "o.extxyz"),
              "--calculator", "xtb"])
    assert capsys.readouterr().err.strip() == (
        f"lammps-uq label: --output: got '{tmp_path / 'file'}', which cannot be made a folder "
        "(File exists); expected a writable folder")


@pytest.mark.slow
def test_mace_run_train_accepts_the_labelled_file(tmp_path):
    write_cells(tmp_path / "cells", n=4)
    out = tmp_path / "labelled.extxyz"
    assert main(["label", str(tmp_path / "cells"), "-o", str(out), "--calculator", "xtb",
                 "--workers", "0"]) == 0
    args = [sys.executable, "-m", "mace.cli.run_train", "--name=smoke", f"--train_file={out}",
            "--valid_fraction=0.5", "--energy_key=REF_energy", "--forces_key=REF_forces",
            "--stress_key=REF_stress", f"--work_dir={tmp_path / 'train'}", "--device=cpu",
            "--model=MACE", "--r_max=3.0", "--num_channels=8", "--max_L=0", "--max_ell=1",
            "--correlation=1", "--num_interactions=1", "--MLP_irreps=8x0e", "--batch_size=2",
            "--max_num_epochs=1", "--E0s=average", "--default_dtype=float64", "--seed=1"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "train" / "smoke.model").exists()


def test_local_workers_share_the_cores(monkeypatch):
    """Each of W local workers gets cores // W threads (torch and xTB would each take every
    core and thrash); a user's OMP_NUM_THREADS wins."""
    import os

    from lammps_uq.extract.executors import make_executor, worker_threads

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert worker_threads(1) == cores
    assert worker_threads(cores * 2) == 1
    with make_executor(2) as executor:
        seen = executor.submit(os.getenv, "OMP_NUM_THREADS").result()
    assert seen == str(max(1, cores // 2))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert worker_threads(2) == 3
