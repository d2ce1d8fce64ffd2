"""The s-dependent error model and its conformal bound (issues 16, 23) against hand-derived
values and simulations whose truth is known."""

import math

import numpy as np
import pytest

from lammps_uq.errors import InputError
from lammps_uq.science import conformal as cf
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


def test_one_neighbourhood_per_frame_gives_the_ceil_n_plus_one_q_order_statistic():
    ratios = np.arange(1.0, 11.0)[::-1]  # order does not matter
    frames = np.arange(10)
    assert cf.grouped_factor(ratios, frames, 0.9) == 10.0  # ceil(11 * 0.9) = 10
    assert cf.grouped_factor(ratios, frames, 0.5) == 6.0   # ceil(5.5) = 6
    assert cf.grouped_factor(ratios / 2, frames, 0.5) == 3.0
    with pytest.raises(InputError, match=r"--quantile: q = 0.95 needs at least 19 calibration "
                                         r"frames in the conformal half; got 10"):
        cf.grouped_factor(ratios, frames, 0.95)


def test_grouped_factor_weighs_every_frame_one_by_hand():
    # frame 0: 8 neighbourhoods with ratio 1; frames 1..3: one each, ratios 2, 3, 4 (m = 4).
    # q = 0.5: level 0.5 * 5 / 4 = 0.625; frame-averaged CDF: 0.25 at 1, 0.5 at 2, 0.75 at 3
    ratios = np.array([1.0] * 8 + [2.0, 3.0, 4.0])
    frames = np.array([0] * 8 + [1, 2, 3])
    assert cf.grouped_factor(ratios, frames, 0.5) == 3.0
    # pooled over neighbourhoods (ceil(12 * 0.5) = 6th of 11) it would be 1: frame 0 decides
    assert np.sort(ratios)[5] == 1.0


def test_halves_keep_each_run_on_one_side_and_every_stratum_on_both():
    units = [("test:hot", "r1"), ("test:hot", "r1"), ("test:hot", "r2"), ("test:hot", "r3"),
             ("anom:cavity", "a"), ("anom:cavity", "b"), ("test:hot", "r2")]
    assert cf.halves(units).tolist() == [0, 0, 1, 0, 1, 0, 1]


def test_coverage_by_frame_and_its_clustered_standard_error_by_hand():
    # frame 0: 3 of 4 covered; frame 1: 1 of 2; frame 2: 2 of 2
    covered = np.array([1, 1, 1, 0, 1, 0, 1, 1], dtype=bool)
    frames = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    report = cf.coverage(np.where(covered, 0.0, 2.0), np.ones(8), frames)
    assert report["frame_mean"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert report["frame_mean_se"] == pytest.approx(np.std([0.75, 0.5, 1.0], ddof=1) / 3 ** 0.5)
    p = 6 / 8
    residuals = np.array([3 - 4 * p, 1 - 2 * p, 2 - 2 * p])
    assert report["pooled"] == p
    assert report["pooled_se"] == pytest.approx(math.sqrt(1.5 * (residuals ** 2).sum()) / 8)
    assert report["frames_below_0.8"] == 2 and report["frame_min"] == 0.5


def biased_frames(rng, n_frames, per_frame=100):
    """e = 0.8 s times a frame's own bias (lognormal 0.5) times noise (lognormal 0.3)."""
    s = np.exp(rng.uniform(np.log(0.01), np.log(0.1), (n_frames, per_frame)))
    bias = rng.lognormal(0.0, 0.5, (n_frames, 1))
    e = 0.8 * s * bias * rng.lognormal(0.0, 0.3, (n_frames, per_frame))
    return e.ravel(), s.ravel(), np.repeat(np.arange(n_frames), per_frame)


def test_the_grouped_bound_covers_q_of_new_frames_on_average_where_a_pooled_one_does_not():
    """Frames sharing a bias: over 300 repeats of (20 calibration frames, 1 new frame), the mean
    covered fraction of the new frame is >= q with the grouped split; with the neighbourhood-level
    quantile of the same 10 conformal frames (n = 1000, as if exchangeable) it is below q."""
    rng = np.random.default_rng(11)
    grouped, pooled = [], []
    for _ in range(300):
        e, s, frames = biased_frames(rng, 21)
        new = frames == 20
        model = cf.fit_model(e[~new], s[~new], frames[~new], q=0.9)
        grouped.append(np.mean(e[new] <= em.bound(model, s[new])))
        cal = (frames % 2 == 1) & ~new
        naive = np.sort(e[cal] / em.predict(model, s[cal]))[math.ceil(0.9 * (cal.sum() + 1)) - 1]
        pooled.append(np.mean(e[new] <= naive * em.predict(model, s[new])))
    assert np.mean(grouped) >= 0.9 - 2 * np.std(grouped) / math.sqrt(300)
    assert np.mean(pooled) < 0.9 - 2 * np.std(pooled) / math.sqrt(300)


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
    table = cf.decile_table(s, s, 2 * s, 1.5 * s)
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
    """Fitted on one half of the runs and calibrated on the other, the bound covers >= q of the
    held-out frames' neighbourhoods per frame on average, and ~q in every decile; the constant
    alpha does not in the top decile."""
    e, s, frame = knee_data(np.random.default_rng(3), n_frames=80, per_frame=125)
    model = em.fit_knee(e, s)
    assert model["knee"] == pytest.approx(0.1, rel=0.05)
    assert model["b"] == pytest.approx(2.0, abs=0.1)
    fitted = cf.fit_model(e, s, frame, q=0.9)
    assert (fitted["fit_frames"], fitted["conformal_frames"]) == (40, 40)
    assert fitted["bound_split"] == pytest.approx(np.quantile(s[frame % 2 == 0], 0.9))
    assert fitted["bound_factor_high"] > 0 and fitted["bound_factor"] > 0
    assert fitted["s_max"] == s[frame % 2 == 0].max()
    units = [("knee", f"run {k}") for k in range(80)]
    report = cf.cross_validate(e, s, frame, units, q=0.9)
    cover = report["model"]["coverage"]
    assert cover["frames"] == 80
    assert cover["frame_mean"] >= 0.9 - 2 * cover["frame_mean_se"]
    assert cover["frame_mean"] < 0.97  # valid, not vacuous
    for row in report["model"]["deciles"]:
        assert row["coverage"] == pytest.approx(0.92, abs=0.05), row
    assert report["model"]["mad"] < 0.8 * report["constant_alpha"]["mad"]
    assert report["constant_alpha"]["deciles"][-1]["coverage"] < 0.8


def test_too_few_frames_for_a_bound_fit_the_form_on_all_and_say_so():
    e, s, frame = knee_data(np.random.default_rng(4), n_frames=6, per_frame=200)
    model = cf.fit_model(e, s, frame, q=0.9)
    assert model["bound_factor"] == 0.0 and model["fit_frames"] == 6
    assert model["bound_note"] == ("no bound: q = 0.9 needs 9 frames in the conformal half (runs "
                                   "alternate); got 6 frames in all")
    np.testing.assert_array_equal(em.bound(model, s), 0.0)


def pooled_bins_slope(e, s, knee, alpha, bins=12):
    """The exponent as issue 16 fitted it: equal-weight bins of all neighbourhoods pooled."""
    above = s > knee
    log_s = np.log(s[above] / knee)
    which = np.clip(np.searchsorted(np.linspace(0, log_s.max(), bins + 1), log_s, "right") - 1,
                    0, bins - 1)
    x = np.array([np.log(s[above][which == k].mean() / knee) for k in range(bins)
                  if (which == k).sum() >= 5])
    y = np.array([np.log(e[above][which == k].mean() / (alpha * knee)) for k in range(bins)
                  if (which == k).sum() >= 5])
    return (x * y).sum() / (x * x).sum()


def test_one_frame_filling_the_tail_does_not_decide_the_exponent():
    """40 frames with e ~ s^2 above the knee; one extra frame fills the far bins with e ~ s^5:
    pooled bins follow it, frame weights keep b near 2, and leave-one-frame-out names it."""
    rng = np.random.default_rng(5)
    e, s, frame = knee_data(rng)
    far_s = np.exp(rng.uniform(np.log(0.3), np.log(3.0), 100))
    far_e = 0.08 * (far_s / 0.1) ** 2 * (far_s / 0.3) ** 3
    e, s = np.concatenate([e, far_e]), np.concatenate([s, far_s])
    frame = np.concatenate([frame, np.full(100, 99)])
    weighted = em.fit_knee(e, s, frames=frame)
    assert weighted["b"] == pytest.approx(2.0, abs=0.2)
    assert pooled_bins_slope(e, s, weighted["knee"], weighted["alpha"]) > weighted["b"] + 1.0
    spread = em.exponent_range(e, s, frame, weighted["knee"])
    assert spread["most_influential"] == 99 and spread["frames"] == 41
    assert spread["b_min"] <= weighted["b"] <= spread["b_max"]


def test_one_frame_has_no_leave_one_frame_out_range():
    e, s, _ = knee_data(np.random.default_rng(6), n_frames=1, per_frame=300)
    model = cf.fit_model(e, s, np.zeros(len(e), int), q=0.9)
    assert model["b_leave_one_frame_out"]["b_min"] is None and model["bound_factor"] == 0.0


def test_the_tail_past_s_max_is_linear_and_continuous():
    model = {"form": "knee", "alpha": 2.0, "knee": 0.1, "b": 3.0, "s_max": 0.2,
             "bound_factor": 1.5}
    at_max = 2.0 * 0.1 * 2.0 ** 3   # 1.6
    np.testing.assert_allclose(em.predict(model, [0.05, 0.2, 0.4, 1.0]),
                               [0.1, at_max, 2 * at_max, 5 * at_max])
    np.testing.assert_allclose(em.bound(model, [1.0]), [1.5 * 5 * at_max])
    assert em.extrapolates(model, [0.2, 0.2000001]).tolist() == [False, True]
    assert em.s_for_error(model, 2 * at_max) == pytest.approx(0.4)
    assert em.s_for_error(model, 0.1) == pytest.approx(0.05)


CAL = {"error_model": {"local": {
    "2": {"alpha": 1.0, "knee": 0.02, "b": 1.0, "bound_factor": 2.0, "s_max": 0.1},
    "4": {"alpha": 2.0, "knee": 0.04, "b": 3.0, "bound_factor": 3.0, "bound_split": 0.05,
          "bound_factor_high": 4.0, "s_max": 0.3}}}}


def test_model_at_blends_the_predictions_of_the_calibrated_radii():
    model = em.model_at(CAL, 3.0)
    lower, upper = em.model_at(CAL, 2.0), em.model_at(CAL, 4.0)
    assert model["form"] == "blend" and model["t"] == pytest.approx(0.5)
    assert (lower["alpha"], upper["b"]) == (1.0, 3.0)   # a calibrated radius: its own curve
    s = np.linspace(0.001, 1.0, 500)
    np.testing.assert_allclose(em.predict(model, s),
                               0.5 * em.predict(lower, s) + 0.5 * em.predict(upper, s))
    np.testing.assert_allclose(em.bound(model, s),
                               0.5 * em.bound(lower, s) + 0.5 * em.bound(upper, s))
    assert model["alpha"] == pytest.approx(1.5) and model["s_max"] == pytest.approx(0.2)
    assert em.model_at(CAL, 9.0) == upper and em.model_at(CAL, 1.0) == lower


@pytest.mark.parametrize("rcut", [2.0, 2.3, 2.9, 3.5, 3.99, 4.0])
def test_e_and_the_bound_are_continuous_and_monotone_in_s_at_every_rcut(rcut):
    model = em.model_at(CAL, rcut)
    s = np.linspace(1e-4, 2.0, 20001)
    for curve in (em.predict(model, s), em.bound(model, s)):
        assert np.all(np.diff(curve) >= -1e-12)
    e = em.predict(model, s)
    # continuous: no step larger than the steepest slope allows between neighbouring s
    assert np.max(np.abs(np.diff(e))) < 3 * np.max(np.abs(np.diff(e[-100:]))) + 1e-9
    for name in ("lower", "upper"):
        if model.get("form") == "blend":
            for point in (model[name]["knee"], model[name]["s_max"]):
                left, right = em.predict(model, [point - 1e-9, point + 1e-9])
                assert right - left < 1e-6


def test_model_at_of_an_old_calibration_is_the_constant_alpha():
    model = em.model_at({"alpha_local": {"1": 0.4, "3": 0.8}}, 2.0)
    assert model["form"] == "blend" and model["alpha"] == pytest.approx(0.6)
    assert model["lower"] == {"form": "knee", "alpha": 0.4, "knee": 0.0, "b": 1.0,
                              "bound_factor": 0.0, "bound_split": 0.0, "bound_factor_high": 0.0,
                              "s_max": 0.0}
    np.testing.assert_allclose(em.predict(model, [0.5]), [0.3])
    np.testing.assert_array_equal(em.bound(model, [0.5]), [0.0])
    assert em.model_at(None, 2.0) is None
    assert em.model_at({"n_models": 3}, 2.0) is None
    assert em.as_parameters(model)[:2] == (0.5, 0.4)


def levels_of(e, s):
    return {"local 4": (np.asarray(e, float), np.asarray(s, float))}


def test_sets_report_their_share_of_the_log_range():
    sets = [("eq.extxyz", [levels_of([1, 1], [0.01, 0.02]), levels_of([1], [0.015])]),
            ("hot.extxyz", [levels_of([1, 1], [0.02, 1.0])])]
    rows = cf.set_coverage(sets)
    assert [r["set"] for r in rows] == ["eq.extxyz", "hot.extxyz"]
    assert rows[0]["n_frames"] == 2 and rows[0]["s_max"] == 0.02
    assert rows[0]["share_of_log_range"] == pytest.approx(math.log(2) / math.log(100))
    assert rows[1]["share_of_log_range"] == pytest.approx(math.log(50) / math.log(100))
