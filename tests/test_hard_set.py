"""The hard test set of the Fig. 7 loop (examples/active_learning/hard_set.py) and its shipped
files: consistent with their provenance, seeds the calibration never used, the centre O in the
middle of each cell, the anomalies in the fixed core, no border clashes."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "active_learning" / "hard_set.py"
DATA = ROOT / "examples" / "active_learning" / "data"


def load_script():
    spec = importlib.util.spec_from_file_location("hard_set", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped():
    import ase.io

    frames = ase.io.read(DATA / "hard_set.extxyz", ":")
    return frames, json.loads((DATA / "hard_set.json").read_text())


def check_frames(frames, provenance):
    """What every hard set, shipped or tiny, must satisfy."""
    assert len(frames) == provenance["frames"] > 0
    assert provenance["xtb"]["method"] == "GFN2-xTB" and provenance["xtb_same_as_train_default"]
    assert Counter(f.info["hard_kind"] for f in frames) == provenance["counts"]
    states = {s["kind"]: s for s in provenance["states"]}
    for k, atoms in enumerate(frames):
        info = atoms.info
        assert len(atoms) == 96 and atoms.get_chemical_formula() == "H64O32", k
        assert np.all(atoms.pbc) and np.allclose(atoms.cell.array, np.diag(atoms.cell.lengths()))
        assert np.isfinite(info["REF_energy"]), k
        forces = atoms.arrays["REF_forces"]
        assert forces.shape == (96, 3) and np.all(np.isfinite(forces)), k
        assert np.shape(info["REF_stress"]) == (6,) and np.all(np.isfinite(info["REF_stress"]))
        assert info["hard_plan"] == provenance["plan"]
        assert info["border"] == provenance["cells"]["border"]
        if info["hard_part"] == "a":
            state = states[info["hard_kind"]]
            assert info["md_seed"] in state["md_seeds"], k
            assert (info["density"], info["temperature"]) == (state["density"],
                                                               state["temperature"])
            assert info["rng_seed"] == provenance["rng_seeds"]["a"]
            assert "hard_strength" not in info and not atoms.arrays["anomaly"].any()
        else:
            assert info["md_seed"] in provenance["anomaly_md"]["md_seeds"], k
            assert [info["hard_kind"], info["hard_strength"]] in provenance["anomalies"], k
            assert info["rng_seed"] == provenance["rng_seeds"]["b"]
            assert atoms.arrays["anomaly"].any(), k


def check_centres(frames):
    """The recorded centre is an O in the middle of the cell; the perturbed atoms are held
    fixed near it; every close contact between molecules is one the parent frame had (not
    made by the new periodic boundary, nor by the border relaxation)."""
    for k, atoms in enumerate(frames):
        c = int(atoms.info["centre_index"])
        assert atoms.numbers[c] == 8, k
        assert np.allclose(atoms.positions[c], atoms.cell.lengths() / 2, atol=1e-6), k
        assert atoms.arrays["core"][c] and atoms.arrays["fixed"][c]
        moved = np.flatnonzero(atoms.arrays["anomaly"])
        assert np.all(atoms.arrays["fixed"][moved]), k
        if len(moved):
            assert atoms.get_distances(c, moved, mic=True).max() < 6.0, k
        near = atoms.get_all_distances(mic=True)
        molecule = atoms.arrays["molecule"]
        i, j = np.nonzero((near < 1.2) & (molecule[:, None] != molecule[None, :]))
        parent = np.linalg.norm(atoms.positions[i] - atoms.positions[j], axis=1)
        fixed = atoms.arrays["fixed"]
        assert np.allclose(parent, near[i, j]) and np.all(fixed[i] & fixed[j]), (k, i, j)
        if not len(moved):  # carve --no-relax leaves pairs under 1 Å; liquid has none < 1.2
            assert len(i) == 0, (k, near[i, j])
        assert np.linalg.norm(atoms.arrays["REF_forces"], axis=1).max() < 100.0, k


def test_shipped_set_matches_its_provenance(shipped):
    frames, provenance = shipped
    check_frames(frames, provenance)
    assert provenance["plan"] == "full"
    assert hashlib.sha256((DATA / "hard_set.extxyz").read_bytes()).hexdigest() \
        == provenance["sha256"]
    for kind, row in provenance["summary"].items():
        chosen = [f for f in frames if f.info["hard_kind"] == kind]
        energies = [f.info["REF_energy"] / 96 for f in chosen]
        assert row["count"] == len(chosen)
        assert row["energy_per_atom_eV"] == pytest.approx([min(energies), max(energies)],
                                                          abs=1e-5)
    # every kind of both parts, every anomaly kind at least twice
    assert {"hot450", "hot500", "compressed"} <= set(provenance["counts"])
    assert all(provenance["counts"][kind] >= 2 for kind in ("hot", "squeeze", "proton",
                                                            "stretch"))
    assert sum((DATA / name).stat().st_size for name in ("hard_set.extxyz",
                                                         "hard_set.json")) < 5e6


def test_seeds_are_not_the_calibrations(shipped):
    from lammps_uq.committee.default import anomalies

    frames, provenance = shipped
    md_seeds = set(provenance["anomaly_md"]["md_seeds"])
    md_seeds |= {s for state in provenance["states"] for s in state["md_seeds"]}
    assert md_seeds and not md_seeds & set(anomalies.MD_SEEDS)
    assert {f.info["md_seed"] for f in frames} <= md_seeds
    default = inspect.signature(anomalies.anomaly_frames).parameters["seed"].default
    assert provenance["rng_seeds"]["b"] != default
    assert {f.info["rng_seed"] for f in frames} == set(provenance["rng_seeds"].values())


def test_centres_in_the_core_and_no_border_clash(shipped):
    check_centres(shipped[0])


def test_script_plan_matches_the_shipped_counts(shipped):
    hard_set = load_script()
    _, provenance = shipped
    kinds = Counter(kind for kind, _ in hard_set.expected(hard_set.plan()))
    assert kinds == provenance["counts"]
    tiny = Counter(run["part"] for run in hard_set.plan(tiny=True) for _ in range(run["cells"]))
    assert tiny == {"a": 2, "b": 2}


@pytest.mark.slow
def test_tiny_end_to_end_and_resume(tmp_path, lammps_env, capsys):
    """--tiny makes 4 labelled cells; a torn last frame is cut and remade identically; a
    rerun with another plan is refused."""
    import ase.io

    pytest.importorskip("tblite")
    hard_set = load_script()
    assert hard_set.main(["--out", str(tmp_path), "--tiny"]) == 0
    path = tmp_path / "hard_set.extxyz"
    first = path.read_bytes()
    frames = ase.io.read(path, ":")
    provenance = json.loads((tmp_path / "hard_set.json").read_text())
    check_frames(frames, provenance)
    check_centres(frames)
    assert len(frames) == 4 and provenance["plan"] == "tiny"
    path.write_bytes(first[: len(first) - 3000])  # torn inside the last frame
    capsys.readouterr()
    assert hard_set.main(["--out", str(tmp_path), "--tiny"]) == 0
    assert "1 cells labelled now" in capsys.readouterr().out
    assert path.read_bytes() == first
    with pytest.raises(SystemExit, match="frame 0 of the output"):
        hard_set.main(["--out", str(tmp_path)])
