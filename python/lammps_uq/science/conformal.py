"""A conformal upper bound for s^loc whose guarantee holds as stated: split by frames (issue 23).

Neighbourhoods are not exchangeable: those of one frame overlap and share the frame's bias, so
a quantile over neighbourhoods says little about a new frame. Everything here is split by
**frame**, and frames are assigned by **MD run**:

- :func:`halves`: within each stratum (a set and a kind of frame), the runs alternate between
  the *fit* half, which chooses the form and fits α, the knee and b
  (:func:`lammps_uq.science.error_model.best_knee`), and the *conformal* half, which only sets
  the bound's factors. A run's frames are never on both sides.
- :func:`grouped_factor`: c is the smallest ratio error / e(s) at which the frame-averaged
  empirical CDF of the m conformal frames reaches q (m + 1) / m (each frame weighs 1, however
  many neighbourhoods it has; with one neighbourhood per frame this is the usual
  ⌈(n + 1) q⌉-th order statistic).

**What is guaranteed.** Let F_i(c) be the fraction of frame i's neighbourhoods with
error <= c e(s). If a new frame and the m conformal frames are exchangeable (drawn alike from
the mixture of states the calibration sampled), then E[F_new(c)] >= q: the *expected fraction*
of a new frame's neighbourhoods under the bound is at least q, marginally over frames. Proof:
let c* be the q-quantile of the average CDF of all m + 1 frames; by exchangeability
E[F_new(c*)] = E[mean_i F_i(c*)] >= q, and c >= c* because the m frames' average CDF reaches
q (m + 1) / m at c. Nothing is promised for one given frame, nor for frames unlike the
calibration's (a kind of anomaly it never held): :func:`coverage` measures those.
The top s decile of the fit half has its own factor (Mondrian) when both groups have enough
frames: the same statement, for the neighbourhoods above the split.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .error_model import (DEFAULT_Q, best_knee, bound, check_q, exponent_range, fit_isotonic,
                          fit_power, frame_weights, predict, predict_isotonic)

TOP_DECILE = 0.9


def halves(units) -> np.ndarray:
    """Half (0: fit, 1: conformal) of each frame, given its (stratum, run).

    Within a stratum the runs alternate in order of first appearance; alternate strata start on
    alternate halves, so that both halves hold every stratum with two runs or more.
    """
    strata: dict = {}
    half = []
    for stratum, run in units:
        runs = strata.setdefault(stratum, {})
        if run not in runs:
            runs[run] = (len(runs) + list(strata).index(stratum)) % 2
        half.append(runs[run])
    return np.array(half, dtype=int)


def frame_units(name: str, frames) -> list[tuple]:
    """(stratum, run) of each frame of a set: stratum = the set and ``info['kind']`` (or
    ``info['anomaly']``), run = ``info['run']`` or ``info['md_seed']``, else the frame itself."""
    units = []
    for k, atoms in enumerate(frames):
        info = atoms.info
        kind = info.get("anomaly", info.get("kind", ""))
        run = info.get("run", info.get("md_seed", f"frame {k}"))
        units.append((f"{name}:{kind}", str(run)))
    return units


def needed_frames(q: float) -> int:
    """The fewest frames for which a q bound exists: q (m + 1) / m <= 1."""
    return math.ceil(q / (1.0 - q) - 1e-9)


def grouped_factor(ratios, frames, q: float = DEFAULT_Q) -> float:
    """The smallest ratio at which the frame-averaged CDF reaches q (m + 1) / m (see above)."""
    check_q(q)
    ratios, frames = np.asarray(ratios, dtype=float), np.asarray(frames)
    m = len(np.unique(frames))
    if m < needed_frames(q):
        raise InputError(f"--quantile: q = {q} needs at least {needed_frames(q)} calibration "
                         f"frames in the conformal half; got {m}")
    order = np.argsort(ratios, kind="mergesort")
    cumulative = np.cumsum(frame_weights(frames)[order] / m)
    k = int(np.searchsorted(cumulative, q * (m + 1) / m - 1e-12))
    return float(ratios[order][min(k, len(ratios) - 1)])


def _factors(e, s, frames, model: dict, split: float, q: float) -> dict:
    """Bound factors on the conformal half: Mondrian above/below ``split`` when both groups
    have enough frames, else one factor for all."""
    ratios = e / predict(model, s)
    high = s > split
    need = needed_frames(q)
    if (len(np.unique(frames[high])) >= need and len(np.unique(frames[~high])) >= need):
        return {"bound_factor": grouped_factor(ratios[~high], frames[~high], q),
                "bound_split": float(split),
                "bound_factor_high": grouped_factor(ratios[high], frames[high], q)}
    return {"bound_factor": grouped_factor(ratios, frames, q), "bound_split": 0.0,
            "bound_factor_high": 0.0}


def fit_model(e, s, frames=None, half=None, q: float = DEFAULT_Q, form: str = "knee") -> dict:
    """The error model fitted on the fit half and its bound factors on the conformal half.

    ``frames``: each neighbourhood's frame (default: each its own); ``half``: each
    neighbourhood's half (0 fit, 1 conformal; default: frames alternate). With too few frames
    for a bound, the form is fitted on everything and the model has no bound.
    """
    check_q(q)
    e, s = np.asarray(e, dtype=float), np.asarray(s, dtype=float)
    frames = np.arange(len(e)) if frames is None else np.asarray(frames)
    if half is None:
        rank = {f: i for i, f in enumerate(dict.fromkeys(frames.tolist()))}
        half = np.array([rank[f] % 2 for f in frames.tolist()])
    fit = np.asarray(half) == 0
    enough = fit.any() and len(np.unique(frames[~fit])) >= needed_frames(q)
    if not enough:
        fit = np.ones(len(e), dtype=bool)
    if form == "power":
        a, b = fit_power(e[fit], s[fit])
        model = {"form": "power", "a": a, "b": b}
    else:
        model = best_knee(e[fit], s[fit], frames=frames[fit])
        model["b_leave_one_frame_out"] = exponent_range(e[fit], s[fit], frames[fit],
                                                        model["knee"])
    model.update(s_min=float(s[fit].min()), s_max=float(s[fit].max()))
    if enough:
        model.update(_factors(e[~fit], s[~fit], frames[~fit], model,
                              float(np.quantile(s[fit], TOP_DECILE)), q))
    else:
        model.update(bound_factor=0.0, bound_split=0.0, bound_factor_high=0.0,
                     bound_note=f"no bound: q = {q} needs {needed_frames(q)} frames in the "
                                f"conformal half (runs alternate); got "
                                f"{len(np.unique(frames))} frames in all")
    model.update(q=float(q), count=int(len(s)), fit_frames=int(len(np.unique(frames[fit]))),
                 conformal_frames=0 if fit.all() else int(len(np.unique(frames[~fit]))))
    return model


def coverage(e, upper, frames) -> dict:
    """Coverage of a bound by frame: the mean over frames of each frame's covered fraction (the
    quantity guaranteed >= q) with its standard error over frames, and the pooled fraction with
    its cluster-robust standard error (clusters: frames)."""
    covered = np.asarray(e, dtype=float) <= np.asarray(upper, dtype=float)
    frames = np.asarray(frames)
    ids, inverse = np.unique(frames, return_inverse=True)
    n = np.bincount(inverse).astype(float)
    c = np.bincount(inverse, weights=covered.astype(float))
    per_frame, m, pooled = c / n, len(ids), float(covered.mean())
    spread = math.sqrt(m / (m - 1) * ((c - pooled * n) ** 2).sum()) / n.sum() if m > 1 else None
    return {"frames": int(m), "frame_mean": float(per_frame.mean()),
            "frame_mean_se": float(per_frame.std(ddof=1) / math.sqrt(m)) if m > 1 else None,
            "frame_min": float(per_frame.min()), "pooled": pooled, "pooled_se": spread,
            "frames_below_0.8": int((per_frame < 0.8).sum())}


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


def summary(e, s, predicted, upper, frames) -> dict:
    e, predicted, upper = (np.asarray(v, dtype=float) for v in (e, predicted, upper))
    return {"count": int(len(e)), "mae": float(e.mean()),
            "mad": float(np.abs(predicted - e).mean()),
            "coverage": coverage(e, upper, frames),
            "deciles": decile_table(e, s, predicted, upper)}


def _inner_halves(frames, units) -> np.ndarray:
    """The halves of the frames present in ``frames`` (the training side of a fold)."""
    present = sorted(set(np.asarray(frames).tolist()))
    inner = dict(zip(present, halves([units[f] for f in present])))
    return np.array([inner[f] for f in np.asarray(frames).tolist()])


def held_out_bounds(e, s, frames, units, q: float = DEFAULT_Q) -> tuple:
    """(prediction, bound) of every neighbourhood by the knee model of the other fold of runs
    (:func:`halves`), fitted and calibrated by halves inside that fold."""
    e, s, frames = np.asarray(e, dtype=float), np.asarray(s, dtype=float), np.asarray(frames)
    fold = halves(units)[frames]
    predicted, upper = np.zeros_like(e), np.zeros_like(e)
    for k in (0, 1):
        train, test = fold != k, fold == k
        model = fit_model(e[train], s[train], frames[train],
                          _inner_halves(frames[train], units), q)
        predicted[test], upper[test] = predict(model, s[test]), bound(model, s[test])
    return predicted, upper


def cross_validate(e, s, frames, units, q: float = DEFAULT_Q) -> dict:
    """Two folds of runs (:func:`halves`): each fold judged by the models of the other.

    The knee model with its bound (:func:`held_out_bounds`), the constant α (Eq. 3, bound by
    the same grouped rule), the power law and the isotonic fit. ``frames``: each
    neighbourhood's frame (an index into ``units``).
    """
    e, s, frames = np.asarray(e, dtype=float), np.asarray(s, dtype=float), np.asarray(frames)
    fold = halves(units)[frames]
    model, model_up = held_out_bounds(e, s, frames, units, q)
    out = {key: np.zeros_like(e) for key in ("const", "const_up", "power", "iso")}
    for k in (0, 1):
        train, test = fold != k, fold == k
        inner = _inner_halves(frames[train], units)
        power = fit_model(e[train], s[train], frames[train], inner, q, "power")
        out["power"][test] = predict(power, s[test])
        fit, cal = inner == 0, inner == 1
        alpha = e[train][fit].mean() / s[train][fit].mean()
        factor = grouped_factor(e[train][cal] / (alpha * s[train][cal]), frames[train][cal], q)
        out["const"][test], out["const_up"][test] = alpha * s[test], factor * alpha * s[test]
        out["iso"][test] = predict_isotonic(fit_isotonic(e[train][fit], s[train][fit]), s[test])
    return {"model": summary(e, s, model, model_up, frames),
            "constant_alpha": summary(e, s, out["const"], out["const_up"], frames),
            "power_mad": float(np.abs(out["power"] - e).mean()),
            "isotonic_mad": float(np.abs(out["iso"] - e).mean())}


def local_arrays(sets, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e, s, frame) of one level over ``sets`` = [(name, [levels])]; frames are numbered
    across the sets in order."""
    e, s, index, k = [], [], [], 0
    for _, frames in sets:
        for levels in frames:
            e.append(levels[level][0]), s.append(levels[level][1])
            index.append(np.full(len(levels[level][0]), k))
            k += 1
    return np.concatenate(e), np.concatenate(s), np.concatenate(index)


def local_levels(sets) -> list[str]:
    return [name for name in sets[0][1][0] if name.startswith("local ")]


def fit_error_models(sets, q: float = DEFAULT_Q, units=None) -> dict:
    """Knee model and bound at every local level, split by runs (:func:`halves`); the held-out
    report by two folds of runs. ``units``: {set name: [(stratum, run) per frame]} (default:
    each frame its own run, one stratum per set)."""
    check_q(q)
    units = units or {}
    every = [unit for name, frames in sets
             for unit in units.get(name, [(name, f"frame {k}") for k in range(len(frames))])]
    half_of_frame = halves(every)
    models, reports = {}, {}
    for level in local_levels(sets):
        e, s, frames = local_arrays(sets, level)
        radius = level.split()[1]
        models[radius] = fit_model(e, s, frames, half_of_frame[frames], q)
        reports[radius] = _report(e, s, frames, every, q)
    return {"form": "knee", "q": float(q), "split": "by MD run within each set and kind "
            "(science.conformal.halves)", "local": models, "held_out": reports,
            "sets": set_coverage(sets)}


def _report(e, s, frames, units, q):
    """The cross-validated report, or why there is none (too few runs for two folds)."""
    try:
        if len(set(halves(units)[np.unique(frames)].tolist())) < 2:
            raise InputError("one fold is empty")
        return cross_validate(e, s, frames, units, q)
    except InputError as exc:
        return {"none": f"no held-out report: {exc}"}


def set_coverage(sets) -> list[dict]:
    """Per labelled set and radius: frames, s^loc min / median / max, share of the pooled log
    range."""
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
