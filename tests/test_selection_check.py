"""examples/active_learning/selection_check.py: core errors of the committee that chose the cells.

Two fake work dirs (the layout of ``lammps-uq learn``) whose labelled cells have reference
forces = the committee mean + a known offset vector on the atoms within rcut of the centre
(and a large one on the rest, which must not count), so every core error is known by hand.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "active_learning" / "selection_check.py"
RCUT = 2.5  # Å: below half the 6.2 Å box of 8 molecules, so the core is a strict subset
# per iteration and arm: the mean absolute offset component of each cell's core (eV/Å)
OFFSETS = {1: {"uncertainty": [1.0, 1.1, 1.2, 1.3, 1.4], "random": [0.1, 0.2, 0.3, 0.4, 0.5]},
           2: {"uncertainty": [0.30, 0.32, 0.34], "random": [0.28, 0.31, 0.35]}}
DIRECTION = np.array([1.0, -2.0, 3.0]) / 2.0  # mean |component| = 1
OUTSIDE = np.array([7.0, 7.0, 7.0])  # the error off the core: must not count


def load_script():
    spec = importlib.util.spec_from_file_location("selection_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def brute_core(atoms, centre: int, rcut: float) -> np.ndarray:
    """Atoms within rcut of the centre over the 27 nearest images (independent of ASE's mic)."""
    best = np.full(len(atoms), np.inf)
    for shift in itertools.product((-1, 0, 1), repeat=3):
        vectors = atoms.positions - atoms.positions[centre] + np.array(shift) @ atoms.cell.array
        best = np.minimum(best, np.linalg.norm(vectors, axis=1))
    return best <= rcut


def write_iteration(folder: Path, committee: list[str], offsets: list[float], seed: int,
                    centre_in_labelled: bool = True) -> list[dict]:
    """Cells and labelled.extxyz of one iteration; the expected values of every cell."""
    import ase.io

    from lammps_uq.committee.calculator import CommitteeCalculator
    from lammps_uq.testing import water_box

    calc = CommitteeCalculator(committee, rcut=RCUT)
    (folder / "cells").mkdir(parents=True)
    frames, expected = [], []
    for j, offset in enumerate(offsets):
        cell = water_box(8, seed=seed + j)
        cell.info["carve_centre_index"] = centre = (5 * j + seed) % len(cell)
        path = folder / "cells" / f"cell_{j:03d}.extxyz"
        ase.io.write(path, cell, format="extxyz")
        atoms = ase.io.read(path, 0)  # the positions as the check reads them
        calc.calculate(atoms, ["energy", "forces"])
        core = brute_core(atoms, centre, RCUT)
        assert 1 < core.sum() < len(atoms)
        ref = calc.results["forces"] + np.where(core[:, None], offset * DIRECTION, OUTSIDE)
        atoms.arrays["REF_forces"] = ref
        atoms.info.update(REF_energy=-1.0, cell_id=path.stem)
        if not centre_in_labelled:  # read from cells/cell_*.extxyz instead
            del atoms.info["carve_centre_index"]
        frames.append(atoms)
        expected.append({"cell_id": path.stem, "core_error": offset, "natoms_core": int(core.sum()),
                         "s_loc_centre": float(calc.results["s_local"][centre])})
    ase.io.write(folder / "labelled.extxyz", frames, format="extxyz")
    return expected


def put_committee(source: list[str], folder: Path) -> list[str]:
    folder.mkdir(parents=True)
    return [shutil.copy(path, folder / Path(path).name) for path in source]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Both arms (iterations 0-2) written, the check run once: (dirs, expected, out, err, json)."""
    from lammps_uq.testing import tiny_water_committee

    root = tmp_path_factory.mktemp("selection")
    two = tiny_water_committee(root / "two", 2)  # iteration 0 of both arms
    three = tiny_water_committee(root / "three", 3)  # the uncertainty arm's iteration 1
    dirs = {arm: root / f"{arm}_seed1" for arm in ("uncertainty", "random")}
    expected = {}
    for a, (arm, work) in enumerate(dirs.items()):
        committees = [put_committee(two, work / "iter_000" / "committee"),
                      put_committee(three if arm == "uncertainty" else two,
                                    work / "iter_001" / "committee")]
        for k in (1, 2):
            folder = work / f"iter_{k:03d}"
            (folder / "provenance.json").parent.mkdir(exist_ok=True)
            (folder / "provenance.json").write_text(json.dumps({"selection": arm}))
            expected[k, arm] = write_iteration(folder, committees[k - 1], OFFSETS[k][arm],
                                               seed=100 * k + 10 * a,
                                               centre_in_labelled=(k, arm) != (1, "random"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert load_script().main([str(dirs["uncertainty"]), str(dirs["random"]),
                                   "--rcut", str(RCUT)]) == 0
    table = json.loads((dirs["uncertainty"] / "selection_check.json").read_text())
    return dirs, expected, out.getvalue(), err.getvalue(), table


def test_per_cell_core_error_and_centre_s_loc(run):
    _, expected, _, err, table = run
    rows = {row["iteration"]: row for row in table["iterations"]}
    assert sorted(rows) == [1, 2]
    for (k, arm), cells in expected.items():
        got = rows[k][arm]["cells"]
        assert [c["cell_id"] for c in got] == [c["cell_id"] for c in cells]
        for have, want in zip(got, cells):
            assert have["core_error"] == pytest.approx(want["core_error"], abs=1e-8)
            assert have["natoms_core"] == want["natoms_core"]
            assert have["s_loc_centre"] == pytest.approx(want["s_loc_centre"], rel=1e-10)
    progress = [line for line in err.splitlines() if "core error" in line]
    assert len(progress) == sum(len(c) for c in expected.values())


def test_medians_ratio_and_mann_whitney(run):
    from scipy.stats import mannwhitneyu

    _, _, _, _, table = run
    one, two = table["iterations"]
    assert one["uncertainty"]["median_core_error"] == pytest.approx(1.2, abs=1e-8)
    assert one["random"]["median_core_error"] == pytest.approx(0.3, abs=1e-8)
    assert one["ratio"] == pytest.approx(4.0, abs=1e-7)
    assert one["mannwhitney_p"] == pytest.approx(1 / 252)  # exact: all 5 above all 5
    assert one["mannwhitney_p"] < 0.05 and one["reaches_threshold"]
    assert one["uncertainty"]["n"] == one["random"]["n"] == 5
    assert one["same_committee"] and not two["same_committee"]  # iteration 0 is shared
    assert two["ratio"] == pytest.approx(0.32 / 0.31, abs=1e-7)
    assert not two["reaches_threshold"]
    p = mannwhitneyu(OFFSETS[2]["uncertainty"], OFFSETS[2]["random"], alternative="greater")
    assert two["mannwhitney_p"] == pytest.approx(p.pvalue)
    assert two["mannwhitney_p"] > 0.05
    medians = [np.median([c["s_loc_centre"] for c in one[arm]["cells"]]) for arm in
               ("uncertainty", "random")]
    assert [one[arm]["median_s_loc_centre"] for arm in ("uncertainty", "random")] == medians


def test_json_holds_the_printed_table_and_the_rule(run):
    _, _, out, _, table = run
    assert out.splitlines() == table["table"]
    assert table["rcut"] == RCUT and "1.5" in table["decision_rule"]
    assert "mean over the core atoms" in table["error_metric"]
    for row in table["iterations"]:
        line = next(x for x in table["table"] if x.split()[:1] == [str(row["iteration"])])
        for value in (row["uncertainty"]["median_core_error"], row["random"]["median_core_error"],
                      row["uncertainty"]["median_s_loc_centre"]):
            assert f"{value:.4f}" in line
        assert f"{row['ratio']:.3f}" in line and f"{row['mannwhitney_p']:.2g}" in line
    assert "fix the selection before spending hours on training" in out
    assert "iteration 1: ratio 4.000 >= 1.5" in out
    assert "iteration 2: ratio 1.032 < 1.5" in out and "NOT clearly worse" in out
    assert "same (iteration 0: cleanest)" in out


@pytest.mark.parametrize("case", ["random lacks the iterations", "swapped", "no committee",
                                  "not a dir"])
def test_mismatched_dirs_are_refused_in_one_line(run, tmp_path, case):
    dirs, _, _, _, _ = run
    unc, rnd = dirs["uncertainty"], dirs["random"]
    named = rnd
    if case == "random lacks the iterations":
        rnd = named = tmp_path / "random_seed1"
        shutil.copytree(dirs["random"] / "iter_000", rnd / "iter_000")
    elif case == "swapped":
        unc, rnd, named = rnd, unc, rnd
    elif case == "no committee":
        unc = tmp_path / "uncertainty_seed1"
        shutil.copytree(dirs["uncertainty"] / "iter_001", unc / "iter_001")
        named = unc / "iter_000" / "committee"
    else:
        rnd = named = tmp_path / "nothing"
    with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(io.StringIO()):
        load_script().main([str(unc), str(rnd), "-o", str(tmp_path / "t.json")])
    message = str(info.value.code)
    assert message.startswith("selection_check: ") and "\n" not in message
    assert str(named) in message
    assert not (tmp_path / "t.json").exists()
