"""fix uq ... alpha auto evaluates the calibrated error model like its Python twin (issues 16,
23): between calibrated radii the blend of their predictions, linear past s_max, and the count
of atoms past the calibration in f_ID[11]."""

import json
import os

import numpy as np
import pytest

CAL = {"alpha_local": {"2": 0.5, "4": 0.9},
       "error_model": {"form": "knee", "q": 0.9, "local": {
           "2": {"alpha": 0.8, "knee": 0.08, "b": 1.2, "bound_factor": 1.9, "bound_split": 0.08,
                 "bound_factor_high": 2.9, "s_max": 0.09},
           "4": {"alpha": 3.2, "knee": 0.10, "b": 1.6, "bound_factor": 2.3, "bound_split": 0.10,
                 "bound_factor_high": 4.1, "s_max": 0.10}}}}


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
        pytest.importorskip("mace")
    from lammps_uq import testing

    folder = tmp_path_factory.mktemp("error_model")
    tiny = dict(hidden_irreps="8x0e + 8x1o", max_ell=1, correlation=1, r_max=3.5)
    paths = testing.write_committee(folder / "models", [1, 8], n_models=3, **tiny)
    (folder / "models" / "calibration.json").write_text(json.dumps(CAL))
    return folder, paths, testing.water_box(12, seed=4)


def reference_s_local(atoms, paths, rcut):
    """s_loc from the members' own ASE calculators and a brute-force neighbour average."""
    from mace.calculators import MACECalculator

    forces = np.array([MACECalculator(model_paths=p, device="cpu", default_dtype="float64")
                       .get_forces(atoms.copy()) for p in paths])
    s = forces.std(axis=0, ddof=1).mean(axis=1)
    d = atoms.get_all_distances(mic=True)
    return np.array([s[row <= rcut].mean() for row in d])


SCRIPT = """units metal
atom_style atomic
boundary p p p
read_data {data}
pair_style zero 5.0
pair_coeff * *
neighbor 1.0 bin
fix mon all uq 1 mace {models} elements O H rcut 3.0 alpha auto
dump d all custom 1 dump.uq id type f_mon[2] f_mon[3] f_mon[4]
dump_modify d format float %.17g sort id
run 2
print "UQVECTOR $(f_mon[1]:%.17g) $(f_mon[2]:%.17g) $(f_mon[3]:%.17g) $(f_mon[4]:%.17g) $(f_mon[5]:%.17g) $(f_mon[6]:%.17g) $(f_mon[7]:%.17g) $(f_mon[8]:%.17g) $(f_mon[9]:%.17g) $(f_mon[10]:%.17g) $(f_mon[11]:%.17g)"
"""


@pytest.mark.lammps
@pytest.mark.parametrize("nprocs", [1, 2])
def test_fix_error_estimate_and_bound_equal_the_python_twin(committee, lammps_env, tmp_path,
                                                            nprocs):
    import helpers

    from lammps_uq.science import error_model

    folder, paths, frame = committee
    data = tmp_path / "data.w"
    atoms = helpers.write_data(frame, data, elements=["O", "H"])
    script = SCRIPT.format(data=data, models=" ".join(paths))
    code, out = helpers.run_lmp(tmp_path, script, nprocs=nprocs)
    assert code == 0, out
    table = helpers.read_dump(tmp_path / "dump.uq")[-1]
    s_loc, estimate, upper_bound = table[:, 2], table[:, 3], table[:, 4]
    np.testing.assert_allclose(s_loc, reference_s_local(atoms, paths, 3.0), rtol=1e-6)
    # rcut 3 between the recorded 2 and 4: half of each curve's prediction, by hand
    def curve(alpha, knee, b, s_max, s):
        law = lambda x: np.where(x > knee, alpha * knee * (x / knee) ** b, alpha * x)  # noqa
        return np.where(s > s_max, law(s_max) * s / s_max, law(s))

    lower, upper = curve(0.8, 0.08, 1.2, 0.09, s_loc), curve(3.2, 0.10, 1.6, 0.10, s_loc)
    expected = 0.5 * lower + 0.5 * upper
    assert (s_loc > 0.08).any() and (s_loc <= 0.08).any()  # both branches are checked
    assert (s_loc > 0.10).any()                             # and the linear tail
    np.testing.assert_allclose(estimate, expected, rtol=1e-12)
    bounds = (0.5 * np.where(s_loc > 0.08, 2.9, 1.9) * lower
              + 0.5 * np.where(s_loc > 0.10, 4.1, 2.3) * upper)
    np.testing.assert_allclose(upper_bound, bounds, rtol=1e-12)
    vector = helpers.printed(out, "UQVECTOR")
    assert vector[9] == pytest.approx(2.0)  # f_mon[10]: the blended alpha below the knees
    # f_mon[11]: atoms past the blended s_max 0.095 at the last check
    assert vector[10] == (s_loc > 0.095).sum() > 0
    twin = error_model.model_at(CAL, 3.0)
    np.testing.assert_allclose(estimate, error_model.predict(twin, s_loc), rtol=1e-12)
    np.testing.assert_allclose(upper_bound, error_model.bound(twin, s_loc), rtol=1e-12)
    # s_loc beyond the calibrated 0.095: one warning over the three checks, from rank 0 only
    assert s_loc.max() > 0.095
    assert out.count("exceeds the largest s_loc of the calibration (0.095)") == 1, out


@pytest.mark.lammps
def test_a_number_after_alpha_is_a_constant_with_no_bound(committee, lammps_env, tmp_path):
    import helpers

    folder, paths, frame = committee
    data = tmp_path / "data.w"
    helpers.write_data(frame, data, elements=["O", "H"])
    script = SCRIPT.format(data=data, models=" ".join(paths)).replace("alpha auto", "alpha 1.5")
    code, out = helpers.run_lmp(tmp_path, script, nprocs=2)
    assert code == 0, out
    table = helpers.read_dump(tmp_path / "dump.uq")[-1]
    np.testing.assert_allclose(table[:, 3], 1.5 * table[:, 2], rtol=1e-15)
    np.testing.assert_array_equal(table[:, 4], 0.0)
    assert "exceeds the largest s_loc" not in out
    assert helpers.printed(out, "UQVECTOR")[10] == 0  # no calibration: nothing past it
