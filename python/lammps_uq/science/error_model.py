"""An s-dependent error model and a conformal upper bound for s^loc (issue 16).

A single α (Eq. 3) reads error = α · s. Where the committee extrapolates, the error grows
faster than s (paper Fig. 3d: α rises from 0.93 to 1.21 from mild to strong extrapolation),
so the calibration also fits

- the **error model** (``knee``): e(s) = α s up to the knee (of the calibration's s quantiles
  KNEE_QUANTILES, the one with the least relative deviation), where Eq. 3 holds and α is the
  ratio of the means there; beyond it
  e(s) = α knee (s / knee)^b, b the least-squares slope (through the knee point) of
  log(mean e) on log(mean s) over bins of equal width in log s, so the few strongly
  extrapolating neighbourhoods weigh as much as the many ordinary ones;
- the **conformal bound** ``c_q · e(s)``: c_q is the ⌈(n+1) q⌉-th smallest of the n ratios
  error / e(s) of a calibration split (split conformal prediction), so that error ≤ bound holds
  for a fraction ≥ q of new neighbourhoods drawn like the calibration ones; the top s decile
  has its own c_q (Mondrian), so that this holds there too and not only on average.

Why not the alternatives: a power law a s^b over the whole range (:func:`fit_power`) lets the
bulk's weak error-uncertainty relation set b and worsens the per-frame error estimate of
equilibrium frames; isotonic regression (:func:`fit_isotonic`) is flat beyond the largest s
seen, exactly where the error keeps growing. Both are measured in the held-out report.
:func:`predict` and :func:`bound` are the twins of ``lmp_plugin/uq_error_model.h``.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

DEFAULT_Q = 0.9
DEFAULT_BINS = 12
DEFAULT_KNEE = 0.9
KNEE_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995)
TOP_DECILE = 0.9
# what fix uq reads (lmp_plugin/uq_error_model.h), in the order of the bridge's tuple
PARAMETERS = ("alpha", "knee", "b", "bound_factor", "bound_split", "bound_factor_high", "s_max")
MIN_PER_BIN = 5


def fit_power(e, s, bins: int = DEFAULT_BINS) -> tuple[float, float]:
    """(a, b) of e = a · s^b: slope from binned means in log s, scale from Σ e = a Σ s^b."""
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    _check_pairs(e, s)
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


def fit_knee(e, s, knee_quantile: float = DEFAULT_KNEE, bins: int = DEFAULT_BINS) -> dict:
    """α below the knee (Eq. 3 there), the power b above it, continuous at the knee.

    knee: the ``knee_quantile`` of s; α = Σe / Σs over s <= knee; b: least-squares slope
    through the knee point of log(mean e / (α knee)) on log(mean s / knee) over bins of equal
    width in log s above the knee (each bin with >= MIN_PER_BIN neighbourhoods one point).
    """
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    _check_pairs(e, s)
    knee = float(np.quantile(s, knee_quantile))
    below = s <= knee
    alpha = float(e[below].sum() / s[below].sum())
    x, y = [], []
    if (~below).any():
        log_s = np.log(s[~below] / knee)
        edges = np.linspace(0.0, log_s.max(), bins + 1)
        which = np.clip(np.searchsorted(edges, log_s, side="right") - 1, 0, bins - 1)
        for k in range(bins):
            inside = which == k
            if inside.sum() >= MIN_PER_BIN and e[~below][inside].mean() > 0:
                x.append(np.log(s[~below][inside].mean() / knee))
                y.append(np.log(e[~below][inside].mean() / (alpha * knee)))
    x, y = np.array(x), np.array(y)
    b = float((x * y).sum() / (x * x).sum()) if len(x) and (x * x).sum() > 0 else 1.0
    return {"form": "knee", "alpha": alpha, "knee": knee, "b": b}


def best_knee(e, s, quantiles=KNEE_QUANTILES) -> dict:
    """The knee model whose knee (one of the s ``quantiles``) gives the least Σ|e - e(s)| / e(s).

    Relative deviations, so that a few neighbourhoods with errors of eV/Å (a broken molecule)
    do not pull the knee into the bulk, where α s describes the errors.
    """
    fits = [fit_knee(e, s, k) for k in quantiles]
    deviations = [(np.abs(predict(m, s) - e) / predict(m, s)).sum() for m in fits]
    return fits[int(np.argmin(deviations))]


def _check_pairs(e, s):
    if len(e) != len(s) or len(e) < 2 or np.any(s <= 0) or np.any(e < 0):
        raise InputError(f"error model: got {len(e)} errors and {len(s)} uncertainties; expected "
                         "as many of each (>= 2), uncertainties > 0 and errors >= 0")


def predict(model: dict, s) -> np.ndarray:
    """The expected error (twin of UQErrorModel::estimate).

    ``knee``: α s up to the knee, α knee (s / knee)^b beyond (knee 0: α s throughout);
    ``power``: a s^b.
    """
    s = np.asarray(s, dtype=float)
    if model.get("form", "power") == "power":
        return model["a"] * s ** model["b"]
    alpha, knee = model["alpha"], model["knee"]
    if knee <= 0:
        return alpha * s
    return np.where(s > knee, alpha * knee * (s / knee) ** model["b"], alpha * s)


def s_for_error(model: dict, error: float) -> float:
    """The s^loc whose expected error is ``error`` (the inverse of :func:`predict`, knee form)."""
    alpha, knee = model["alpha"], model["knee"]
    if knee <= 0 or error <= alpha * knee:
        return float(error / alpha)
    return float(knee * (error / (alpha * knee)) ** (1.0 / model["b"]))


def bound(model: dict, s) -> np.ndarray:
    """The conformal upper bound c_q e(s) (twin of UQErrorModel::bound).

    With ``bound_split`` > 0, s above it (the calibration's top decile) has its own factor
    ``bound_factor_high``: conformal within each group (Mondrian), so the bound holds for q of
    the top decile too and not only on average.
    """
    s = np.asarray(s, dtype=float)
    split = model.get("bound_split", 0.0)
    factor = model["bound_factor"]
    if split > 0:
        factor = np.where(s > split, model["bound_factor_high"], factor)
    return factor * predict(model, s)


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


def fit_model(e, s, q: float = DEFAULT_Q, form: str = "knee") -> dict:
    """The error model (``knee`` or ``power``), its conformal factor and the s range it saw."""
    if form == "power":
        a, b = fit_power(e, s)
        model = {"form": "power", "a": a, "b": b}
    else:
        model = best_knee(e, s)
    predicted = predict(model, s)
    split = float(np.quantile(s, TOP_DECILE))
    high = s > split
    if high.sum() >= math.ceil(q / (1 - q)):
        model.update(bound_factor=conformal_factor(e[~high], predicted[~high], q),
                     bound_split=split,
                     bound_factor_high=conformal_factor(e[high], predicted[high], q))
    else:  # too few in the top decile for its own quantile: one factor for all
        model.update(bound_factor=conformal_factor(e, predicted, q), bound_split=0.0,
                     bound_factor_high=0.0)
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


def fold_models(e, s, frame_index, q: float = DEFAULT_Q, form: str = "knee") -> dict:
    """{fold: model fitted on the other fold}: the model that judges each fold held out."""
    fold = two_fold(frame_index)
    models = {}
    for k in (0, 1):
        train = fold != k
        if not train.any() or train.all():
            raise InputError(f"calibrate: {int(train.sum())} calibration and "
                             f"{int((~train).sum())} held-out neighbourhoods; expected at least "
                             "2 labelled frames in a set")
        models[k] = fit_model(e[train], s[train], q, form)
    return models


def held_out(e, s, frame_of, models) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, bound) of every neighbourhood by the model of the other fold."""
    fold = two_fold(frame_of)
    predicted, upper = np.empty_like(e), np.empty_like(e)
    for k, model in models.items():
        test = fold == k
        predicted[test], upper[test] = predict(model, s[test]), bound(model, s[test])
    return predicted, upper


def cross_validate(e, s, frame_of, q: float = DEFAULT_Q) -> dict:
    """Fit on one fold of frames, judge on the other, both ways; the held-out neighbourhoods pooled.

    Returns the held-out summaries of the knee model with its bound and of the constant α
    (Eq. 3 on the other fold, bound by the same conformal rule), and the MAD of the pure power
    law and of the isotonic fit: the alternatives, measured.
    """
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    fold = two_fold(frame_of)
    model, model_up = held_out(e, s, frame_of, fold_models(e, s, frame_of, q))
    power, _ = held_out(e, s, frame_of, fold_models(e, s, frame_of, q, "power"))
    const, const_up, iso = np.empty_like(e), np.empty_like(e), np.empty_like(e)
    for k in (0, 1):
        train, test = fold != k, fold == k
        alpha = e[train].mean() / s[train].mean()
        factor = conformal_factor(e[train], alpha * s[train], q)
        const[test], const_up[test] = alpha * s[test], factor * alpha * s[test]
        iso[test] = predict_isotonic(fit_isotonic(e[train], s[train]), s[test])
    return {"model": summary(e, s, model, model_up),
            "constant_alpha": summary(e, s, const, const_up),
            "power_mad": float(np.abs(power - e).mean()),
            "isotonic_mad": float(np.abs(iso - e).mean())}


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
    """Knee model and bound at every local level on all frames; held-out report by two folds."""
    check_q(q)
    models, reports = {}, {}
    for level in local_levels(sets):
        e, s, index = local_arrays(sets, level)
        radius = level.split()[1]
        models[radius] = fit_model(e, s, q)
        # a held-out report needs frames in both folds: one frame per set gives the fit only
        both = len(np.unique(two_fold(index))) == 2
        reports[radius] = cross_validate(e, s, index, q) if both else None
    return {"form": "knee", "q": float(q), "local": models, "held_out": reports,
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
    """The error model at ``rcut``: every parameter interpolated linearly in the recorded radii.

    None without a calibration; a calibration without an error model (written before it
    existed) gives its constant α: knee 0, no bound (factor 0), no s_max (0).
    """
    if not calibration:
        return None
    local = (calibration.get("error_model") or {}).get("local")
    table = local or {r: {"alpha": a, "knee": 0.0, "b": 1.0, "bound_factor": 0.0,
                          "bound_split": 0.0, "bound_factor_high": 0.0, "s_max": 0.0}
                      for r, a in (calibration.get("alpha_local") or {}).items()}
    if not table:
        return None
    radii = sorted(table, key=float)
    r = [float(k) for k in radii]
    model = {key: float(np.interp(rcut, r, [float(table[k].get(key, 0.0)) for k in radii]))
             for key in PARAMETERS}
    return {"form": "knee", **model}
