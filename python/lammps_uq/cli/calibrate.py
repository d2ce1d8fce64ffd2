"""``lammps-uq calibrate FRAMES --committee FILES``: the command around
:mod:`lammps_uq.science.calibrate`.

Kept apart from the maths so that the library (``calibrate``, read by the MACE evaluator for
``alpha auto``) never imports the command line's input checks or the figures.
"""

from __future__ import annotations

from pathlib import Path

from ..science.calibrate import (CALIBRATION_FILE, committee_forces, fit, per_frame, pool,
                                 reference_forces, write_calibration)
from ..errors import InputError


def package_dir() -> Path:
    """The folder of the installed lammps_uq package (its shipped committee lives in it)."""
    return Path(__file__).resolve().parents[1]


def output_folder(output: str | None, model_paths: list[str], force: bool) -> Path:
    """Where calibration.json goes: ``-o DIR``, else the models' folder; never the package's.

    An existing calibration.json is only overwritten with ``force``.
    """
    from ..inputs import output_dir

    folder = Path(output) if output else Path(model_paths[0]).parent
    where = f"got {output!r}" if output else f"not given, so the models' folder {str(folder)!r}"
    if folder.resolve().is_relative_to(package_dir()):
        raise InputError(f"--output: {where}, inside the installed lammps-uq package (its shipped "
                         "committee); expected -o DIR, a folder of your own")
    folder = output_dir(folder, "--output")
    if (folder / CALIBRATION_FILE).exists() and not force:
        raise InputError(f"--output: {where}, which holds a {CALIBRATION_FILE} already; expected "
                         "--force to overwrite it, or -o DIR for another folder")
    return folder


def run(args) -> int:
    """``lammps-uq calibrate FRAMES... --committee FILES``: fit alpha, the error model and bound."""
    from ..inputs import committee_for, output_file, read_frames
    from ..science.conformal import fit_error_models, frame_units
    from ..science.error_model import check_q
    from ..science.plots import plot_calibration
    from ..science.settings import check_settings

    rcuts = [check_settings({"rcut": r}, style="cli")["rcut"] for r in args.rcut]
    q = check_q(args.quantile)
    output_file(args.plot, "--plot")
    sets = [(name, read_frames(name, "FRAMES")) for name in args.frames]
    for _, frames in sets:
        for atoms in frames:
            reference_forces(atoms, args.forces_key)  # every frame labelled, before any work
    every = [atoms for _, frames in sets for atoms in frames]
    calculator = committee_for(args.committee, sets[0][1], sets[0][0], dtype=args.dtype)
    for name, frames in sets[1:]:
        for k, atoms in enumerate(frames):
            calculator.committee.check_elements(atoms.numbers, f"FRAMES {name!r} frame {k}")
    folder = output_folder(args.output, calculator.committee.paths, args.force)
    levels_of = [(name, per_frame(frames, committee_forces(frames, calculator), rcuts,
                                  args.forces_key)) for name, frames in sets]
    levels = pool([lv for _, frame_levels in levels_of for lv in frame_levels])
    result = fit(levels, calculator.committee.n_models)
    result["error_model"] = fit_error_models(levels_of, q, {name: frame_units(name, frames)
                                                             for name, frames in sets})
    path = write_calibration(result, folder, frames=", ".join(args.frames), n_frames=len(every))
    plot_calibration(levels, result, Path(args.plot))
    print_report(result)
    print(f"wrote {path} and {args.plot}")
    return 0


def print_report(result: dict) -> None:
    """The alpha table, the s^loc range of each set, and the held-out error model report."""
    print(f"{'level':<14} {'alpha':>7} {'spearman':>9} {'MAE':>9} {'mean s':>9} {'count':>8}")
    for name, row in result["levels"].items():
        print(f"{name:<14} {row['alpha']:7.3f} {row['spearman']:9.3f} {row['mae']:9.4f} "
              f"{row['mean_s']:9.4f} {row['count']:8d}")
    model = result["error_model"]
    radius = "4" if "4" in model["local"] else sorted(model["local"], key=float)[-1]
    print(f"\ns_loc at rcut {radius}: range of each labelled set")
    for row in model["sets"]:
        if row["level"] == f"local {radius}":
            print(f"  {row['set']}: {row['n_frames']} frames, s_loc {row['s_min']:.4f} .. "
                  f"{row['s_max']:.4f} (median {row['s_median']:.4f}), "
                  f"{100 * row['share_of_log_range']:.0f} % of the pooled log range")
    fitted, held = model["local"][radius], model["held_out"][radius]
    print(describe_model(fitted, radius))
    if "none" in held:
        print(f"held out: {held['none']}")
        return
    cover = held["model"]["coverage"]
    print(f"held out (two folds of MD runs): MAD of the local error: knee model "
          f"{held['model']['mad']:.4f}, constant alpha {held['constant_alpha']['mad']:.4f}, "
          f"power law {held['power_mad']:.4f}, isotonic {held['isotonic_mad']:.4f}; coverage of "
          f"the bound per frame {cover['frame_mean']:.3f} +- {cover['frame_mean_se']:.3f} "
          f"(min {cover['frame_min']:.2f}, {cover['frames_below_0.8']} of {cover['frames']} "
          f"frames below 0.8)")
    print(f"  {'decile':>6} {'mean s':>8} {'MAE':>8} {'pred':>8} {'MAD':>8} {'MAD(a)':>8} "
          f"{'cover':>6}")
    for row, const in zip(held["model"]["deciles"], held["constant_alpha"]["deciles"]):
        print(f"  {row['decile']:6d} {row['mean_s']:8.4f} {row['mae']:8.4f} "
              f"{row['mean_predicted']:8.4f} {row['mad']:8.4f} {const['mad']:8.4f} "
              f"{row['coverage']:6.3f}")


def describe_model(fitted: dict, radius: str) -> str:
    """The fitted model in words: the law, the exponent's leave-one-frame-out range, the bound."""
    spread = fitted.get("b_leave_one_frame_out") or {}
    lofo = (f" (leave one frame out: {spread['b_min']:.3f} .. {spread['b_max']:.3f} over "
            f"{spread['frames']} frames)" if spread.get("b_min") is not None else "")
    bound = (fitted["bound_note"] if fitted.get("bound_note") else
             f"bound = {fitted['bound_factor']:.3f} e (q = {fitted['q']}; "
             f"{fitted['conformal_frames']} conformal frames, {fitted['fit_frames']} fit frames)")
    return (f"error model at rcut {radius}: e = {fitted['alpha']:.4g} s up to s = "
            f"{fitted['knee']:.4g}, then ~ s^{fitted['b']:.3f}{lofo}; linear past s_loc "
            f"{fitted['s_max']:.4f}, the largest fitted; {bound}")
