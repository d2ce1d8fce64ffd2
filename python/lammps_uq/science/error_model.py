"""An s-dependent error model and a conformal upper bound for s^loc (issue 16).

A single α (Eq. 3) reads error = α · s. Where the committee extrapolates, the error grows
faster than s (paper Fig. 3d: α rises from 0.93 to 1.21 from mild to strong extrapolation),
so the calibration also fits

- the **error model** ``e(s) = a · s^b``: b is the least-squares slope of log(mean e) on
  log(mean s) over bins of equal width in log s (each bin one point, so the few strongly
  extrapolating neighbourhoods weigh as much as the many near-equilibrium ones); a then makes
  the predicted errors sum to the observed ones, Σ e = a Σ s^b (with b = 1 this is Eq. 3's α);
- the **conformal bound** ``c_q · e(s)``: c_q is the ⌈(n+1) q⌉-th smallest of the n ratios
  error / e(s) of a calibration split (split conformal prediction), so that error ≤ bound holds
  for a fraction ≥ q of new neighbourhoods drawn like the calibration ones.

The power law is the model ``fix uq ... alpha auto`` evaluates; :func:`predict` and
:func:`bound` are the twins of ``lmp_plugin/uq_error_model.cpp``. An isotonic fit
(:func:`fit_isotonic`, pool-adjacent-violators) is kept for comparison: it follows the data
inside their range but is flat beyond the largest s seen, exactly where the error keeps growing.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

DEFAULT_Q = 0.9
DEFAULT_BINS = 12
MIN_PER_BIN = 5


def fit_power(e, s, bins: int = DEFAULT_BINS) -> tuple[float, float]:
    """(a, b) of e = a · s^b: slope from binned means in log s, scale from Σ e = a Σ s^b."""
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    if len(e) != len(s) or len(e) < 2 or np.any(s <= 0) or np.any(e < 0):
        raise InputError(f"error model: got {len(e)} errors and {len(s)} uncertainties; expected "
                         "as many of each (>= 2), uncertainties > 0 and errors >= 0")
    log_s = np.log(s)
    edges = np.linspace(log_s.min(), log_s.max(), bins + 1)
    which = np.clip(np.searchsorted(edges, log_s, side="right") - 1, 0, bins - 1)
    x, y = [], []
    for k in range(bins):
        inside = which == k
        if inside.sum() >= MIN_PER_BIN and e[inside].mean() > 0:
            x.append(np.log(s[inside].mean()))
            y.append(np.log(e[inside].mean()))
    b = float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else 1.0
    return float(e.sum() / np.sum(s ** b)), b


def predict(model: dict, s) -> np.ndarray:
    """The expected error a · s^b (twin of UQErrorModel::estimate)."""
    return model["a"] * np.asarray(s, dtype=float) ** model["b"]


def bound(model: dict, s) -> np.ndarray:
    """The conformal upper bound c_q · a · s^b (twin of UQErrorModel::bound)."""
    return model["bound_factor"] * predict(model, s)


def conformal_factor(e, predicted, q: float = DEFAULT_Q) -> float:
    """The ⌈(n+1) q⌉-th smallest ratio e / predicted (split conformal, finite-sample valid)."""
    check_q(q)
    ratios = np.sort(np.asarray(e, dtype=float) / np.asarray(predicted, dtype=float))
    k = math.ceil((len(ratios) + 1) * q)
    if k > len(ratios):
        raise InputError(f"--quantile: q = {q} needs at least {math.ceil(q / (1 - q))} "
                         f"calibration neighbourhoods; got {len(ratios)}")
    return float(ratios[k - 1])


def check_q(q) -> float:
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0):
        raise InputError(f"--quantile: got {q!r}; expected a number between 0 and 1 (e.g. 0.9)")
    return float(q)


def fit_model(e, s, q: float = DEFAULT_Q) -> dict:
    """The power law, its conformal factor and the s range it saw."""
    a, b = fit_power(e, s)
    model = {"form": "power", "a": a, "b": b}
    model["bound_factor"] = conformal_factor(e, predict(model, s), q)
    model.update(q=float(q), s_min=float(np.min(s)), s_max=float(np.max(s)), count=int(len(s)))
    return model


def fit_isotonic(e, s) -> tuple[np.ndarray, np.ndarray]:
    """Knots (s, e) of the non-decreasing least-squares fit of e on s (pool adjacent violators)."""
    order = np.argsort(s, kind="mergesort")
    xs, ys = np.asarray(s, dtype=float)[order], np.asarray(e, dtype=float)[order]
    values, weights, starts = [], [], []
    for k, y in enumerate(ys):
        values.append(y), weights.append(1.0), starts.append(k)
        while len(values) > 1 and values[-2] > values[-1]:
            w = weights[-2] + weights[-1]
            values[-2] = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            weights[-2] = w
            del values[-1], weights[-1], starts[-1]
    ends = starts[1:] + [len(xs)]
    centres = np.array([xs[i:j].mean() for i, j in zip(starts, ends)])
    return centres, np.array(values)


def predict_isotonic(knots, s) -> np.ndarray:
    """Linear between the knots, flat beyond them."""
    return np.interp(np.asarray(s, dtype=float), knots[0], knots[1])


def decile_table(e, s, predicted, upper) -> list[dict]:
    """Held-out quality per s decile: mean s, MAE, MAD of the prediction, bound coverage."""
    e, s, predicted, upper = (np.asarray(v, dtype=float) for v in (e, s, predicted, upper))
    edges = np.quantile(s, np.linspace(0.0, 1.0, 11))
    which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 9)
    rows = []
    for k in range(10):
        inside = which == k
        if inside.any():
            rows.append({"decile": k + 1, "count": int(inside.sum()),
                         "mean_s": float(s[inside].mean()), "mae": float(e[inside].mean()),
                         "mean_predicted": float(predicted[inside].mean()),
                         "mad": float(np.abs(predicted[inside] - e[inside]).mean()),
                         "coverage": float((e[inside] <= upper[inside]).mean())})
    return rows


def summary(e, s, predicted, upper) -> dict:
    e, predicted, upper = (np.asarray(v, dtype=float) for v in (e, predicted, upper))
    return {"count": int(len(e)), "mae": float(e.mean()),
            "mad": float(np.abs(predicted - e).mean()),
            "coverage": float((e <= upper).mean()),
            "deciles": decile_table(e, s, predicted, upper)}


def two_fold(frame_index) -> np.ndarray:
    """Fold (0/1) of frame k of a set: (k + k // 4) mod 2.

    Frames alternate between the folds, with the phase flipped every 4 frames, so that a set
    written in cycles of 2 or 4 kinds (as ``committee.anomalies``) has every kind in both folds.
    """
    k = np.asarray(frame_index)
    return (k + k // 4) % 2


def fold_models(e, s, frame_index, q: float = DEFAULT_Q) -> dict:
    """{fold: model fitted on the other fold}: the model that judges each fold held out."""
    fold = two_fold(frame_index)
    models = {}
    for k in (0, 1):
        train = fold != k
        if not train.any() or train.all():
            raise InputError(f"calibrate: {int(train.sum())} calibration and "
                             f"{int((~train).sum())} held-out neighbourhoods; expected at least "
                             "2 labelled frames in a set")
        models[k] = fit_model(e[train], s[train], q)
    return models


def cross_validate(e, s, frame_of, q: float = DEFAULT_Q) -> dict:
    """Fit on one fold of frames, judge on the other, both ways; the held-out neighbourhoods pooled.

    Returns the held-out summaries of the power law with its bound, of the constant α
    (ratio of means of the training fold; bound from the same conformal rule) and the MAD of
    the isotonic fit, plus the held-out predictions for further reports.
    """
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    fold = two_fold(frame_of)
    models = fold_models(e, s, frame_of, q)
    power, power_up = np.empty_like(e), np.empty_like(e)
    const, const_up, iso = np.empty_like(e), np.empty_like(e), np.empty_like(e)
    for k, model in models.items():
        train, test = fold != k, fold == k
        power[test], power_up[test] = predict(model, s[test]), bound(model, s[test])
        alpha = e[train].mean() / s[train].mean()
        factor = conformal_factor(e[train], alpha * s[train], q)
        const[test], const_up[test] = alpha * s[test], factor * alpha * s[test]
        iso[test] = predict_isotonic(fit_isotonic(e[train], s[train]), s[test])
    return {"power": summary(e, s, power, power_up),
            "constant_alpha": summary(e, s, const, const_up),
            "isotonic_mad": float(np.abs(iso - e).mean()),
            "predicted": {"power": power, "constant_alpha": const, "isotonic": iso,
                          "bound": power_up}}


def local_arrays(sets, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e, s, frame index within its set) of one level over ``sets`` = [(name, [levels])]."""
    e, s, index = [], [], []
    for _, frames in sets:
        for k, levels in enumerate(frames):
            e.append(levels[level][0]), s.append(levels[level][1])
            index.append(np.full(len(levels[level][0]), k))
    return np.concatenate(e), np.concatenate(s), np.concatenate(index)


def local_levels(sets) -> list[str]:
    return [name for name in sets[0][1][0] if name.startswith("local ")]


def fit_error_models(sets, q: float = DEFAULT_Q) -> dict:
    """Power law and bound at every local level on all frames; held-out report by two folds."""
    check_q(q)
    models, held_out = {}, {}
    for level in local_levels(sets):
        e, s, index = local_arrays(sets, level)
        radius = level.split()[1]
        models[radius] = fit_model(e, s, q)
        report = cross_validate(e, s, index, q)
        report.pop("predicted")
        held_out[radius] = report
    return {"form": "power", "q": float(q), "local": models, "held_out": held_out,
            "sets": set_coverage(sets)}


def set_coverage(sets) -> list[dict]:
    """Per labelled set and radius: frames, s^loc min / median / max, share of the pooled log range."""
    rows = []
    for level in local_levels(sets):
        everything = np.concatenate([lv[level][1] for _, frames in sets for lv in frames])
        low, high = np.log(everything.min()), np.log(everything.max())
        for name, frames in sets:
            s = np.concatenate([lv[level][1] for lv in frames])
            share = (np.log(s.max()) - np.log(s.min())) / (high - low) if high > low else 1.0
            rows.append({"set": name, "level": level, "n_frames": len(frames),
                         "s_min": float(s.min()), "s_median": float(np.median(s)),
                         "s_max": float(s.max()), "share_of_log_range": float(share)})
    return rows


def model_at(calibration: dict | None, rcut: float) -> dict | None:
    """The error model at ``rcut``: log a, b, c_q and s_max interpolated in the recorded radii.

    None without a calibration; a calibration without an error model (written before it
    existed) gives the constant α: a = fitted α, b = 1, no bound (factor 0), no s_max (0).
    """
    if not calibration:
        return None
    local = (calibration.get("error_model") or {}).get("local")
    if not local:
        alphas = calibration.get("alpha_local")
        if not alphas:
            return None
        table = sorted((float(r), float(a)) for r, a in alphas.items())
        alpha = float(np.interp(rcut, *zip(*table)))
        return {"form": "power", "a": alpha, "b": 1.0, "bound_factor": 0.0, "s_max": 0.0}
    radii = sorted(local, key=float)
    r = [float(k) for k in radii]

    def at(key, transform=lambda v: v, back=lambda v: v):
        return float(back(np.interp(rcut, r, [transform(local[k][key]) for k in radii])))

    return {"form": "power", "a": at("a", np.log, np.exp), "b": at("b"),
            "bound_factor": at("bound_factor"), "s_max": at("s_max")}
