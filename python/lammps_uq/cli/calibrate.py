"""``lammps-uq calibrate FRAMES --committee FILES``: the command around
:mod:`lammps_uq.science.calibrate`.

Kept apart from the maths so that the library (``calibrate``, read by the MACE evaluator for
``alpha auto``) never imports the command line's input checks or the figures.
"""

from __future__ import annotations

from pathlib import Path

from ..science.calibrate import (CALIBRATION_FILE, collect, committee_forces, fit, reference_forces,
                        write_calibration)
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
    """``lammps-uq calibrate FRAMES --committee FILES``: fit alpha, write it and the figure."""
    from ..inputs import committee_for, output_file, read_frames
    from ..science.plots import plot_calibration
    from ..science.settings import check_settings

    rcuts = [check_settings({"rcut": r}, style="cli")["rcut"] for r in args.rcut]
    output_file(args.plot, "--plot")
    frames = read_frames(args.frames, "FRAMES")
    for atoms in frames:
        reference_forces(atoms, args.forces_key)  # every frame labelled, before any work
    calculator = committee_for(args.committee, frames, args.frames, dtype=args.dtype)
    folder = output_folder(args.output, calculator.committee.paths, args.force)
    levels = collect(frames, committee_forces(frames, calculator), rcuts, args.forces_key)
    result = fit(levels, calculator.committee.n_models)
    path = write_calibration(result, folder, frames=str(args.frames), n_frames=len(frames))
    plot_calibration(levels, result, Path(args.plot))
    print(f"{'level':<14} {'alpha':>7} {'spearman':>9} {'MAE':>9} {'mean s':>9} {'count':>8}")
    for name, row in result["levels"].items():
        print(f"{name:<14} {row['alpha']:7.3f} {row['spearman']:9.3f} {row['mae']:9.4f} "
              f"{row['mean_s']:9.4f} {row['count']:8d}")
    print(f"wrote {path} and {args.plot}")
    return 0
