"""Calibration: alpha of Eq. 3, Spearman, sparsification (paper Figs. 1, 2, 5)."""

from __future__ import annotations

import json
import os
from math import gamma, pi, sqrt

import numpy as np
import pytest
from ase import Atoms

from lammps_uq.science import calibrate, uncertainty


def test_spearman_and_ranks_by_hand():
    assert calibrate.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert calibrate.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    np.testing.assert_allclose(calibrate.ranks([5, 6, 7, 8, 7]), [1, 2, 3.5, 5, 3.5])
    # centred ranks (-2,-1,0,1,2) and (-2,-1,0.5,2,0.5): 8 / sqrt(10 * 9.5)
    assert calibrate.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(
        8 / np.sqrt(10 * 9.5))
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 6, 50), rng.normal(size=50)
    assert calibrate.spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b)[0], abs=1e-12)


def test_sparsification_by_hand():
    errors = np.array([4.0, 1.0, 3.0, 2.0])
    fractions = [0.0, 0.25, 0.5, 0.75]
    np.testing.assert_allclose(calibrate.sparsification(errors, errors, fractions),
                               [2.5, 2.0, 1.5, 1.0])
    # ordered by an uncertainty that ranks them backwards: the largest error is kept longest
    np.testing.assert_allclose(calibrate.sparsification(errors, -errors, fractions),
                               [2.5, 3.0, 3.5, 4.0])


def variance_only_frames(n_models: int, n_frames: int = 30, n_atoms: int = 60, seed: int = 0):
    """Paper section II.B: a perfect model with variance error only; sigma varies per frame."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        sigma = rng.uniform(0.05, 0.5)
        atoms = Atoms("H" * n_atoms, positions=rng.uniform(0, 10, (n_atoms, 3)), cell=[10] * 3,
                      pbc=True)
        reference = rng.normal(size=(n_atoms, 3))
        comm = reference + rng.normal(scale=sigma, size=(n_models, n_atoms, 3))
        frames.append((atoms, comm, reference))
    return frames


def pooled(frames, rcuts=(2.0,)):
    levels = [calibrate.frame_levels(a, c, r, rcuts) for a, c, r in frames]
    return {name: (np.concatenate([lv[name][0] for lv in levels]),
                   np.concatenate([lv[name][1] for lv in levels])) for name in levels[0]}


def test_alpha_of_a_variance_only_committee_is_eq3():
    """MAE of the mean = sqrt(2/(pi N_C)) sigma and E[s] = c4(N_C) sigma, so alpha = default/c4."""
    n_models = 10
    result = calibrate.fit(pooled(variance_only_frames(n_models)), n_models)
    c4 = sqrt(2 / (n_models - 1)) * gamma(n_models / 2) / gamma((n_models - 1) / 2)
    expected = 2 / sqrt(2 * pi * n_models) / c4
    assert result["alpha_default"] == pytest.approx(uncertainty.default_alpha(n_models))
    for name in ("components", "atoms", "structures"):
        assert result["levels"][name]["alpha"] == pytest.approx(expected, rel=0.03), name


def test_aggregation_makes_error_and_uncertainty_correlate():
    """Paper Fig. 1: single components hardly correlate, structure averages do."""
    result = calibrate.fit(pooled(variance_only_frames(5)), 5)
    rho = {name: row["spearman"] for name, row in result["levels"].items()}
    assert rho["components"] < 0.5
    assert rho["structures"] > 0.9
    assert rho["atoms"] < rho["local 2"] < rho["structures"]


def test_fitted_alpha_interpolates_the_recorded_radii(tmp_path):
    cal = {"alpha_local": {"1": 0.4, "3": 0.8}}
    assert calibrate.fitted_alpha(cal, 2.0) == pytest.approx(0.6)
    assert calibrate.fitted_alpha(cal, 9.0) == pytest.approx(0.8)
    assert calibrate.fitted_alpha(None, 2.0) == 0.0
    model = tmp_path / "m.model"
    assert calibrate.read_calibration([str(model)]) is None
    (tmp_path / "calibration.json").write_text("{not json")
    with pytest.raises(calibrate.InputError, match="calibration.json: cannot read"):
        calibrate.read_calibration([str(model)])
    (tmp_path / "calibration.json").write_text(json.dumps(cal))
    assert calibrate.read_calibration([str(model)]) == cal


def test_reference_forces_need_labels():
    atoms = Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]])
    with pytest.raises(calibrate.InputError, match="no reference forces"):
        calibrate.reference_forces(atoms)
    atoms.arrays["REF_forces"] = np.ones((2, 3))
    np.testing.assert_array_equal(calibrate.reference_forces(atoms), np.ones((2, 3)))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A random 3-member committee and water frames labelled by a fourth random model."""
    if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
        pytest.importorskip("mace")
    import ase.io
    from mace.calculators import MACECalculator

    from lammps_uq import testing

    folder = tmp_path_factory.mktemp("calibrate")
    tiny = dict(hidden_irreps="8x0e + 8x1o", max_ell=1, correlation=1, r_max=3.5)
    paths = testing.write_committee(folder / "models", [1, 8], n_models=3, **tiny)
    import torch

    torch.save(testing.random_mace(17, [1, 8], **tiny), folder / "truth.model")  # not a member
    truth = MACECalculator(model_paths=str(folder / "truth.model"), device="cpu",
                           default_dtype="float64")
    frames = []
    for seed in range(4):
        atoms = testing.water_box(8, seed=seed)
        atoms.calc = truth
        atoms.arrays["REF_forces"] = atoms.get_forces().copy()
        atoms.calc = None
        frames.append(atoms)
    ase.io.write(folder / "frames.extxyz", frames)
    return folder, paths, frames


def test_cli_calibrate_matches_member_calculators(labelled, tmp_path):
    """alpha of atoms and structures equals the ratio of means from MACECalculator forces."""
    from mace.calculators import MACECalculator

    from lammps_uq.cli import main

    folder, paths, frames = labelled
    plot = tmp_path / "calibration.png"
    assert main(["calibrate", str(folder / "frames.extxyz"), "--committee", *paths,
                 "--plot", str(plot)]) == 0
    result = json.loads((folder / "models" / "calibration.json").read_text())
    assert plot.stat().st_size > 10_000
    assert sorted(result["alpha_local"], key=float) == ["1", "2", "3", "4", "5"]
    members = [MACECalculator(model_paths=p, device="cpu", default_dtype="float64") for p in paths]
    e_atoms, s_atoms, e_frames, s_frames = [], [], [], []
    for atoms in frames:
        comm = np.array([m.get_forces(atoms.copy()) for m in members])
        e = np.abs(comm.mean(axis=0) - atoms.arrays["REF_forces"]).mean(axis=1)
        s = comm.std(axis=0, ddof=1).mean(axis=1)
        e_atoms.append(e), s_atoms.append(s), e_frames.append(e.mean()), s_frames.append(s.mean())
    e_atoms, s_atoms = np.concatenate(e_atoms), np.concatenate(s_atoms)
    assert result["alpha_atom"] == pytest.approx(e_atoms.mean() / s_atoms.mean(), rel=1e-8)
    assert result["alpha_structure"] == pytest.approx(np.mean(e_frames) / np.mean(s_frames),
                                                      rel=1e-8)


def test_cli_calibrate_errors(tmp_path, capsys):
    from lammps_uq.cli import main

    with pytest.raises(SystemExit):
        main(["calibrate", str(tmp_path / "missing.extxyz"), "--committee", "a", "b"])
    assert "missing.extxyz" in capsys.readouterr().err


@pytest.mark.lammps
def test_alpha_auto_uses_the_recorded_alpha(labelled, lammps_env, tmp_path):
    import helpers

    folder, paths, frames = labelled
    (folder / "models" / "calibration.json").write_text(
        json.dumps({"alpha_local": {"2": 0.5, "4": 0.9}}))
    data = tmp_path / "data.w"
    helpers.write_data(frames[0], data, elements=["O", "H"])
    fix = f"1 mace {folder}/models/*.model elements O H rcut 3.0 alpha auto"
    code, out = helpers.run_lmp(tmp_path, helpers.fix_script(str(data), fix), nprocs=2)
    assert code == 0, out
    assert helpers.printed(out, "UQVECTOR")[9] == pytest.approx(0.7)
    (folder / "models" / "calibration.json").unlink()
    code, out = helpers.run_lmp(tmp_path, helpers.fix_script(str(data), fix), nprocs=2)
    assert code != 0
    assert "Fix uq alpha auto: committee mace (3 models) records no fitted alpha" in out


def test_cli_calibrate_several_sets_fits_the_error_model(labelled, tmp_path, capsys):
    """Two labelled sets: their s_loc ranges, the error model per rcut and its held-out report."""
    import ase.io

    from lammps_uq.cli import main
    from lammps_uq.science import error_model

    folder, paths, frames = labelled
    ase.io.write(tmp_path / "a.extxyz", frames[:2])
    ase.io.write(tmp_path / "b.extxyz", frames[2:])
    assert main(["calibrate", str(tmp_path / "a.extxyz"), str(tmp_path / "b.extxyz"),
                 "--committee", *paths, "-o", str(tmp_path / "cal"), "--quantile", "0.8",
                 "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "a.extxyz: 2 frames, s_loc" in out and "b.extxyz: 2 frames, s_loc" in out
    result = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert result["alpha_atom"] > 0  # the old fields stay
    model = result["error_model"]
    assert model["q"] == 0.8 and sorted(model["local"], key=float) == ["1", "2", "3", "4", "5"]
    rows = [r for r in model["sets"] if r["level"] == "local 4"]
    assert [r["set"] for r in rows] == [str(tmp_path / "a.extxyz"), str(tmp_path / "b.extxyz")]
    assert max(r["s_max"] for r in rows) == pytest.approx(model["local"]["4"]["s_max"])
    # 4 frames: the form is fitted on all of them, and no bound nor held-out report can be had
    # (q = 0.8 needs 4 frames in the conformal half; the runs alternate between halves)
    assert model["local"]["4"]["bound_factor"] == 0.0
    assert model["local"]["4"]["bound_note"].startswith("no bound: q = 0.8 needs 4 frames")
    assert model["held_out"]["4"]["none"].startswith("no held-out report")
    assert "held out: no held-out report" in out and "no bound: q = 0.8" in out
    fitted = error_model.model_at(result, 4.0)
    assert fitted["alpha"] == pytest.approx(model["local"]["4"]["alpha"])


def test_cli_calibrate_refuses_a_quantile_outside_zero_one(labelled, tmp_path, capsys):
    from lammps_uq.cli import main

    folder, paths, frames = labelled
    with pytest.raises(SystemExit) as stop:
        main(["calibrate", str(folder / "frames.extxyz"), "--committee", *paths,
              "-o", str(tmp_path), "--quantile", "1.5"])
    assert stop.value.code == 2
    assert "--quantile: got 1.5; expected a number between 0 and 1" in capsys.readouterr().err


def test_offset_removed_mae_leaves_only_what_a_constant_offset_cannot_explain():
    # a constant per-atom offset (an E0s mismatch) is removed entirely
    assert calibrate.offset_removed_mae([0.1, 0.1, 0.1]) == pytest.approx(0.0)
    # [1, 2, 3] less their mean 2: |-1|, 0, |1| -> 2/3
    assert calibrate.offset_removed_mae([1.0, 2.0, 3.0]) == pytest.approx(2.0 / 3.0)
    assert np.isnan(calibrate.offset_removed_mae([]))
