"""The checks of the default committee's error model (issue 23), written by :mod:`.recalibrate`.

- ``untouched``: the shipped model (rcut 4 Å) on ``anomalies_untouched.extxyz``, frames whose
  anomaly kinds and seeds the calibration never held (:mod:`.anomalies_untouched`), used only
  here: per frame the coverage of the bound and, at the frame's top-s^loc atom, the true local
  error (Eq. 9), the prediction and their ratio; overall coverage by frame with its standard
  error, pooled coverage with its cluster-robust one;
- ``calibration_held_out``: two folds of MD runs of the calibration frames, each judged by the
  model fitted and calibrated on the other (:func:`lammps_uq.science.conformal.cross_validate`),
  coverage per set and per frame;
- ``tail``: e(s) and the bound at 1, 2 and 5 times the largest fitted s^loc, and the exponent's
  leave-one-frame-out range.
"""

from __future__ import annotations

import numpy as np

RADIUS = "4"
FACTOR = 2.0


def top_atom_rows(frames, levels, model) -> list[dict]:
    """Per frame: coverage of the bound, and true vs predicted local error at its top s^loc."""
    from ...science.error_model import bound, extrapolates, predict

    rows = []
    for atoms, lv in zip(frames, levels):
        e, s = lv[f"local {RADIUS}"]
        top = int(np.argmax(s))
        predicted = float(predict(model, s[top]))
        rows.append({"kind": str(atoms.info.get("anomaly", atoms.info.get("kind", ""))),
                     "strength": float(atoms.info.get("strength", 0.0)),
                     "atoms": len(atoms), "coverage": float(np.mean(e <= bound(model, s))),
                     "top_s_loc": float(s[top]), "top_true_error": float(e[top]),
                     "top_predicted": predicted, "top_bound": float(bound(model, s[top])),
                     "ratio_true_over_predicted": float(e[top] / predicted),
                     "top_extrapolated": bool(extrapolates(model, s[top]))})
    return rows


def untouched(frames, levels, model) -> dict:
    """The shipped model on frames it never saw (issue 23's acceptance numbers)."""
    from ...science.conformal import coverage
    from ...science.error_model import bound

    rows = top_atom_rows(frames, levels, model)
    ratios = np.array([r["ratio_true_over_predicted"] for r in rows])
    e = np.concatenate([lv[f"local {RADIUS}"][0] for lv in levels])
    s = np.concatenate([lv[f"local {RADIUS}"][1] for lv in levels])
    frame = np.concatenate([np.full(len(lv[f"local {RADIUS}"][0]), k)
                            for k, lv in enumerate(levels)])
    return {"rcut": float(RADIUS), "frames": rows,
            "within_factor_2": int(((ratios >= 1 / FACTOR) & (ratios <= FACTOR)).sum()),
            "underestimated": int((ratios > 1).sum()), "overestimated": int((ratios < 1).sum()),
            "n_frames": len(rows), "coverage": coverage(e, bound(model, s), frame)}


def calibration_held_out(sets, units, q: float) -> dict:
    """Cross-validated coverage by folds of MD runs, per set and per frame, at rcut 4."""
    from ...science.conformal import coverage, held_out_bounds, local_arrays

    e, s, frame = local_arrays(sets, f"local {RADIUS}")
    every = [unit for name, _ in sets for unit in units[name]]
    _, upper = held_out_bounds(e, s, frame, every, q)
    names = np.array([name for name, frames in sets for _ in frames])[frame]
    per_set = {name: coverage(e[names == name], upper[names == name], frame[names == name])
               for name, _ in sets}
    per_frame = [{"set": str(names[frame == k][0]), "unit": list(every[k]),
                  "coverage": float(np.mean(e[frame == k] <= upper[frame == k]))}
                 for k in np.unique(frame)]
    return {"overall": coverage(e, upper, frame), "per_set": per_set, "per_frame": per_frame}


def tail(model: dict) -> dict:
    """e(s) and the bound past the largest fitted s^loc: linear, not the power law."""
    from ...science.error_model import bound, predict

    s_max = model["s_max"]
    rows = [{"times_s_max": k, "s_loc": k * s_max, "estimate": float(predict(model, k * s_max)),
             "bound": float(bound(model, k * s_max)),
             "power_law_would_say": float(model["alpha"] * model["knee"]
                                          * (k * s_max / model["knee"]) ** model["b"])}
            for k in (1.0, 2.0, 5.0)]
    return {"rows": rows, "b": model["b"],
            "b_leave_one_frame_out": model.get("b_leave_one_frame_out")}
