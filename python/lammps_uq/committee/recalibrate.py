"""Recalibrate the default committee with anomaly frames: ``python -m lammps_uq.committee.recalibrate``.

The last stage after :mod:`.train_default` and :mod:`.anomalies`. It evaluates the shipped
members on the shipped held-out ``test.extxyz`` (equilibrium and hot, dense or sparse frames)
and on the xTB-labelled anomaly frames, and writes into the committee's folder:

- ``calibration.json``: α per level (Eq. 3, all frames) and the error model e = a s^b with its
  conformal bound at every rcut (:mod:`lammps_uq.science.error_model`);
- ``anomalies.extxyz``: the anomaly frames (positions, REF_forces, the anomaly mask);
- ``provenance.json``: a ``calibration`` section with the s^loc range of each set and the
  held-out checks of issue 16 (two folds of frames, each judged by the model of the other):
  true / predicted local error at the top-s^loc atom of each anomaly frame, with the new model
  and with the old constant α; coverage of the bound overall and in the top s^loc decile; the
  mean absolute deviation of predicted vs true per-frame error on the equilibrium frames.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .train_default import PACKAGE_DIR

RADIUS = "4"


def committee_levels(frames, paths, rcuts, cache: Path | None = None):
    """Each frame's levels; the members' forces are kept in ``cache`` (npz) when given."""
    from .calculator import CommitteeCalculator
    from ..science.calibrate import committee_forces, per_frame

    forces = []
    if cache is not None and cache.exists():
        stored = np.load(cache)
        forces = [stored[f"f{k}"] for k in range(len(stored.files))][:len(frames)]
    if len(forces) < len(frames):
        calculator = CommitteeCalculator([str(p) for p in paths])
        forces += committee_forces(frames[len(forces):], calculator)
        if cache is not None:
            np.savez(cache, **{f"f{k}": f for k, f in enumerate(forces)})
    return per_frame(frames, forces, rcuts)


def frame_checks(frames, levels, models, alphas, alpha_old: float, anomaly: bool,
                 final: dict) -> list[dict]:
    """Per frame, with the model of the other fold: top-s^loc ratios, per-frame errors."""
    from ..science.error_model import predict, two_fold

    rows = []
    for k, (atoms, lv) in enumerate(zip(frames, levels)):
        model = models[int(two_fold(k))]
        e_loc, s_loc = lv[f"local {RADIUS}"]
        e_atom, s_atom = lv["atoms"]
        top = int(np.argmax(s_loc))
        row = {"frame": k, "kind": str(atoms.info.get("anomaly", atoms.info.get("kind", ""))),
               "top_s_loc": float(s_loc[top]), "top_true_error": float(e_loc[top]),
               "ratio_new": float(e_loc[top] / predict(model, s_loc[top])),
               "ratio_old": float(e_loc[top] / (alpha_old * s_loc[top])),
               "ratio_final_in_sample": float(e_loc[top] / predict(final, s_loc[top])),
               "frame_error": float(e_atom.mean()),
               "frame_predicted_new": float(predict(model, s_loc).mean()),
               "frame_predicted_old": float(alpha_old * s_atom.mean()),
               "frame_predicted_alpha_crossfit": float(alphas[int(two_fold(k))] * s_atom.mean())}
        if anomaly:
            row.update(strength=float(atoms.info["strength"]),
                       top_atom_in_anomaly=bool(_near_anomaly(atoms, top)))
        rows.append(row)
    return rows


def _near_anomaly(atoms, index: int, within: float = 4.0) -> bool:
    moved = np.flatnonzero(atoms.arrays["anomaly"])
    return bool(atoms.get_distances(index, moved, mic=True).min() <= within)


def checks(sets, frames_of, q: float, alpha_old: float, final: dict) -> dict:
    """The held-out numbers of issue 16 at rcut 4 (two folds of frames)."""
    from ..science.error_model import (cross_validate, fold_models, held_out, local_arrays,
                                       two_fold)

    e, s, index = local_arrays(sets, f"local {RADIUS}")
    models = fold_models(e, s, index, q)
    report = cross_validate(e, s, index, q)
    _, upper = held_out(e, s, index, models)
    top = s >= np.quantile(s, 0.99)
    fold = two_fold(index)
    alphas = {k: float(e[fold != k].sum() / s[fold != k].sum()) for k in (0, 1)}
    per_set = {name: frame_checks(frames_of[name], levels, models, alphas, alpha_old,
                                  name == "anomalies.extxyz", final) for name, levels in sets}
    anomalies = per_set.get("anomalies.extxyz", [])
    test = per_set["test.extxyz"]

    def mad(rows):
        return {key: float(np.mean([abs(r[f"frame_predicted_{key}"] - r["frame_error"])
                                    for r in rows])) for key in ("new", "old", "alpha_crossfit")}

    within = [0.5 <= r["ratio_new"] <= 2.0 for r in anomalies]
    return {
        "rcut": float(RADIUS), "q": q, "alpha_old": alpha_old,
        "anomaly_frames_ratio_within_0.5_2": f"{sum(within)} of {len(within)}",
        "anomaly_frames_ratio_within_0.5_2_old_alpha":
            f"{sum(0.5 <= r['ratio_old'] <= 2.0 for r in anomalies)} of {len(anomalies)}",
        "anomaly_frames_ratio_within_0.5_2_final_in_sample":
            f"{sum(0.5 <= r['ratio_final_in_sample'] <= 2.0 for r in anomalies)} of {len(anomalies)}",
        "coverage_overall": report["model"]["coverage"],
        "coverage_top_decile": report["model"]["deciles"][-1]["coverage"],
        "coverage_top_decile_constant_alpha": report["constant_alpha"]["deciles"][-1]["coverage"],
        "coverage_top_percentile": float((e[top] <= upper[top]).mean()),
        "count_top_percentile": int(top.sum()),
        "local_mad": {"knee": report["model"]["mad"], "power": report["power_mad"],
                      "constant_alpha": report["constant_alpha"]["mad"],
                      "isotonic": report["isotonic_mad"]},
        "per_frame_mad_training_conditions": mad([r for r in test if r["kind"] == "training"]),
        "per_frame_mad_whole_test_set": mad(test), "deciles": report["model"]["deciles"],
        "anomaly_frames": anomalies,
    }


def slim_anomalies(frames):
    for atoms in frames:
        for key in list(atoms.arrays):
            if key not in ("numbers", "positions", "REF_forces", "anomaly"):
                del atoms.arrays[key]
        keep = ("REF_energy", "kind", "anomaly", "strength", "centre", "md_seed", "density",
                "temperature")
        atoms.info = {k: v for k, v in atoms.info.items() if k in keep}
    return frames


def recalibrate(anomalies: Path, out: Path, q: float = 0.9, cache: Path | None = None) -> dict:
    import ase.io

    from . import anomalies as recipe
    from .train_default import XTB
    from ..science.calibrate import DEFAULT_RCUTS, fit, pool, write_calibration
    from ..science.error_model import fit_error_models
    from ..science.plots import plot_calibration

    paths = sorted(out.glob("member_*.model"))
    old = json.loads((out / "calibration.json").read_text())
    frames_of = {"test.extxyz": ase.io.read(out / "test.extxyz", ":"),
                 "anomalies.extxyz": slim_anomalies(ase.io.read(anomalies, ":"))}
    sets = [(name, committee_levels(frames, paths, DEFAULT_RCUTS,
                                    cache and cache / f"forces_{name}.npz"))
            for name, frames in frames_of.items()]
    levels = pool([lv for _, frame_levels in sets for lv in frame_levels])
    result = fit(levels, len(paths))
    result["error_model"] = fit_error_models(sets, q)
    alpha_old = float(old.get("alpha_local_before_anomalies", old["alpha_local"])[RADIUS])
    result["alpha_local_before_anomalies"] = {k: float(v) for k, v in
                                              old.get("alpha_local_before_anomalies",
                                                      old["alpha_local"]).items()}
    report = checks(sets, frames_of, q, alpha_old, result["error_model"]["local"][RADIUS])
    ase.io.write(out / "anomalies.extxyz", frames_of["anomalies.extxyz"])
    write_calibration(result, out, frames="test.extxyz, anomalies.extxyz",
                      n_frames=sum(len(f) for f in frames_of.values()))
    plot_calibration(levels, result, out / "calibration.png")
    provenance = json.loads((out / "provenance.json").read_text())
    provenance["alpha"] = {"structure": result["alpha_structure"], "atom": result["alpha_atom"],
                           "local": result["alpha_local"], "default": result["alpha_default"]}
    provenance["calibration"] = {
        "made_by": "python -m lammps_uq.committee.recalibrate", "date": time.strftime("%Y-%m-%d"),
        "sets": {"test.extxyz": "the held-out test set (see data.test_set)",
                 "anomalies.extxyz": {"made_by": "python -m lammps_uq.committee.anomalies",
                                      "anomalies": recipe.ANOMALIES, "md": recipe.MD,
                                      "md_seeds": recipe.MD_SEEDS, "labels": XTB,
                                      "n_frames": len(frames_of["anomalies.extxyz"])}},
        "s_loc_coverage": [r for r in result["error_model"]["sets"]
                           if r["level"] == f"local {RADIUS}"],
        "error_model_rcut_4": result["error_model"]["local"][RADIUS],
        "held_out_checks": report,
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance["calibration"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lammps_uq.committee.recalibrate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--anomalies", type=Path, default=Path("anomalies_work/anomalies.extxyz"),
                        help="xTB-labelled anomaly frames (python -m lammps_uq.committee.anomalies)")
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR, help="the committee's folder")
    parser.add_argument("--quantile", type=float, default=0.9, help="q of the conformal bound")
    parser.add_argument("--cache", type=Path, help="folder keeping the members' forces between runs")
    args = parser.parse_args(argv)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    summary = recalibrate(args.anomalies, args.out, args.quantile, args.cache)
    report = dict(summary["held_out_checks"])
    for key in ("deciles", "anomaly_frames"):
        report.pop(key)
    print(json.dumps({"coverage": summary["s_loc_coverage"], "model": summary["error_model_rcut_4"],
                      "checks": report}, indent=2))
    for row in summary["held_out_checks"]["anomaly_frames"]:
        print(f"{row['kind']:>8} {row['strength']:5.2f} top s_loc {row['top_s_loc']:.4f} "
              f"true {row['top_true_error']:.4f} ratio new {row['ratio_new']:.2f} "
              f"old {row['ratio_old']:.2f} final {row['ratio_final_in_sample']:.2f} "
              f"in anomaly {row['top_atom_in_anomaly']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
