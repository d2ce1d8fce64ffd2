"""The default committee's tables in docs/committees_calibration.md, rendered from the shipped
``provenance.json`` and ``calibration.json`` (issue 23).

    python -m lammps_uq.committee.default.error_tables [--provenance PATH]

prints the Markdown that the page holds between ``<!-- committee table -->`` and
``<!-- end committee table -->`` (errors, correlations, α) and between
``<!-- error-model tables -->`` and ``<!-- end error-model tables -->``;
``tests/test_readme_numbers.py`` renders both again and compares, so every number there is the
shipped committee's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .train import PACKAGE_DIR

BEGIN, END = "<!-- error-model tables -->", "<!-- end error-model tables -->"
COMMITTEE_BEGIN, COMMITTEE_END = "<!-- committee table -->", "<!-- end committee table -->"


def committee_table(provenance: dict, calibration: dict) -> list[str]:
    """Errors, Spearman ρ and α of the committee on its 39 held-out frames."""
    mean, rho = provenance["committee_mean"], provenance["spearman_error_vs_uncertainty_on_test"]
    alone = provenance["spearman_on_test_training_conditions_only"]
    members = [m["test_forces_mae_eV_per_A"] for m in provenance["members"]]
    local = " / ".join(f"{rho[f'local {r}']:.2f}" for r in range(1, 6))
    model = provenance["calibration"]["error_model_rcut_4"]
    return ["| | value |", "|---|---|",
            f"| force MAE of the committee mean, whole test set / training conditions only | "
            f"{mean['test_forces_mae_eV_per_A']:.4f} / "
            f"{mean['test_training_conditions_forces_mae_eV_per_A']:.4f} |",
            f"| force MAE of single members, whole test set | {min(members):.4f}–"
            f"{max(members):.4f} |",
            f"| energy MAE of the committee mean (eV/atom), raw / per-frame mean offset removed | "
            f"{mean['test_energy_mae_eV_per_atom']:.4f} / "
            f"{mean['test_energy_mae_offset_removed_eV_per_atom']:.4f} |",
            f"| ρ single force components / atoms (s_j) | {rho['components']:.2f} / "
            f"{rho['atoms']:.2f} |",
            f"| ρ local neighbourhoods s^loc, rcut 1 / 2 / 3 / 4 / 5 Å | {local} |",
            f"| ρ structures (s) | {rho['structures']:.2f} |",
            f"| ρ on the 24 training-condition frames alone: atoms / s^loc at 4 Å / structures | "
            f"{alone['atoms']:.2f} / {alone['local 4']:.2f} / {alone['structures']:.2f} |",
            f"| fitted α on the test set (all levels) vs the variance-only 2/sqrt(2π N_C) | "
            f"{calibration['alpha_local_before_anomalies']['4']:.2f} vs "
            f"{calibration['alpha_default']:.2f} |",
            f"| with the anomaly frames: α of Eq. 3 at rcut 4 (`alpha_local`, pulled up by a few "
            f"eV/Å errors) / the error model's α below its knee (`alpha auto`) | "
            f"{calibration['alpha_local']['4']:.2f} / {model['alpha']:.2f} |"]


def _coverage(c: dict) -> str:
    return (f"{c['frame_mean']:.3f} ± {c['frame_mean_se']:.3f} | {c['pooled']:.3f} ± "
            f"{c['pooled_se']:.3f} | {c['frame_min']:.2f} | {c['frames_below_0.8']} of "
            f"{c['frames']}")


def model_table(model: dict) -> list[str]:
    spread = model["b_leave_one_frame_out"]
    return ["| error model at rcut 4 Å | value |", "|---|---|",
            f"| α below the knee / knee (s^loc) | {model['alpha']:.3f} / {model['knee']:.4f} |",
            f"| b above the knee; leave one frame out (over {spread['frames']} frames) | "
            f"{model['b']:.2f}; {spread['b_min']:.2f} – {spread['b_max']:.2f} |",
            f"| s_max, the largest s^loc of the fit (linear beyond) | {model['s_max']:.4f} |",
            f"| bound factor c_0.9 below / above s^loc {model['bound_split']:.4f} | "
            f"{model['bound_factor']:.3f} / {model['bound_factor_high']:.3f} |",
            f"| frames: fit half / conformal half (split by MD run) | {model['fit_frames']} / "
            f"{model['conformal_frames']} |"]


def tail_table(tail: dict) -> list[str]:
    lines = ["| s^loc | e(s), eV/Å | bound | the power law b would say |", "|---|---|---|---|"]
    for row in tail["rows"]:
        lines.append(f"| {row['times_s_max']:g} × s_max = {row['s_loc']:.3f} | "
                     f"{row['estimate']:.2f} | {row['bound']:.2f} | "
                     f"{row['power_law_would_say']:.2f} |")
    return lines


def coverage_table(checks: dict) -> list[str]:
    held = checks["calibration_held_out"]
    lines = ["| frames | coverage by frame ± SE | pooled ± clustered SE | worst frame | "
             "frames below 0.8 |", "|---|---|---|---|---|"]
    for name, c in held["per_set"].items():
        lines.append(f"| {name} (held out by folds of MD runs) | {_coverage(c)} |")
    lines.append(f"| all calibration frames (held out) | {_coverage(held['overall'])} |")
    lines.append(f"| anomalies_untouched.extxyz (never fitted on) | "
                 f"{_coverage(checks['untouched']['coverage'])} |")
    return lines


def untouched_table(untouched: dict) -> list[str]:
    lines = ["| kind | strength | atoms | coverage | top s^loc | true e | predicted e | "
             "true / predicted |", "|---|---|---|---|---|---|---|---|"]
    for r in untouched["frames"]:
        flag = " (past s_max)" if r["top_extrapolated"] else ""
        lines.append(f"| {r['kind']} | {r['strength']:g} | {r['atoms']} | {r['coverage']:.3f} | "
                     f"{r['top_s_loc']:.4f}{flag} | {r['top_true_error']:.3f} | "
                     f"{r['top_predicted']:.3f} | {r['ratio_true_over_predicted']:.2f} |")
    lines += ["", f"Within a factor 2: {untouched['within_factor_2']} of {untouched['n_frames']} "
              f"frames; underestimated (ratio > 1) {untouched['underestimated']}, overestimated "
              f"{untouched['overestimated']}."]
    return lines


def markdown(calibration: dict) -> str:
    checks = calibration["checks"]
    parts = [model_table(calibration["error_model_rcut_4"]), tail_table(checks["tail"]),
             coverage_table(checks), untouched_table(checks["untouched"])]
    return "\n\n".join("\n".join(p) for p in parts)


def block(provenance: Path = PACKAGE_DIR / "provenance.json") -> str:
    """The error-model block of docs/committees_calibration.md, markers included."""
    calibration = json.loads(Path(provenance).read_text())["calibration"]
    return f"{BEGIN}\n{markdown(calibration)}\n{END}"


def committee_block(provenance: Path = PACKAGE_DIR / "provenance.json") -> str:
    """The committee block (its ``calibration.json`` lies next to ``provenance``)."""
    record = json.loads(Path(provenance).read_text())
    calibration = json.loads((Path(provenance).parent / "calibration.json").read_text())
    table = "\n".join(committee_table(record, calibration))
    return f"{COMMITTEE_BEGIN}\n{table}\n{COMMITTEE_END}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lammps_uq.committee.default.error_tables",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--provenance", type=Path, default=PACKAGE_DIR / "provenance.json")
    provenance = parser.parse_args(argv).provenance
    print(committee_block(provenance), block(provenance), sep="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
