"""The reproducible default committee: resumable data stage, training command, shipped files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from lammps_uq.committee.default import train as train_default
from lammps_uq.committee.training import e0s_option
from lammps_uq.committee.evaluators.mace_committee import default_committee_dir


def test_labelled_file_resumes_after_a_torn_frame(tmp_path):
    import ase.io

    path = tmp_path / "labelled.extxyz"
    frames = [Atoms("OH2", positions=np.eye(3) * k, cell=[5] * 3, pbc=True) for k in (1, 2, 3)]
    ase.io.write(path, frames)
    text = path.read_text()
    path.write_text(text[:-20])  # killed while writing the third frame
    assert train_default.count_frames(path) == 2
    assert train_default._truncate_to_complete(path) == 2
    ase.io.write(tmp_path / "two.extxyz", frames[:2])
    assert path.read_text() == (tmp_path / "two.extxyz").read_text()
    assert len(ase.io.read(path, ":")) == 2


E0S = {"H": -10.5, "O": -100.25}  # a work folder's e0s.json (eV), so no xTB runs here


def work_with_e0s(folder: Path) -> Path:
    (folder / "e0s.json").write_text(json.dumps({"method": "given", "energies": E0S}))
    return folder


def test_members_differ_only_in_seed(tmp_path):
    work_with_e0s(tmp_path)
    one = train_default.train_command(tmp_path, 1, tmp_path / "pool.extxyz")
    two = train_default.train_command(tmp_path, 2, tmp_path / "pool.extxyz")
    differ = [(a, b) for a, b in zip(one, two) if a != b]
    assert len(one) == len(two)
    assert all("1" in a and "2" in b for a, b in differ)
    assert {a.split("=")[0] for a, _ in differ} == {"--name", "--seed", "--work_dir"}
    assert "--valid_fraction=0.2" in one and "--restart_latest" in one


def shipped() -> Path:
    folder = default_committee_dir()
    if not (folder / "provenance.json").exists():
        pytest.fail(f"no default committee in {folder} (python -m lammps_uq.committee.default.train)")
    return folder


def test_shipped_committee_is_small_and_documented():
    folder = shipped()
    models = sorted(folder.glob("member_*.model"))
    assert len(models) == 5
    assert all(m.stat().st_size <= 1 << 20 for m in models)
    provenance = json.loads((folder / "provenance.json").read_text())
    assert [m["seed"] for m in provenance["members"]] == list(train_default.SEEDS)
    e0s = provenance["e0s"]["energies_eV"]
    assert set(e0s) == {"H", "O"} and provenance["e0s"]["method"] == train_default.E0S_METHOD
    assert provenance["hyperparameters"] == {**train_default.HYPER, "E0s": e0s_option(e0s)}
    energies = provenance["committee_mean"]
    assert 0 <= energies["test_energy_mae_offset_removed_eV_per_atom"] <= 2 * energies[
        "test_energy_mae_eV_per_atom"]


@pytest.mark.slow
def test_shipped_e0s_are_the_isolated_xtb_atoms(tmp_path):
    """The E0s the default was trained with are recomputed by the recipe's own stage, and
    match the isolated atoms of ``learn``'s xtb labeller (the same method, so one reference)."""
    if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
        pytest.importorskip("tblite")
    from lammps_uq.extract.reference_calcs import XTB

    assert XTB == train_default.XTB
    provenance = json.loads((shipped() / "provenance.json").read_text())
    recomputed = train_default.stage_e0s(tmp_path)
    assert recomputed == pytest.approx(provenance["e0s"]["energies_eV"], abs=1e-6)
    # a free H atom is one electron in one 1s shell: GFN2-xTB's is about -0.39 Hartree
    assert -11.0 < recomputed["H"] < -10.4 and recomputed["O"] < recomputed["H"]


@pytest.mark.slow
def test_provenance_figures_are_reproduced_from_the_shipped_files():
    """Test-set force MAE of the mean and Spearman correlations, recomputed from scratch."""
    import ase.io

    from lammps_uq import CommitteeCalculator
    from lammps_uq.science.calibrate import collect, committee_forces, fit

    folder = shipped()
    provenance = json.loads((folder / "provenance.json").read_text())
    frames = ase.io.read(folder / "test.extxyz", ":")
    calc = CommitteeCalculator("default")
    errors = []
    for atoms in frames:
        atoms.calc = calc
        errors.append(np.abs(atoms.get_forces() - atoms.arrays["REF_forces"]).mean())
    recorded = provenance["committee_mean"]["test_forces_mae_eV_per_A"]
    assert np.mean(errors) == pytest.approx(recorded, rel=1e-6)
    signed = [(calc.get_potential_energy(a) - a.info["REF_energy"]) / len(a) for a in frames]
    energies = provenance["committee_mean"]
    assert np.mean(np.abs(signed)) == pytest.approx(energies["test_energy_mae_eV_per_atom"],
                                                    rel=1e-5)
    centred = np.abs(np.array(signed) - np.mean(signed)).mean()
    assert centred == pytest.approx(energies["test_energy_mae_offset_removed_eV_per_atom"],
                                    rel=1e-5)
    forces = committee_forces(frames, calc)
    result = fit(collect(frames, forces), calc.committee.n_models)
    for name, rho in provenance["spearman_error_vs_uncertainty_on_test"].items():
        assert result["levels"][name]["spearman"] == pytest.approx(rho, abs=1e-9), name
    calibration = json.loads((folder / "calibration.json").read_text())
    before = calibration.get("alpha_local_before_anomalies", calibration["alpha_local"])
    assert before == pytest.approx(result["alpha_local"], rel=1e-9)


@pytest.mark.slow
def test_calibration_with_the_anomaly_frames_is_reproduced():
    """calibration.json (alpha and error model) from test.extxyz + anomalies.extxyz +
    anomalies_extra.extxyz split by MD run (issues 16, 23), and the checks on the untouched
    frames from their own file."""
    import ase.io

    from lammps_uq import CommitteeCalculator
    from lammps_uq.science.calibrate import committee_forces, fit, per_frame, pool
    from lammps_uq.committee.default import error_checks
    from lammps_uq.science.conformal import fit_error_models, frame_units

    folder = shipped()
    if not (folder / "anomalies.extxyz").exists():
        pytest.skip("no anomaly frames shipped (python -m lammps_uq.committee.default.recalibrate)")
    calc = CommitteeCalculator("default")
    sets, units = [], {}
    for name in ("test.extxyz", "anomalies.extxyz", "anomalies_extra.extxyz"):
        frames = ase.io.read(folder / name, ":")
        sets.append((name, per_frame(frames, committee_forces(frames, calc))))
        units[name] = frame_units(name, frames)
    calibration = json.loads((folder / "calibration.json").read_text())
    result = fit(pool([lv for _, levels in sets for lv in levels]), calc.committee.n_models)
    assert calibration["alpha_local"] == pytest.approx(result["alpha_local"], rel=1e-9)
    model = fit_error_models(sets, calibration["error_model"]["q"], units)["local"]["4"]
    numbers = {k: v for k, v in model.items() if isinstance(v, (int, float))}
    assert model["fit_frames"] + model["conformal_frames"] == 59
    shipped_model = calibration["error_model"]["local"]["4"]
    assert shipped_model["form"] == model["form"] == "knee"
    assert {k: shipped_model[k] for k in numbers} == pytest.approx(numbers, rel=1e-9)
    for name in ("anomalies.extxyz", "anomalies_extra.extxyz", "anomalies_untouched.extxyz"):
        assert (folder / name).stat().st_size < 5 << 20
    provenance = json.loads((folder / "provenance.json").read_text())
    recorded = provenance["calibration"]["error_model_rcut_4"]
    assert {k: recorded[k] for k in numbers} == pytest.approx(numbers, rel=1e-9)
    untouched = ase.io.read(folder / "anomalies_untouched.extxyz", ":")
    checks = error_checks.untouched(untouched, per_frame(untouched, committee_forces(untouched,
                                                                                     calc)),
                                    shipped_model)
    shipped_checks = provenance["calibration"]["checks"]["untouched"]
    assert [r["ratio_true_over_predicted"] for r in checks["frames"]] == pytest.approx(
        [r["ratio_true_over_predicted"] for r in shipped_checks["frames"]], rel=1e-9)
    assert checks["coverage"] == pytest.approx(shipped_checks["coverage"], rel=1e-9)


def test_untouched_frames_and_their_provenance_agree():
    """The error model's test set: 12 frames of kinds the calibration never held, labelled,
    seeds recorded and disjoint from the calibration's (both anomaly sets)."""
    import ase.io

    from lammps_uq.committee.default import anomalies, anomalies_extra, anomalies_untouched

    folder = shipped()
    frames = ase.io.read(folder / "anomalies_untouched.extxyz", ":")
    recorded = json.loads((folder / "provenance.json").read_text())["calibration"]["sets"]
    made = recorded["anomalies_untouched.extxyz"]
    assert made["anomalies"] == [list(a) for a in anomalies_untouched.ANOMALIES]
    assert [(f.info["anomaly"], f.info["strength"]) for f in frames] == [
        tuple(a) for a in anomalies_untouched.ANOMALIES]
    for recipe, name in ((anomalies, "anomalies.extxyz"),
                         (anomalies_extra, "anomalies_extra.extxyz")):
        assert not {a for a, _ in anomalies_untouched.ANOMALIES} & {a for a, _ in recipe.ANOMALIES}
        assert not set(made["md_seeds"]) & set(recorded[name]["md_seeds"])
        assert made["placement_seed"] != recorded[name].get("placement_seed", 7)
    assert sorted({f.info["md_seed"] for f in frames}) == made["md_seeds"]
    for atoms in frames:
        counts = np.bincount(atoms.numbers)
        assert counts[1] == 2 * counts[8]  # bends and rotations keep every molecule
        assert atoms.arrays["REF_forces"].shape == (len(atoms), 3)
        assert np.isfinite(atoms.info["REF_energy"]) and atoms.arrays["anomaly"].sum() > 0


# the shipped committee's hyperparameters as mace_run_train options, in HYPER's order
HYPER_ARGV = ["--model=MACE", "--r_max=4.5", "--num_channels=16", "--max_L=1", "--max_ell=2",
              "--correlation=2", "--num_interactions=2", "--num_radial_basis=8",
              "--MLP_irreps=16x0e", "--default_dtype=float32", "--batch_size=4",
              "--valid_fraction=0.2", "--max_num_epochs=30", "--lr=0.01", "--energy_weight=1.0",
              "--forces_weight=100.0", "--E0s=average", "--scaling=rms_forces_scaling", "--ema",
              "--ema_decay=0.99", "--amsgrad", "--patience=20"]


def test_mace_command_lines_of_the_recipe_and_of_learn_are_pinned(tmp_path):
    """train_default's and learn's members are trained by the same argv builder; each command
    line is exactly what it was before there was one builder (a changed option shows here)."""
    import sys

    from lammps_uq.learn import train

    run = [sys.executable, "-m", "mace.cli.run_train"]
    w = work_with_e0s(tmp_path)
    recipe = train_default.train_command(w, 3, w / "pool.extxyz")
    isolated = [a.replace("average", "{1: -10.5, 8: -100.25}") for a in HYPER_ARGV]
    assert recipe == run + ["--name=member_3", "--seed=3", f"--train_file={w}/pool.extxyz",
                            "--energy_key=REF_energy", "--forces_key=REF_forces",
                            f"--work_dir={w}/member_3", "--device=cpu", "--restart_latest",
                            "--save_cpu", "--error_table=PerAtomMAE"] + isolated
    hyper = train.hyperparameters({"lr": 0.005, "swa": True, "ema": False}, 7)
    member = ["--name=member_0", "--seed=11", "--train_file=/t/train.extxyz",
              "--energy_key=REF_energy", "--forces_key=REF_forces", "--stress_key=REF_stress",
              "--work_dir=/t/m0", "--device=cpu", "--save_cpu", "--error_table=PerAtomMAE"]
    tuned = [a.replace("=30", "=7").replace("=0.01", "=0.005") for a in HYPER_ARGV
             if a != "--ema"] + ["--swa"]
    scratch = train.member_command("/t/train.extxyz", "/t/m0", "member_0", 11, hyper)
    assert scratch == run + member + tuned
    finetune = train.member_command("/t/train.extxyz", "/t/m0", "member_0", 11, hyper,
                                    "/prev/member_0.model")
    assert finetune == run + member + ["--foundation_model=/prev/member_0.model",
                                       "--multiheads_finetuning=False"] + tuned[9:]
