"""The s-dependent error model and conformal bound (issue 16) against hand-derived values."""

import math

import numpy as np
import pytest

from lammps_uq.errors import InputError
from lammps_uq.science import error_model as em


def clusters(s_values, e_values, copies=5):
    """``copies`` neighbourhoods at each (s, e): bin means are then exactly (s, e)."""
    return np.repeat(e_values, copies).astype(float), np.repeat(s_values, copies).astype(float)


def test_power_law_slope_and_scale_by_hand():
    # log10 s = 0, 1, 2 and log10 mean e = 0, 1, 3: OLS slope = ((-1)(-4/3) + (1)(5/3)) / 2 = 1.5
    e, s = clusters([1.0, 10.0, 100.0], [1.0, 10.0, 1000.0])
    a, b = em.fit_power(e, s)
    assert b == pytest.approx(1.5, rel=1e-12)
    # sum e = a sum s^b: a = (1 + 10 + 1000) / (1 + 10^1.5 + 100^1.5)
    assert a == pytest.approx(1011.0 / (1.0 + 10 ** 1.5 + 1000.0), rel=1e-12)


def test_power_law_recovers_a_noisy_law_with_mean_preserving_noise():
    s_values = np.array([0.01, 0.03, 0.1, 0.3])
    e_mean = 2.0 * s_values ** 1.7
    # pairs e (1 - 0.5), e (1 + 0.5) plus one e: the mean of each cluster is e_mean exactly
    e = np.concatenate([np.array([0.5, 1.5, 1.0, 0.5, 1.5]) * m for m in e_mean])
    s = np.repeat(s_values, 5)
    a, b = em.fit_power(e, s)
    assert b == pytest.approx(1.7, rel=1e-10)
    assert a == pytest.approx(2.0, rel=1e-10)


def test_power_law_with_b_one_is_the_ratio_of_means():
    e, s = clusters([0.02, 0.2], [0.04, 0.4])  # e = 2 s: b = 1 and a = alpha of Eq. 3
    a, b = em.fit_power(e, s)
    assert (a, b) == (pytest.approx(2.0), pytest.approx(1.0))
    model = {"a": a, "b": b, "bound_factor": 1.5}
    np.testing.assert_allclose(em.predict(model, [0.1]), [0.2])
    np.testing.assert_allclose(em.bound(model, [0.1]), [0.3])


def test_conformal_factor_is_the_ceil_n_plus_one_q_order_statistic():
    e = np.arange(1.0, 11.0)[::-1]  # ratios 1..10 (order does not matter)
    predicted = np.ones(10)
    assert em.conformal_factor(e, predicted, 0.9) == 10.0  # ceil(11 * 0.9) = 10
    assert em.conformal_factor(e, predicted, 0.5) == 6.0   # ceil(5.5) = 6
    assert em.conformal_factor(e, 2 * predicted, 0.5) == 3.0
    with pytest.raises(InputError, match=r"--quantile: q = 0.95 needs at least 19"):
        em.conformal_factor(e, predicted, 0.95)            # ceil(10.45) = 11 > 10


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, "0.9", 1.5])
def test_quantile_outside_zero_one_is_refused(q):
    with pytest.raises(InputError, match=r"--quantile: got .*expected a number between 0 and 1"):
        em.check_q(q)


def test_bad_arrays_are_refused():
    with pytest.raises(InputError, match="uncertainties > 0"):
        em.fit_power([1.0, 2.0], [0.0, 1.0])


def test_isotonic_pools_adjacent_violators():
    knots = em.fit_isotonic([1.0, 3.0, 2.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(knots[0], [1.0, 2.5, 4.0])
    np.testing.assert_allclose(knots[1], [1.0, 2.5, 4.0])
    np.testing.assert_allclose(em.predict_isotonic(knots, [0.5, 3.25, 9.0]), [1.0, 3.25, 4.0])


def test_deciles_split_by_s():
    s = np.arange(1.0, 21.0)
    table = em.decile_table(s, s, 2 * s, 1.5 * s)
    assert [row["count"] for row in table] == [2] * 10
    assert table[0]["mean_s"] == 1.5 and table[-1]["mean_s"] == 19.5
    assert table[0]["mad"] == 1.5                      # |2 s - s| averaged over s = 1, 2
    assert all(row["coverage"] == 1.0 for row in table)


def test_s_for_error_inverts_the_knee_model():
    model = {"alpha": 2.0, "knee": 0.1, "b": 3.0}
    assert em.s_for_error(model, 0.1) == pytest.approx(0.05)             # below: e / alpha
    assert em.s_for_error(model, 0.2 * 8.0) == pytest.approx(0.2)        # 0.2 (0.2/0.1)^3 = 1.6
    assert em.s_for_error({"alpha": 2.0, "knee": 0.0, "b": 3.0}, 1.6) == pytest.approx(0.8)


def test_knee_model_by_hand():
    # below the knee (median s = 2): alpha = (9*3 + 9*6) / (9*1 + 9*2) = 3
    s = np.repeat([1.0, 2.0, 3.0, 16.0], [9, 9, 5, 5])
    e = np.repeat([3.0, 6.0, 6.0 * 1.5 ** 2, 6.0 * 8.0 ** 2.5], [9, 9, 5, 5])
    model = em.fit_knee(e, s, knee_quantile=0.5, bins=3)
    assert (model["alpha"], model["knee"]) == (pytest.approx(3.0), 2.0)
    # through the knee point: x = ln 1.5, ln 8 with y = 2 x1, 2.5 x2
    x1, x2 = math.log(1.5), math.log(8.0)
    assert model["b"] == pytest.approx((2 * x1 ** 2 + 2.5 * x2 ** 2) / (x1 ** 2 + x2 ** 2))
    np.testing.assert_allclose(em.predict(model, [1.0, 2.0, 4.0]),
                               [3.0, 6.0, 6.0 * 2.0 ** model["b"]])
    flat = {"form": "knee", "alpha": 1.5, "knee": 0.0, "b": 7.0, "bound_factor": 2.0}
    np.testing.assert_allclose(em.bound(flat, [0.1, 10.0]), [0.3, 30.0])
    split = dict(flat, bound_split=1.0, bound_factor_high=5.0)
    np.testing.assert_allclose(em.bound(split, [0.1, 1.0, 10.0]), [0.3, 3.0, 75.0])


def test_the_knee_with_the_least_absolute_deviation_is_chosen():
    # e = s up to 0.5, then 0.5 (s/0.5)^3: of the candidate quantiles, 0.5 (s = 0.5) fits exactly
    # (zero deviation, absolute or relative)
    s = np.linspace(0.01, 1.0, 199)
    s = np.sort(np.concatenate([s, [0.5]]))
    e = np.where(s <= 0.5, s, 0.5 * (s / 0.5) ** 3)
    model = em.best_knee(e, s)
    assert model["knee"] == pytest.approx(np.quantile(s, 0.5))
    assert model["alpha"] == pytest.approx(1.0)
    assert model["b"] == pytest.approx(3.0, rel=0.02)  # bin means of a convex curve: near 3


def knee_data(rng, n_frames=40, per_frame=250):
    """s: 90 % in [0.01, 0.1], 10 % in [0.1, 1]; e = 0.8 s up to 0.1, 0.08 (s/0.1)^2 beyond."""
    n = n_frames * per_frame
    s = np.exp(np.where(rng.random(n) < 0.9, rng.uniform(np.log(0.01), np.log(0.1), n),
                        rng.uniform(np.log(0.1), np.log(1.0), n)))
    mean = np.where(s <= 0.1, 0.8 * s, 0.08 * (s / 0.1) ** 2)
    return mean * rng.lognormal(0.0, 0.4, n), s, np.repeat(np.arange(n_frames), per_frame)


def test_cross_validated_coverage_of_a_knee_with_multiplicative_noise():
    """The bound covers ~q of held-out points in every decile; the constant alpha does not."""
    e, s, frame = knee_data(np.random.default_rng(3))
    model = em.fit_knee(e, s)
    assert model["knee"] == pytest.approx(0.1, rel=0.05)
    assert model["b"] == pytest.approx(2.0, abs=0.1)
    fitted = em.fit_model(e, s, q=0.9)
    assert fitted["bound_split"] == pytest.approx(np.quantile(s, 0.9))
    assert fitted["bound_factor_high"] > 0 and fitted["bound_factor"] > 0
    report = em.cross_validate(e, s, frame, q=0.9)
    assert report["model"]["coverage"] == pytest.approx(0.9, abs=0.02)
    for row in report["model"]["deciles"]:
        assert row["coverage"] == pytest.approx(0.9, abs=0.04), row
    assert report["model"]["mad"] < 0.8 * report["constant_alpha"]["mad"]
    assert report["constant_alpha"]["deciles"][-1]["coverage"] < 0.8


def test_model_at_interpolates_every_parameter():
    cal = {"error_model": {"local": {
        "2": {"alpha": 1.0, "knee": 0.02, "b": 1.0, "bound_factor": 2.0, "s_max": 0.1},
        "4": {"alpha": 2.0, "knee": 0.04, "b": 2.0, "bound_factor": 3.0, "s_max": 0.3}}}}
    model = em.model_at(cal, 3.0)
    assert [model[k] for k in ("alpha", "knee", "b", "bound_factor", "s_max")] == pytest.approx(
        [1.5, 0.03, 1.5, 2.5, 0.2])
    assert em.model_at(cal, 9.0)["b"] == pytest.approx(2.0)


def test_model_at_of_an_old_calibration_is_the_constant_alpha():
    model = em.model_at({"alpha_local": {"1": 0.4, "3": 0.8}}, 2.0)
    assert model == {"form": "knee", "alpha": pytest.approx(0.6), "knee": 0.0, "b": 1.0,
                     "bound_factor": 0.0, "bound_split": 0.0, "bound_factor_high": 0.0,
                     "s_max": 0.0}
    np.testing.assert_allclose(em.predict(model, [0.5]), [0.3])
    assert em.model_at(None, 2.0) is None
    assert em.model_at({"n_models": 3}, 2.0) is None


def levels_of(e, s):
    return {"local 4": (np.asarray(e, float), np.asarray(s, float))}


def test_sets_report_their_share_of_the_log_range():
    sets = [("eq.extxyz", [levels_of([1, 1], [0.01, 0.02]), levels_of([1], [0.015])]),
            ("hot.extxyz", [levels_of([1, 1], [0.02, 1.0])])]
    rows = em.set_coverage(sets)
    assert [r["set"] for r in rows] == ["eq.extxyz", "hot.extxyz"]
    assert rows[0]["n_frames"] == 2 and rows[0]["s_max"] == 0.02
    assert rows[0]["share_of_log_range"] == pytest.approx(math.log(2) / math.log(100))
    assert rows[1]["share_of_log_range"] == pytest.approx(math.log(50) / math.log(100))
