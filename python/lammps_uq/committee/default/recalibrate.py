"""Recalibrate the default committee: ``python -m lammps_uq.committee.default.recalibrate``.

The last stage after :mod:`.train`, :mod:`.anomalies`, :mod:`.anomalies_extra` and
:mod:`.anomalies_untouched`. It evaluates the shipped members on the shipped held-out
``test.extxyz`` (equilibrium and hot, dense or sparse frames) and on the two xTB-labelled sets
of anomaly frames (the calibration), and on ``anomalies_untouched.extxyz`` (evaluation only),
and writes into the committee's folder:

- ``calibration.json``: α per level (Eq. 3, all calibration frames) and, at every rcut, the
  error model fitted on one half of the MD runs with its conformal bound calibrated on the
  other half (:mod:`lammps_uq.science.conformal`);
- ``anomalies.extxyz``, ``anomalies_extra.extxyz`` and ``anomalies_untouched.extxyz``: the
  frames (positions, REF_forces, the anomaly mask);
- ``provenance.json``: a ``calibration`` section with the s^loc range of each set, the split,
  and the checks of :mod:`.error_checks` (the untouched frames, the calibration's held-out
  folds, the tail).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .train import PACKAGE_DIR

RADIUS = "4"


def committee_levels(frames, paths, rcuts, cache: Path | None = None):
    """Each frame's levels; the members' forces are kept in ``cache`` (npz) when given."""
    from ..calculator import CommitteeCalculator
    from ...science.calibrate import committee_forces, per_frame

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


def slim_anomalies(frames):
    for atoms in frames:
        for key in list(atoms.arrays):
            if key not in ("numbers", "positions", "REF_forces", "anomaly"):
                del atoms.arrays[key]
        keep = ("REF_energy", "kind", "anomaly", "strength", "centre", "md_seed", "density",
                "temperature")
        atoms.info = {k: v for k, v in atoms.info.items() if k in keep}
    return frames


def recalibrate(anomalies: Path, extra: Path, untouched: Path, out: Path, q: float = 0.9,
                cache: Path | None = None) -> dict:
    import ase.io

    from . import error_checks
    from ...science.calibrate import DEFAULT_RCUTS, fit, pool, write_calibration
    from ...science.conformal import fit_error_models, frame_units
    from ...science.plots import plot_calibration

    paths = sorted(out.glob("member_*.model"))
    old = json.loads((out / "calibration.json").read_text())
    frames_of = {"test.extxyz": ase.io.read(out / "test.extxyz", ":"),
                 "anomalies.extxyz": slim_anomalies(ase.io.read(anomalies, ":")),
                 "anomalies_extra.extxyz": slim_anomalies(ase.io.read(extra, ":"))}
    sets = [(name, committee_levels(frames, paths, DEFAULT_RCUTS,
                                    cache and cache / f"forces_{name}.npz"))
            for name, frames in frames_of.items()]
    units = {name: frame_units(name, frames) for name, frames in frames_of.items()}
    levels = pool([lv for _, frame_levels in sets for lv in frame_levels])
    result = fit(levels, len(paths))
    result["error_model"] = fit_error_models(sets, q, units)
    result["alpha_local_before_anomalies"] = {k: float(v) for k, v in
                                              old.get("alpha_local_before_anomalies",
                                                      old["alpha_local"]).items()}
    model = result["error_model"]["local"][RADIUS]
    test_frames = slim_anomalies(ase.io.read(untouched, ":"))
    test_levels = committee_levels(test_frames, paths, DEFAULT_RCUTS,
                                   cache and cache / "forces_untouched.npz")
    checks = {"untouched": error_checks.untouched(test_frames, test_levels, model),
              "calibration_held_out": error_checks.calibration_held_out(sets, units, q),
              "tail": error_checks.tail(model)}
    for name in ("anomalies.extxyz", "anomalies_extra.extxyz"):
        ase.io.write(out / name, frames_of[name])
    ase.io.write(out / "anomalies_untouched.extxyz", test_frames)
    write_calibration(result, out, frames=", ".join(frames_of),
                      n_frames=sum(len(f) for f in frames_of.values()))
    plot_calibration(levels, result, out / "calibration.png")
    return write_provenance(out, result, frames_of, checks)


def write_provenance(out: Path, result: dict, frames_of: dict, checks: dict) -> dict:
    from . import anomalies as recipe, anomalies_extra, anomalies_untouched
    from .train import XTB

    provenance = json.loads((out / "provenance.json").read_text())
    provenance["alpha"] = {"structure": result["alpha_structure"], "atom": result["alpha_atom"],
                           "local": result["alpha_local"], "default": result["alpha_default"]}
    provenance["calibration"] = {
        "made_by": "python -m lammps_uq.committee.default.recalibrate",
        "date": time.strftime("%Y-%m-%d"),
        "sets": {"test.extxyz": "the held-out test set (see data.test_set)",
                 "anomalies.extxyz": {"made_by": "python -m lammps_uq.committee.default.anomalies",
                                      "anomalies": recipe.ANOMALIES, "md": recipe.MD,
                                      "md_seeds": recipe.MD_SEEDS, "labels": XTB,
                                      "n_frames": len(frames_of["anomalies.extxyz"])},
                 "anomalies_extra.extxyz": {**anomalies_extra.provenance(), "labels": XTB,
                                            "n_frames": len(frames_of["anomalies_extra.extxyz"])},
                 "anomalies_untouched.extxyz": {**anomalies_untouched.provenance(),
                                                "labels": XTB}},
        "split": result["error_model"]["split"],
        "s_loc_coverage": [r for r in result["error_model"]["sets"]
                           if r["level"] == f"local {RADIUS}"],
        "error_model_rcut_4": result["error_model"]["local"][RADIUS],
        "checks": checks,
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance["calibration"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lammps_uq.committee.default.recalibrate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--anomalies", type=Path, default=Path("anomalies_work/anomalies.extxyz"),
                        help="xTB-labelled anomaly frames "
                             "(python -m lammps_uq.committee.default.anomalies)")
    parser.add_argument("--extra", type=Path, default=Path("anomalies_work/extra.extxyz"),
                        help="more xTB-labelled anomaly frames, other kinds "
                             "(python -m lammps_uq.committee.default.anomalies_extra)")
    parser.add_argument("--untouched", type=Path, default=Path("anomalies_work/untouched.extxyz"),
                        help="xTB-labelled frames for evaluation only "
                             "(python -m lammps_uq.committee.default.anomalies_untouched)")
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR, help="the committee's folder")
    parser.add_argument("--quantile", type=float, default=0.9, help="q of the conformal bound")
    parser.add_argument("--cache", type=Path,
                        help="folder keeping the members' forces between runs")
    args = parser.parse_args(argv)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    summary = recalibrate(args.anomalies, args.extra, args.untouched, args.out, args.quantile,
                          args.cache)
    checks = summary["checks"]
    print(json.dumps({"model": summary["error_model_rcut_4"], "tail": checks["tail"],
                      "calibration_held_out": checks["calibration_held_out"]["overall"],
                      "untouched_coverage": checks["untouched"]["coverage"]}, indent=2))
    for row in checks["untouched"]["frames"]:
        print(f"{row['kind']:>8} {row['strength']:5.2f} coverage {row['coverage']:.3f} top s_loc "
              f"{row['top_s_loc']:.4f} true {row['top_true_error']:.4f} predicted "
              f"{row['top_predicted']:.4f} ratio {row['ratio_true_over_predicted']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
