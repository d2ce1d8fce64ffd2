"""An s-dependent error model e(s) for s^loc (issues 16 and 23): its form and its prediction.

A single α (Eq. 3) reads error = α · s. Where the committee extrapolates, the error grows
faster than s (paper Fig. 3d: α rises from 0.93 to 1.21 from mild to strong extrapolation),
so the calibration also fits the **knee model**: e(s) = α s up to the knee (of the
calibration's s quantiles KNEE_QUANTILES, the one with the least relative deviation), where
Eq. 3 holds and α is the ratio of the means there; beyond it e(s) = α knee (s / knee)^b, b the
weighted least-squares slope (through the knee point) of log(mean e) on log(mean s), one
point per frame and bin of equal width in log s. Every frame weighs 1 in total (a point
weighs its share of the frame's neighbourhoods above the knee), and a bin counts only with
neighbourhoods of MIN_FRAMES_PER_BIN frames or more, so that no single frame decides b however
many bins its neighbourhoods fill (issue 23: one hot frame filled 7 of 12).

Past ``s_max``, the largest s^loc the form was fitted on, nothing is known about the law:
e(s) continues **linearly**, e(s_max) · s / s_max, not with the power b, and ``fix uq``
counts the atoms there (f_ID[11]). The conformal bound c_q · e(s) and the grouped split that
makes it valid are in :mod:`.conformal`.

Why not the alternatives: a power law a s^b over the whole range (:func:`fit_power`) lets the
bulk's weak error-uncertainty relation set b and worsens the per-frame error estimate of
equilibrium frames; isotonic regression (:func:`fit_isotonic`) is flat beyond the largest s
seen, exactly where the error keeps growing. Both are measured in the held-out report.
Between two calibrated radii, :func:`model_at` blends the two **predictions** (never the
parameters one by one), so e(s) stays continuous and monotone in s at every rcut.
:func:`predict` and :func:`bound` are the twins of ``lmp_plugin/uq_error_model.h``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

DEFAULT_Q = 0.9
DEFAULT_BINS = 12
DEFAULT_KNEE = 0.9
KNEE_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995)
# one calibrated curve as fix uq reads it (lmp_plugin/uq_error_model.h)
CURVE = ("alpha", "knee", "b", "bound_factor", "bound_split", "bound_factor_high", "s_max")
# what the bridge hands fix uq: the blend weight t, then the curves of the radii below and above
PARAMETERS = ("t",) + tuple(f"lower_{k}" for k in CURVE) + tuple(f"upper_{k}" for k in CURVE)
MIN_PER_BIN = 5
MIN_FRAMES_PER_BIN = 3   # a bin that one or two frames fill says nothing of the law


def log_bins(log_s, low: float, bins: int) -> np.ndarray:
    """The bin (0..bins-1) of each log s among ``bins`` of equal width from ``low`` to the max."""
    edges = np.linspace(low, log_s.max(), bins + 1)
    return np.clip(np.searchsorted(edges, log_s, side="right") - 1, 0, bins - 1)


def fit_power(e, s, bins: int = DEFAULT_BINS) -> tuple[float, float]:
    """(a, b) of e = a · s^b: slope from binned means in log s, scale from Σ e = a Σ s^b."""
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    _check_pairs(e, s)
    log_s = np.log(s)
    which = log_bins(log_s, log_s.min(), bins)
    x, y = [], []
    for k in range(bins):
        inside = which == k
        if inside.sum() >= MIN_PER_BIN and e[inside].mean() > 0:
            x.append(np.log(s[inside].mean()))
            y.append(np.log(e[inside].mean()))
    b = float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else 1.0
    return float(e.sum() / np.sum(s ** b)), b


def frame_weights(frames) -> np.ndarray:
    """1 / (the number of entries of the same frame): every frame weighs 1 in total."""
    _, inverse, counts = np.unique(np.asarray(frames), return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def fit_knee(e, s, knee_quantile: float = DEFAULT_KNEE, bins: int = DEFAULT_BINS,
             frames=None) -> dict:
    """α below the knee (Eq. 3 there), the power b above it, continuous at the knee.

    knee: the ``knee_quantile`` of s; α = Σe / Σs over s <= knee; b: the weighted
    least-squares slope through the knee point of y = log(mean e / (α knee)) on
    x = log(mean s / knee), one point per frame and bin of equal width in log s above the knee
    (bins with >= MIN_PER_BIN neighbourhoods from >= MIN_FRAMES_PER_BIN frames), weighted by
    the frame's share of its neighbourhoods above the knee: every frame weighs 1 in total.
    ``frames``: each neighbourhood's frame (default: each its own).
    """
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    _check_pairs(e, s)
    frames = np.arange(len(e)) if frames is None else np.asarray(frames)
    knee = float(np.quantile(s, knee_quantile))
    below = s <= knee
    alpha = float(e[below].sum() / s[below].sum())
    x, y, w = _tail_points(e[~below], s[~below], frames[~below], knee, alpha, bins)
    b = float((w * x * y).sum() / (w * x * x).sum()) if len(x) and (x * x).sum() > 0 else 1.0
    return {"form": "knee", "alpha": alpha, "knee": knee, "b": b}


def _tail_points(e, s, frames, knee: float, alpha: float, bins: int):
    """(x, y, weight) of every (frame, bin) cell above the knee (see :func:`fit_knee`)."""
    x, y, w = [], [], []
    if not len(e):
        return np.array(x), np.array(y), np.array(w)
    which = log_bins(np.log(s / knee), 0.0, bins)
    share = frame_weights(frames)
    for k in range(bins):
        inside = which == k
        if inside.sum() < MIN_PER_BIN or len(np.unique(frames[inside])) < MIN_FRAMES_PER_BIN:
            continue
        for frame in np.unique(frames[inside]):
            cell = inside & (frames == frame)
            if e[cell].mean() > 0:
                x.append(np.log(s[cell].mean() / knee))
                y.append(np.log(e[cell].mean() / (alpha * knee)))
                w.append(share[cell].sum())
    return np.array(x), np.array(y), np.array(w)


def best_knee(e, s, quantiles=KNEE_QUANTILES, frames=None) -> dict:
    """The knee model whose knee (one of the s ``quantiles``) gives the least Σ|e - e(s)| / e(s).

    Relative deviations, so that a few neighbourhoods with errors of eV/Å (a broken molecule)
    do not pull the knee into the bulk, where α s describes the errors.
    """
    fits = [fit_knee(e, s, k, frames=frames) for k in quantiles]
    deviations = [(np.abs(predict(m, s) - e) / predict(m, s)).sum() for m in fits]
    return fits[int(np.argmin(deviations))]


def exponent_range(e, s, frames, knee: float) -> dict:
    """b refitted without each frame in turn (the knee kept): min, max and the frame that moves
    b most. A wide range says the tail rests on few frames."""
    e, s, frames = np.asarray(e, float), np.asarray(s, float), np.asarray(frames)
    quantile = float((s <= knee).mean())
    values = {}
    if len(np.unique(frames)) < 2:  # nothing is left without the only frame
        return {"b_min": None, "b_max": None, "frames": 0, "most_influential": None}
    for frame in np.unique(frames[s > knee]):
        keep = frames != frame
        values[frame] = fit_knee(e[keep], s[keep], quantile, frames=frames[keep])["b"]
    if not values:
        return {"b_min": None, "b_max": None, "frames": 0, "most_influential": None}
    full = fit_knee(e, s, quantile, frames=frames)["b"]
    worst = max(values, key=lambda f: abs(values[f] - full))
    return {"b_min": float(min(values.values())), "b_max": float(max(values.values())),
            "frames": len(values), "most_influential": worst.item() if hasattr(worst, "item")
            else worst}


def _check_pairs(e, s):
    if len(e) != len(s) or len(e) < 2 or np.any(s <= 0) or np.any(e < 0):
        raise InputError(f"error model: got {len(e)} errors and {len(s)} uncertainties; expected "
                         "as many of each (>= 2), uncertainties > 0 and errors >= 0")


def _law(model: dict, s: np.ndarray) -> np.ndarray:
    """The fitted law without the tail: knee (α s, then α knee (s/knee)^b) or power a s^b."""
    if model.get("form", "power") == "power":
        return model["a"] * s ** model["b"]
    alpha, knee = model["alpha"], model["knee"]
    if knee <= 0:
        return alpha * s
    return np.where(s > knee, alpha * knee * (np.maximum(s, knee) / knee) ** model["b"],
                    alpha * s)


def predict(model: dict, s) -> np.ndarray:
    """The expected error (twin of UQErrorModel::estimate).

    ``knee``: α s up to the knee, α knee (s / knee)^b beyond (knee 0: α s throughout);
    ``power``: a s^b; past ``s_max`` (> 0) linear: e(s_max) s / s_max; ``blend``: (1 - t)
    lower + t upper, the curves of the calibrated radii around rcut (:func:`model_at`).
    """
    s = np.asarray(s, dtype=float)
    if model.get("form") == "blend":
        return (1.0 - model["t"]) * predict(model["lower"], s) + model["t"] * predict(
            model["upper"], s)
    s_max = float(model.get("s_max", 0.0))
    if s_max <= 0:
        return _law(model, s)
    return np.where(s > s_max, _law(model, np.float64(s_max)) * s / s_max,
                    _law(model, np.minimum(s, s_max)))


def extrapolates(model: dict, s) -> np.ndarray:
    """True where s lies past the calibration (twin of UQErrorModel::extrapolates)."""
    s_max = float(model.get("s_max", 0.0))
    return (s_max > 0) & (np.asarray(s, dtype=float) > s_max)


def s_for_error(model: dict, error: float) -> float:
    """The s^loc whose expected error is ``error`` (the inverse of :func:`predict`, knee form)."""
    alpha, knee, s_max = model["alpha"], model["knee"], float(model.get("s_max", 0.0))
    if s_max > 0 and error > float(predict(model, s_max)):
        return float(s_max * error / float(predict(model, s_max)))
    if knee <= 0 or error <= alpha * knee:
        return float(error / alpha)
    return float(knee * (error / (alpha * knee)) ** (1.0 / model["b"]))


def bound(model: dict, s) -> np.ndarray:
    """The conformal upper bound c_q e(s) (twin of UQErrorModel::bound).

    With ``bound_split`` > 0, s above it has its own factor ``bound_factor_high`` (Mondrian:
    calibrated on the neighbourhoods above the split alone, :mod:`.conformal`).
    """
    s = np.asarray(s, dtype=float)
    if model.get("form") == "blend":
        return (1.0 - model["t"]) * bound(model["lower"], s) + model["t"] * bound(
            model["upper"], s)
    split = model.get("bound_split", 0.0)
    factor = model.get("bound_factor", 0.0)
    if split > 0:
        factor = np.where(s > split, model["bound_factor_high"], factor)
    return factor * predict(model, s)


def check_q(q) -> float:
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0):
        raise InputError(f"--quantile: got {q!r}; expected a number between 0 and 1 (e.g. 0.9)")
    return float(q)


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


def model_at(calibration: dict | None, rcut: float) -> dict | None:
    """The error model at ``rcut``: the blend of the calibrated radii's predictions around it.

    At a calibrated radius (to 1e-9 Å) its curve; between two, ``{"form": "blend", "t", "lower",
    "upper"}`` whose prediction and bound are (1 - t) lower + t upper, t linear in rcut; outside
    the calibrated radii the nearest one. ``alpha`` and ``s_max`` of a blend are blended too
    (f_ID[10] and the extrapolation flag). None without a calibration; a calibration without an
    error model (written before it existed) gives its constant α: knee 0, no bound, no s_max.
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
    curves = [{"form": "knee", **{k: float(table[r].get(k, 0.0)) for k in CURVE}} for r in radii]
    r = np.array([float(k) for k in radii])
    if rcut <= r[0] + 1e-9 or len(r) == 1:
        return curves[0]
    if rcut >= r[-1] - 1e-9:
        return curves[-1]
    k = int(np.searchsorted(r, rcut))
    if abs(r[k] - rcut) <= 1e-9:
        return curves[k]
    t = float((rcut - r[k - 1]) / (r[k] - r[k - 1]))
    lower, upper = curves[k - 1], curves[k]
    return {"form": "blend", "t": t, "lower": lower, "upper": upper,
            "alpha": (1 - t) * lower["alpha"] + t * upper["alpha"],
            "s_max": (1 - t) * lower["s_max"] + t * upper["s_max"]}


def as_parameters(model: dict | None) -> tuple[float, ...]:
    """The model as the bridge hands it to fix uq (``PARAMETERS``): t, then the two curves."""
    if not model:
        return (0.0,) + (0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0) * 2
    if model.get("form") == "blend":
        lower, upper, t = model["lower"], model["upper"], model["t"]
    else:
        lower = upper = model
        t = 0.0
    return (float(t),) + tuple(float(lower.get(k, 0.0)) for k in CURVE) + tuple(
        float(upper.get(k, 0.0)) for k in CURVE)
