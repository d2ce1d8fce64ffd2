"""The closest pair of atoms in every labelled cell of each arm (issue 22: are the cells physical?).

    python examples/active_learning/cell_geometry.py OUT --seeds 1 2 3 [-o cell_geometry.json]

For each seed and arm (``OUT/<arm>_seed<S>/iter_KKK/labelled.extxyz``, k >= 1): per cell the
smallest minimum-image interatomic distance (Å) and the largest |REF force component| (eV/Å).
Liquid water has no pair closer than ~0.9 Å (an O-H bond); a cell with atoms at 0.5 Å or less
is a collapsed structure, not water.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ARMS = ("uncertainty", "random")
COLLAPSED = 0.5


def cells(path: Path) -> list[dict]:
    import ase.io

    rows = []
    for atoms in ase.io.read(path, ":"):
        d = atoms.get_all_distances(mic=True) + 1e3 * np.eye(len(atoms))
        rows.append({"min_distance": float(d.min()),
                     "max_force": float(np.abs(atoms.arrays["REF_forces"]).max())})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args(argv)
    table = {}
    for seed in args.seeds:
        for arm in ARMS:
            for path in sorted((args.out / f"{arm}_seed{seed}").glob("iter_*/labelled.extxyz")):
                rows = cells(path)
                key = f"{arm}_seed{seed}/{path.parent.name}"
                table[key] = {"cells": rows, "n": len(rows),
                              f"collapsed_below_{COLLAPSED}": sum(
                                  r["min_distance"] < COLLAPSED for r in rows),
                              "median_max_force": float(np.median([r["max_force"]
                                                                   for r in rows]))}
                print(f"{key}: {table[key][f'collapsed_below_{COLLAPSED}']} of {len(rows)} cells "
                      f"with atoms closer than {COLLAPSED} Å; median max |F| "
                      f"{table[key]['median_max_force']:.1f} eV/Å")
    output = args.output or args.out / "cell_geometry.json"
    output.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
