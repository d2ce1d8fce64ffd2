"""Convergence of CP2K's forces with the plane-wave cutoff on one carved water cell (issue 25).

    python benchmarks/cp2k_cutoff.py [-o benchmarks/results/cp2k_cutoff.json] [--cutoffs ...]
    python benchmarks/cp2k_cutoff.py --docs docs/cp2k.md   # the table between its markers
    python benchmarks/cp2k_cutoff.py --no-xc-smoothing --cutoffs 400 800 1600  # the plain grid

The cell: the 4 (``--molecules``) molecules nearest to O atom 0 of the first frame of the
default committee's test set (64-molecule SPC/Fw water), carved at the parent's density
(``extract.carve``, no border relaxation).  For each cutoff (Ry; REL_CUTOFF 60 Ry, EPS_SCF
1e-8, every other setting the ``[cp2k]`` defaults of ``lammps_uq.extract.cp2k``: RPBE-D3,
DZVP-MOLOPT-SR-GTH, GTH-PBE) one CP2K calculation through the same calculator that
``lammps-uq label --calculator cp2k`` uses.
Printed and written: against the largest cutoff, the energy difference (meV/atom), the largest
and the RMS force component difference (eV/Å), the net force |sum F| (eV/Å; zero for exact
integration) and the wall time.  Resumable: finished cutoffs are kept in the JSON file.
``--no-xc-smoothing``: the same without the smoothed XC grid (``xc_smoothing = false``), into
``cp2k_cutoff_unsmoothed.json`` and its own table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_CUTOFFS = (300, 400, 500, 600, 800, 1000)


def carved_cell(molecules: int = 4):
    import ase.io

    from lammps_uq.extract.carve import CarveOptions, carve

    frame = ase.io.read(HERE.parent / "python/lammps_uq/data/water_committee/test.extxyz", 0)
    return carve(frame, 0, CarveOptions(molecules=molecules), parent_volume=frame.get_volume(),
                 parent_natoms=len(frame))


def label(cell, cutoff: float, smoothing: bool = True) -> dict:
    from lammps_uq.extract.cp2k import calculator

    atoms = cell.copy()
    section = {"cutoff": float(cutoff), "eps_scf": 1e-8, "xc_smoothing": smoothing}
    with tempfile.TemporaryDirectory(prefix="cp2k-cutoff-") as folder:
        with calculator(section, folder) as calc:
            atoms.calc = calc  # the with block ends its cp2k_shell
            start = time.perf_counter()
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            seconds = time.perf_counter() - start
        atoms.calc = None
    return {"cutoff_Ry": cutoff, "energy_eV": float(energy), "forces": forces.tolist(),
            "seconds": round(seconds, 1)}


def table(rows: list[dict], natoms: int) -> list[dict]:
    ref = max(rows, key=lambda r: r["cutoff_Ry"])
    out = []
    for row in sorted(rows, key=lambda r: r["cutoff_Ry"]):
        diff = np.asarray(row["forces"]) - np.asarray(ref["forces"])
        out.append({"cutoff_Ry": row["cutoff_Ry"],
                    "dE_meV_per_atom": 1e3 * (row["energy_eV"] - ref["energy_eV"]) / natoms,
                    "max_dF_eV_per_A": float(np.abs(diff).max()),
                    "rms_dF_eV_per_A": float(np.sqrt((diff ** 2).mean())),
                    "net_force_eV_per_A": float(np.linalg.norm(np.sum(row["forces"], axis=0))),
                    "seconds": row["seconds"]})
    return out


MARK = "<!-- cp2k cutoff table -->"
MARK_UNSMOOTHED = "<!-- cp2k cutoff table, unsmoothed -->"


def markdown(data: dict) -> str:
    """The convergence table as docs/cp2k.md shows it (between two MARK lines)."""
    ref = max(r["cutoff_Ry"] for r in data["table"])
    rows = [f"| cutoff (Ry) | E − E({ref:g} Ry), meV/atom | max \\|ΔF\\|, eV/Å "
            "| RMS ΔF, eV/Å | \\|Σ F\\|, eV/Å |", "|---|---|---|---|---|"]
    for r in data["table"]:  # wall times stay in the JSON: not a timing run (shared cores)
        rows.append(f"| {r['cutoff_Ry']:g} | {r['dE_meV_per_atom']:.3f} | "
                    f"{r['max_dF_eV_per_A']:.4f} | {r['rms_dF_eV_per_A']:.4f} | "
                    f"{r['net_force_eV_per_A']:.4f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="default: results/cp2k_cutoff.json "
                        "(--no-xc-smoothing: results/cp2k_cutoff_unsmoothed.json)")
    parser.add_argument("--no-xc-smoothing", dest="smoothing", action="store_false",
                        help="the plain XC grid (xc_smoothing = false)")
    parser.add_argument("--cutoffs", type=float, nargs="+", default=DEFAULT_CUTOFFS)
    parser.add_argument("--docs", type=Path, help="only write the table into this page")
    parser.add_argument("--molecules", type=int, default=4, help="molecules of the cell")
    args = parser.parse_args(argv)
    name = "cp2k_cutoff" if args.smoothing else "cp2k_cutoff_unsmoothed"
    args.output = args.output or HERE / "results" / f"{name}.json"
    if args.docs:
        from lammps_uq.docs_blocks import write_between

        mark = MARK if args.smoothing else MARK_UNSMOOTHED
        write_between(args.docs, mark, mark, markdown(json.loads(args.output.read_text())))
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cell = carved_cell(args.molecules)
    data = json.loads(args.output.read_text()) if args.output.is_file() else {"runs": []}
    done = {r["cutoff_Ry"] for r in data["runs"]}
    for cutoff in args.cutoffs:
        if cutoff in done:
            continue
        print(f"cp2k_cutoff: {cutoff:g} Ry ({len(cell)} atoms) ...", flush=True)
        data["runs"].append(label(cell, cutoff, args.smoothing))
        data.update(cell={"symbols": cell.get_chemical_symbols(),
                          "length_A": float(cell.cell[0, 0])},
                    table=table(data["runs"], len(cell)))
        args.output.write_text(json.dumps(data, indent=1) + "\n")
        print(f"cp2k_cutoff: {cutoff:g} Ry done in {data['runs'][-1]['seconds']} s", flush=True)
    print(markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
