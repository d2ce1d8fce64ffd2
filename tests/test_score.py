"""examples/active_learning/score.py: the Fig. 7 experiment's primary endpoint across seeds
(issue 22), on fabricated run folders whose hard-set errors are computed here independently."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest

from lammps_uq import testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "active_learning"))
import score  # noqa: E402

RCUT = 2.5


def results_tables():
    """examples/active_learning/results_tables.py, loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "results_tables", Path(score.HERE) / "results_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    return tables


def core_mae(models, hard) -> float:
    """Mean over cells of the mean |F_mean - REF| component within RCUT of atom 0 (brute
    force over the 27 periodic images)."""
    from lammps_uq.committee.calculator import CommitteeCalculator

    calc = CommitteeCalculator([str(m) for m in models], rcut=RCUT)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    errors = []
    for atoms in hard:
        calc.calculate(atoms)
        images = atoms.positions[None] + (shifts @ atoms.cell.array)[:, None]
        core = np.linalg.norm(images - atoms.positions[0], axis=2).min(axis=0) <= RCUT
        errors.append(np.abs(calc.results["forces"] - atoms.arrays["REF_forces"])[core].mean())
    return float(np.mean(errors))


BULK = {"A": (0.10, 0.050), "B": (0.07, -0.020)}  # force MAE, energy error per atom


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """3 seeds x 2 arms, iterations 0 and 1; committees A (models 1, 2) and B (1, 3)."""
    folder = tmp_path_factory.mktemp("score")
    models = testing.tiny_water_committee(folder / "models", 3)
    committees = {"A": models[:2], "B": [models[0], models[2]]}
    hard = []
    for k in range(3):
        atoms = testing.water_box(8, seed=k)
        atoms.arrays["REF_forces"] = np.random.default_rng(k).normal(0, 0.5, (len(atoms), 3))
        atoms.info.update(centre_index=0, hard_kind=["hot450", "proton", "hot450"][k])
        hard.append(atoms)
    ase.io.write(folder / "hard.extxyz", hard)
    # uncertainty gets B at iteration 1 for seeds 1 and 2, A for seed 3 (random: the other)
    plan = {1: ("B", "A"), 2: ("B", "A"), 3: ("A", "B")}
    for seed, (unc, rnd) in plan.items():
        for arm, name in zip(score.ARMS, (unc, rnd)):
            for k, which in ((0, "A"), (1, name)):
                target = folder / f"{arm}_seed{seed}" / f"iter_{k:03d}" / "committee"
                target.mkdir(parents=True)
                for m, path in enumerate(committees[which]):
                    shutil.copy(path, target / f"member_{m + 1}.model")
                bulk = BULK[which]  # the bulk test frames' errors of that committee
                (target.parent / "test_errors.json").write_text(json.dumps(
                    {"force_mae": [bulk[0], bulk[0] + 0.02],
                     "energy_signed_error_per_atom": [bulk[1], bulk[1] + 0.004]}))
    hard = ase.io.read(folder / "hard.extxyz", ":")  # as the script reads them
    expected = {name: core_mae(paths, hard) for name, paths in committees.items()}
    return folder, plan, expected


def hard_frames(folder):
    return ase.io.read(folder / "hard.extxyz", ":")


def test_primary_endpoint_across_seeds(run, capsys):
    folder, plan, expected = run
    assert score.main([str(folder), "--seeds", "1", "2", "3", "--hard",
                       str(folder / "hard.extxyz"), "--rcut", str(RCUT)]) == 0
    result = json.loads((folder / "score.json").read_text())
    for seed, (unc, rnd) in plan.items():
        curves = result["curves"][str(seed)]
        assert curves["uncertainty"]["0"] == pytest.approx(expected["A"], rel=1e-9)
        assert curves["uncertainty"]["1"] == pytest.approx(expected[unc], rel=1e-9)
        assert curves["random"]["1"] == pytest.approx(expected[rnd], rel=1e-9)
        assert result["paired_difference"][str(seed)] == pytest.approx(
            expected[unc] - expected[rnd], rel=1e-9)  # iteration 0 is not in the mean
    gap = expected["B"] - expected["A"]
    assert gap != 0
    d = np.array([gap, gap, -gap])
    stats = result["across_seeds"]
    assert stats["seeds"] == 3 and stats["mean"] == pytest.approx(d.mean())
    assert stats["sd"] == pytest.approx(d.std(ddof=1))
    assert stats["uncertainty_lower"] == int(np.sum(d < 0))
    from scipy.stats import binomtest, wilcoxon

    assert stats["wilcoxon_p_one_sided"] == pytest.approx(
        wilcoxon(d, alternative="less").pvalue)
    assert stats["sign_test_p_one_sided"] == pytest.approx(
        binomtest(int(np.sum(d < 0)), 3, 0.5, alternative="greater").pvalue)
    assert (folder / "score.png").stat().st_size > 10000
    bulk = result["bulk_test"]  # secondary: the bulk test frames, paired the same way
    for seed, (unc, rnd) in plan.items():
        assert bulk["force_mae_paired"]["per_seed"][str(seed)] == pytest.approx(
            BULK[unc][0] - BULK[rnd][0])
        assert bulk["energy_mae_offset_removed_paired"]["per_seed"][str(seed)] == pytest.approx(
            0.0, abs=1e-12)  # the two frames differ by 0.004 eV/atom in every committee
    assert bulk["curves"]["1"]["random"]["1"]["energy_mae"] == pytest.approx(
        BULK["A"][1] + 0.002)
    from lammps_uq.committee.evaluators.mace_committee import default_committee_dir

    shipped = sorted(str(p) for p in default_committee_dir().glob("member_*.model"))
    assert result["shipped_default"]["hard_core_mae"] == pytest.approx(
        core_mae(shipped, hard_frames(folder)), rel=1e-9)
    cached = json.loads((folder / "random_seed1" / "iter_001" / "hard_errors.json").read_text())
    assert cached["cells"] == 3 and set(cached["per_kind"]) == {"hot450", "proton"}
    capsys.readouterr()
    score.main([str(folder), "--seeds", "1", "--hard", str(folder / "hard.extxyz"),
                "--rcut", str(RCUT)])  # a rerun evaluates nothing again
    assert "hard-set core MAE" not in capsys.readouterr().out


def test_a_published_folder_is_scored_from_the_hard_errors_it_keeps(run, tmp_path):
    """A published arm keeps iter_KKK/hard_errors.json and test_errors.json, no committee;
    scoring it again (e.g. against a new shipped default) gives the same curves."""
    folder, plan, _ = run
    args = ["--seeds", "1", "2", "3", "--hard", str(folder / "hard.extxyz"), "--rcut", str(RCUT)]
    assert score.main([str(folder), *args]) == 0
    published = tmp_path / "published"
    for seed in plan:
        for arm in score.ARMS:
            shutil.copytree(folder / f"{arm}_seed{seed}", published / f"{arm}_seed{seed}",
                            ignore=shutil.ignore_patterns("committee"))
    assert not list(published.rglob("*.model"))
    assert score.main([str(published), *args]) == 0
    again, first = (json.loads((f / "score.json").read_text()) for f in (published, folder))
    assert again["curves"] == first["curves"] and again["across_seeds"] == first["across_seeds"]
    assert again["shipped_default"] == first["shipped_default"]


def test_shipped_hard_set_has_what_score_reads():
    hard = ase.io.read(Path(score.HERE) / "data" / "hard_set.extxyz", ":")
    assert len(hard) == 36
    for atoms in hard:
        assert atoms.get_chemical_symbols()[int(atoms.info["centre_index"])] == "O"
        assert "REF_forces" in atoms.arrays and atoms.info["hard_kind"]


def test_docs_tables_are_the_result_files(tmp_path):
    """docs/active_learning.md's replicated-run block is results_tables.py's rendering of
    examples/active_learning/results/ (issue 22: every number traceable to a file)."""
    tables = results_tables()
    page = tables.PAGE.read_text(encoding="utf-8")
    for run in (tables.RESULTS / "walkers",):  # the third design's block (issue 22)
        begin, end = tables.markers(run)
        assert page[page.index(begin):page.index(end) + len(end)] == tables.block(run)
    shown = page[page.index(tables.BEGIN):page.index(tables.END) + len(tables.END)]
    assert shown == tables.block()
    changed = tmp_path / "results"
    shutil.copytree(tables.RESULTS, changed,
                    ignore=shutil.ignore_patterns("*_seed*", "*design", "walkers"))
    for name in tables.RESULTS.glob("selection_check_seed*.json"):
        shutil.copy(name, changed / name.name)
    result = json.loads((changed / "score.json").read_text())
    result["paired_difference"]["3"] += 0.001
    (changed / "score.json").write_text(json.dumps(result))
    assert tables.block(changed) != shown


def test_mechanism_table_pools_the_cells_of_every_seed(tmp_path):
    """The decision rule's pooled row: medians over the cells of all seeds at an iteration."""
    tables = results_tables()

    def arm(errors):
        cells = [{"core_error": e, "s_loc_centre": e / 10} for e in errors]
        return {"n": len(cells), "cells": cells, "median_core_error": float(np.median(errors)),
                "median_s_loc_centre": float(np.median(errors)) / 10}

    for seed, unc, rnd in ((1, [3.0, 4.0, 5.0], [1.0, 1.0]), (2, [6.0, 7.0], [1.0, 2.0, 2.0])):
        row = {"iteration": 1, "ratio": np.median(unc) / np.median(rnd), "mannwhitney_p": 0.5,
               "uncertainty": arm(unc), "random": arm(rnd)}
        (tmp_path / f"selection_check_seed{seed}.json").write_text(
            json.dumps({"iterations": [row]}))
    rows = tables.mechanism_table(tmp_path, ["1", "2"])
    assert len(rows) == 2 + 2 + 1
    assert rows[-1].startswith("| pooled (1, 2) | 1 | 5 / 5 | 5.000 / 1.000 | 5.00 | "
                               "0.500 / 0.100 |")
    pooled = tables.pooled_row(1, [json.loads((tmp_path / f"selection_check_seed{s}.json")
                                              .read_text())["iterations"][0] for s in (1, 2)])
    assert 0 < pooled["mannwhitney_p"] < 0.01  # every pooled unc error above every rnd one


def test_early_picks_are_split_by_the_step_in_the_cell_id(tmp_path):
    tables = results_tables()
    unc = [{"cell_id": f"cell_{step}_7_0000{k}", "core_error": error}
           for k, (step, error) in enumerate([(10, 0.1), (30, 0.3), (35, 2.0), (200, 4.0),
                                              (115, 1.0)])]
    rnd = [{"cell_id": "cell_0_1_00000", "core_error": 0.2}]
    (tmp_path / "selection_check_seed1.json").write_text(json.dumps(
        {"iterations": [{"uncertainty": {"cells": unc}, "random": {"cells": rnd}}]}))
    line = tables.early_picks(tmp_path, ["1"])
    assert "30 steps of an exploration: 2 of 5, median core error 0.200 eV/Å; the later " \
           "ones 2.000; the random cells 0.200" in line
