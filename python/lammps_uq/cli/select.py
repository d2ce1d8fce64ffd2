"""``lammps-uq select FRAMES``: the centres each frame would get, by the rules of fix uq."""

from __future__ import annotations

import argparse

from ..errors import InputError

SELECT_SETTINGS = ("rcut", "alpha", "threshold", "error_threshold", "separation", "max_centres",
                   "cooldown")  # options of `select` named as fix uq's keywords


def add_arguments(select: argparse.ArgumentParser) -> None:
    select.add_argument("frames", help="extxyz with per-atom s_local (or use --committee)")
    how = select.add_mutually_exclusive_group(required=True)
    how.add_argument("--threshold", type=float, help="select on s_local (eV/Å)")
    how.add_argument("--error-threshold", type=float, help="select on alpha * s_local (eV/Å)")
    select.add_argument("--alpha", type=float, default=1.0, help="for --error-threshold")
    select.add_argument("--rcut", type=float, default=4.0, help="aggregation radius (Å)")
    select.add_argument("--separation", type=float, help="Å (default 2 * rcut)")
    select.add_argument("--max-centres", type=int, default=4)
    select.add_argument("--cooldown", type=int, default=0, help="steps")
    select.add_argument("--committee", nargs="+", help="MACE model files to compute s_local")


def run(args: argparse.Namespace) -> int:
    """Print the centres each frame would get, by the rules of fix uq."""
    from ..inputs import committee_for, read_frames
    from ..science.selection import Selector, select_frames
    from ..science.settings import check_settings

    given = {key: getattr(args, key) for key in SELECT_SETTINGS if getattr(args, key) is not None}
    settings = check_settings(given, style="cli")  # the fix's rules
    frames = read_frames(args.frames, "FRAMES")
    if args.committee:
        calc = committee_for(args.committee, frames, args.frames, rcut=settings["rcut"])
        for atoms in frames:
            calc.calculate(atoms)
            atoms.arrays["s_local"] = calc.results["s_local"]
    else:
        for k, atoms in enumerate(frames):
            if "s_local" not in atoms.arrays:
                raise InputError(f"FRAMES: got {args.frames!r}, whose frame {k} has no per-atom "
                                 "s_local; expected fix uq region frames, or --committee FILES")
    threshold = settings.get("threshold", settings.get("error_threshold"))
    scale = 1.0 if "threshold" in settings else settings["alpha"]
    separation = settings.get("separation", 2 * settings["rcut"])
    selector = Selector(threshold=threshold, separation=separation, scale=scale,
                        max_centres=settings["max_centres"], cooldown=settings["cooldown"])
    for step, ids in select_frames(frames, selector):
        print(step, *ids)
    return 0
