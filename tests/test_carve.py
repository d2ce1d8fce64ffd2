"""Carving: whole molecules, the parent's density, a centred cube, relaxation, files."""

from __future__ import annotations

import numpy as np
import pytest
from ase.geometry import find_mic

from lammps_uq import testing
from lammps_uq.extract.carve import CarveOptions, carve, relax_border
from lammps_uq.errors import InputError
from lammps_uq.extract.molecules import find_molecules


@pytest.fixture(scope="module")
def water():
    """Liquid water: 216 molecules at 0.86 g/cm3 after 0.5 ps of SPC/Fw NVT at 350 K."""
    import helpers

    if helpers.lammps_problem():
        pytest.skip(helpers.lammps_problem())
    from lammps_uq.committee.default.water import spcfw_frames

    atoms = spcfw_frames(216, density=0.86, temperature=350.0, steps=1000, every=1000, seed=9)[-1]
    assert "mol" in atoms.arrays
    return atoms


def carved(water, **kw):
    centre = 3 * 100  # an oxygen
    return carve(water, centre, CarveOptions(**kw), parent_volume=water.get_volume(),
                 parent_natoms=len(water)), centre


def assert_whole_waters(cell, count, water):
    """Molecules of the parent, each O + 2 H, whole (no minimum image needed) in the cell."""
    labels = find_molecules(water).labels[cell.arrays["parent_index"]]
    assert len(set(labels)) == count
    for m in set(labels):
        members = np.nonzero(labels == m)[0]
        assert sorted(cell.get_chemical_symbols()[k] for k in members) == ["H", "H", "O"]
        oxygen = members[cell.numbers[members] == 8][0]
        for h in members[cell.numbers[members] == 1]:
            assert np.linalg.norm(cell.positions[h] - cell.positions[oxygen]) < 1.25


def test_64_molecules_paper_recipe(water):
    cell, centre = carved(water, molecules=64)
    assert len(cell) == 192
    assert_whole_waters(cell, 64, water)
    length = (water.get_volume() * 192 / len(water)) ** (1 / 3)
    np.testing.assert_allclose(cell.cell.array, np.eye(3) * length, atol=1e-12)
    middle = cell.positions[cell.info["carve_centre_index"]]
    np.testing.assert_allclose(middle, [length / 2] * 3, atol=1e-12)
    assert cell.arrays["parent_id"][cell.info["carve_centre_index"]] == centre + 1
    # the 63 others are the nearest molecules to the centre
    mols = find_molecules(water)
    _, dist = find_mic(mols.centres() - water.positions[centre], water.cell, True)
    chosen = set(mols.labels[cell.arrays["parent_index"]])
    assert max(dist[list(chosen)]) <= np.sort(dist)[63] + 1e-9


def test_radius_takes_whole_molecules(water):
    cell, centre = carved(water, radius=5.0)
    _, dist = find_mic(water.positions - water.positions[centre], water.cell, True)
    inside = set(np.nonzero(dist <= 5.0)[0])
    assert inside <= set(cell.arrays["parent_index"])
    assert_whole_waters(cell, len(cell) // 3, water)


def region_frame(water, centre: int, region: float):
    """What fix uq writes: the atoms within region of the centre, unwrapped, non-periodic."""
    from ase import Atoms

    d, dist = find_mic(water.positions - water.positions[centre], water.cell, True)
    inside = np.nonzero(dist <= region)[0]
    frame = Atoms(numbers=water.numbers[inside], positions=water.positions[centre] + d[inside])
    frame.arrays["id"] = inside + 1
    frame.info.update(centre_id=centre + 1, region=region, parent_natoms=len(water),
                      parent_cell=water.cell.array.ravel(),
                      parent_pbc=np.array([True, True, True]))
    return frame


def test_region_frame_rim_fragments_are_never_carved(water):
    from lammps_uq.extract.carve_io import carve_one

    frame = region_frame(water, 3 * 100, 7.0)
    assert len(frame) % 3 != 0  # the rim cuts molecules: the frame holds fragments
    cell = carve_one(frame, CarveOptions(molecules=16), None, None, {})
    assert len(cell) == 48
    cell.arrays["parent_index"] = cell.arrays["parent_id"] - 1  # the water frame's indices
    assert_whole_waters(cell, 16, water)
    with pytest.raises(InputError, match="holds only 1[0-9] molecules known to be whole"):
        carve_one(frame, CarveOptions(molecules=24), None, None, {})
    with pytest.raises(InputError, match="reach the rim"):
        carve_one(frame, CarveOptions(radius=6.5), None, None, {})


def test_relaxation_moves_only_the_border(water):
    from ase.calculators.lj import LennardJones

    cell, _ = carved(water, molecules=32)
    before = cell.positions.copy()
    relax_border(cell, LennardJones(sigma=1.0, epsilon=0.01, rc=3.0), CarveOptions(molecules=32))
    core = cell.arrays["core"]
    assert core.sum() > 0 and (~core).sum() > 0
    np.testing.assert_allclose(cell.positions[core], before[core], rtol=0, atol=1e-12)
    assert np.abs(cell.positions[~core] - before[~core]).max() > 1e-4
    np.testing.assert_allclose(cell.cell.array, np.eye(3) * cell.info["carve_length"], atol=1e-12)


def test_cluster_and_dft_formats_round_trip(water, tmp_path):
    import ase.io

    from lammps_uq.extract.carve_io import write_dft_input

    cluster, _ = carved(water, molecules=16, cluster=True)
    assert not cluster.pbc.any()
    ase.io.write(tmp_path / "c.extxyz", cluster)
    np.testing.assert_allclose(ase.io.read(tmp_path / "c.extxyz").positions, cluster.positions,
                               atol=1e-7)
    cell, _ = carved(water, molecules=16)
    for fmt, name, ase_format in (("vasp", "POSCAR", "vasp"),
                                  ("espresso", "espresso.pwi", "espresso-in")):
        write_dft_input(cell, tmp_path / fmt, fmt)
        back = ase.io.read(tmp_path / fmt / name, format=ase_format)
        assert back.get_chemical_formula() == cell.get_chemical_formula()
        np.testing.assert_allclose(back.cell.array, cell.cell.array, atol=1e-5)


def test_cli_writes_idempotently_and_reports_errors(water, tmp_path, capsys):
    import ase.io

    from lammps_uq.cli import main

    frame = water.copy()
    frame.info.update(step=100, centre_id=301)
    ase.io.write(tmp_path / "regions.extxyz", [frame, frame])
    args = ["carve", str(tmp_path / "regions.extxyz"), "-o", str(tmp_path / "out"),
            "--molecules", "8", "--no-relax", "--format", "vasp"]
    assert main(args) == 0
    assert "2 cells written" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 cells written, 2 already there" in capsys.readouterr().out
    assert len(list((tmp_path / "out").glob("*/POSCAR"))) == 2

    with pytest.raises(SystemExit):
        main(["carve", str(tmp_path / "missing.extxyz"), "-o", str(tmp_path / "x")])
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(args[:6] + ["--format", "gaussian"])
    assert "expected one of vasp, espresso" in capsys.readouterr().err
    plain = water.copy()
    ase.io.write(tmp_path / "plain.extxyz", plain)
    assert main(["carve", str(tmp_path / "plain.extxyz"), "-o", str(tmp_path / "p"),
                 "--no-relax"]) == 1
    assert "no centre information" in capsys.readouterr().err
    assert main(["carve", str(tmp_path / "plain.extxyz"), "-o", str(tmp_path / "q"),
                 "--no-relax", "--centre-index", "0", "--molecules", "500"]) == 1
    assert "the frame holds only 216 molecules" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value,expected", [
    ("--shrink", "0", "expected a positive number"),
    ("--bfgs-steps", "-1", "expected a positive number"),
    ("--fixed-fraction", "1.5", "expected a number in [0, 1]"),
    ("--contact", "-0.5", "expected a number >= 0"),
])
def test_cli_rejects_bad_relaxation_options(flag, value, expected, tmp_path, capsys):
    from lammps_uq import testing
    from lammps_uq.cli import main

    import ase.io

    ase.io.write(tmp_path / "f.extxyz", testing.water_box(8, seed=1))
    with pytest.raises(SystemExit):
        main(["carve", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "o"), "--centre-index",
              "0", "--no-relax", flag, value])
    err = capsys.readouterr().err
    assert f"carve: {flag}: got {float(value) if flag != '--bfgs-steps' else value}" in err
    assert expected in err
    assert not (tmp_path / "o").exists()


def insitu_script(data, evaluator, carve_words) -> str:
    return f"""units metal
atom_style atomic
read_data {data}
pair_style zero 4.0
pair_coeff * *
neighbor 1.0 bin
comm_modify cutoff 10.0
fix mon all uq 5 {evaluator} elements O H threshold 0.01 max_centres 2 region 6.5 file r.extxyz carve {carve_words}
run 0
"""


@pytest.mark.lammps
@pytest.mark.parametrize("relax", [False, True], ids=["no-relax", "relax-mace"])
def test_insitu_carving_writes_cells_while_running(relax, lammps_env, tmp_path):
    import ase.io

    box = testing.water_box(216, seed=2)
    lammps_env.write_data(box, tmp_path / "data.w", ["O", "H"])
    if relax:
        testing.write_committee(tmp_path / "models", [1, 8], n_models=2, hidden_irreps="8x0e",
                                max_ell=1, correlation=1, r_max=3.5)
        evaluator, words = f"mace {tmp_path}/models/*.model", "cells --molecules 8"
    else:
        evaluator = "python lammps_uq.committee.evaluators.analytic:lj_committee"
        words = "cells --molecules 8 --no-relax --format vasp"
    rc, output = lammps_env.run_lmp(tmp_path, insitu_script(tmp_path / "data.w", evaluator,
                                                             words), 2)
    assert rc == 0, output[-3000:]
    regions = ase.io.read(tmp_path / "r.extxyz", ":")
    cells = sorted((tmp_path / "cells").glob("*.extxyz"))
    assert len(cells) == len(regions) == 2
    for path in cells:
        cell = ase.io.read(path)
        assert len(cell) == 24 and cell.info["relaxed"] == relax
        assert cell.info["centre_id"] in [r.info["centre_id"] for r in regions]
    assert len(list((tmp_path / "cells").glob("*/POSCAR"))) == (0 if relax else 2)


@pytest.mark.lammps
def test_insitu_relaxation_needs_a_committee(lammps_env, tmp_path):
    lammps_env.write_data(testing.water_box(216, seed=2), tmp_path / "data.w", ["O", "H"])
    text = insitu_script(tmp_path / "data.w", "python lammps_uq.committee.evaluators.analytic:lj_committee",
                         "cells --molecules 8")
    rc, output = lammps_env.run_lmp(tmp_path, text, 1)
    assert rc != 0 and "border relaxation needs a MACE committee" in output


def test_bond_graph_finds_the_lammps_molecules(water):
    plain = water.copy()
    del plain.arrays["mol"]
    graph = find_molecules(plain)
    topology = find_molecules(water)
    assert graph.count == topology.count == 216
    # same partition: each topology molecule maps to exactly one graph molecule
    pairs = set(zip(topology.labels.tolist(), graph.labels.tolist()))
    assert len(pairs) == 216
    np.testing.assert_allclose(graph.whole, topology.whole, atol=1e-9)


def test_a_molecule_with_a_stretched_bond_across_the_box_edge_stays_whole():
    """A LAMMPS molecule whose O-H is stretched past the bond criterion (1.6 Å) across the
    periodic edge: the stray H is placed at its nearest image, not left wrapped (issue 22's
    hard set found it 2.32 Å away after carving)."""
    from ase import Atoms

    water = Atoms("OHH", positions=[[0.3, 5.0, 5.0], [8.7, 5.0, 5.0], [0.3, 5.96, 5.0]],
                  cell=[10.0, 10.0, 10.0], pbc=True)  # H 1.6 Å from O through x = 0
    water.arrays["mol"] = np.array([1, 1, 1])
    whole = find_molecules(water).whole
    assert np.linalg.norm(whole[1] - whole[0]) == pytest.approx(1.6)
    assert np.linalg.norm(whole[2] - whole[0]) == pytest.approx(0.96)
