"""The soft contact wall of the border relaxation, measured with the shipped default committee
(the figures of docs/carving_labelling.md).

    python examples/carving/contact_wall.py [-o examples/carving/results/contact_wall.json]
    python examples/carving/contact_wall.py --docs docs/carving_labelling.md   # the table only

A 216-molecule SPC/Fw water frame (0.86 g/cm³, 350 K, 1000 steps, seed 9: the parent of
``tests/test_carve_quantum.py``) carved around O atom 300 into a 64-molecule cell three ways:
``--no-relax``, relaxed with the committee mean without the wall (``--contact 0``), and relaxed
with it (the defaults).  For each: the closest O–O distance across the periodic cell, and the
largest GFN2-xTB (tblite) atomic force in the cell.  About 3 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PARENT = {"molecules": 216, "density": 0.86, "temperature": 350.0, "steps": 1000, "seed": 9}
CENTRE, MOLECULES = 300, 64
MARK = "<!-- contact wall table -->"
NAMES = {"no_relax": "`--no-relax`", "relaxed_without_wall": "relaxed, `--contact 0`",
         "relaxed_with_wall": "relaxed with the wall (the default)"}


def closest_oo(cell) -> float:
    from ase.geometry import get_distances

    oxygens = cell.positions[cell.numbers == 8]
    _, d = get_distances(oxygens, cell=cell.cell, pbc=True)
    return float(d[np.triu_indices(len(oxygens), 1)].min())


def largest_xtb_force(cell) -> float:
    from tblite.ase import TBLite

    atoms = cell.copy()
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    return float(np.linalg.norm(atoms.get_forces(), axis=1).max())


def cells(parent) -> dict:
    """The cell unrelaxed, relaxed without the wall, and relaxed with it."""
    from lammps_uq import CommitteeCalculator
    from lammps_uq.extract.carve import CarveOptions, carve, relax_border

    kwargs = dict(parent_volume=parent.get_volume(), parent_natoms=len(parent))
    raw = carve(parent, CENTRE, CarveOptions(molecules=MOLECULES), **kwargs)
    result = {"no_relax": raw}
    committee = CommitteeCalculator("default")
    for name, contact in (("relaxed_without_wall", 0.0), ("relaxed_with_wall", 1.0)):
        cell = raw.copy()
        relax_border(cell, committee, CarveOptions(molecules=MOLECULES, contact=contact))
        result[name] = cell
    return result


def committee_digest() -> str:
    """sha256 of the shipped default's member files, in order: which committee measured."""
    import hashlib

    from lammps_uq.committee.default.train import PACKAGE_DIR

    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("member_*.model")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def measure() -> dict:
    from lammps_uq.committee.default.train import PACKAGE_DIR
    from lammps_uq.committee.default.water import spcfw_frames

    parent = spcfw_frames(PARENT["molecules"], density=PARENT["density"],
                          temperature=PARENT["temperature"], steps=PARENT["steps"],
                          every=PARENT["steps"], seed=PARENT["seed"])[-1]
    rows = {}
    for name, cell in cells(parent).items():
        start = time.perf_counter()
        rows[name] = {"closest_oo_A": closest_oo(cell),
                      "largest_xtb_force_eV_per_A": largest_xtb_force(cell)}
        print(f"contact_wall: {name:>22}: closest O-O {rows[name]['closest_oo_A']:.3f} Å, "
              f"largest GFN2-xTB force {rows[name]['largest_xtb_force_eV_per_A']:.1f} eV/Å "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    committee = json.loads((PACKAGE_DIR / "provenance.json").read_text())
    return {"made_by": "python examples/carving/contact_wall.py", "date": time.strftime("%Y-%m-%d"),
            "parent": PARENT, "centre": CENTRE, "molecules": MOLECULES,
            "committee": {"name": "default", "date": committee["date"],
                          "members_sha256": committee_digest()},
            "parent_closest_oo_A": closest_oo(parent), "cells": rows}


def markdown(data: dict) -> str:
    lines = ["| 64-molecule cell | closest O–O, Å | largest GFN2-xTB force, eV/Å |",
             "|---|---|---|",
             f"| the parent (216 molecules) | {data['parent_closest_oo_A']:.2f} | |"]
    for name, row in data["cells"].items():
        lines.append(f"| {NAMES[name]} | {row['closest_oo_A']:.2f} | "
                     f"{row['largest_xtb_force_eV_per_A']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path,
                        default=HERE / "results" / "contact_wall.json")
    parser.add_argument("--docs", type=Path, help="only write the table into this page")
    args = parser.parse_args(argv)
    if args.docs:
        from lammps_uq.docs_blocks import write_between

        write_between(args.docs, MARK, MARK, markdown(json.loads(args.output.read_text())))
        return 0
    out = args.output
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(measure(), indent=1) + "\n")
    print(f"contact_wall: written to {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
