"""Wall time of one label per carved water cell: CP2K (the ``[cp2k]`` defaults) next to xTB.

    python benchmarks/cp2k_cell_time.py [--molecules 4 16] [-o results/cp2k_cell_time.json]

Cells: the ``--molecules`` molecules nearest to O atom 0 of the first frame of the default
committee's test set, carved at the parent's density (as ``benchmarks/cp2k_cutoff.py``).  Each
is labelled the way ``lammps-uq label`` labels a cell (``label_process.label_task``: a process
of its own, energy, forces and, for periodic cells, stress) with ``xtb`` and with ``cp2k``
(its defaults: RPBE-D3, DZVP-MOLOPT-SR-GTH, GTH-PBE, 800 Ry), one after the other on this
machine's cores.
Run it on quiet cores: nothing else may run beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def carved_cell(molecules: int):
    spec = importlib.util.spec_from_file_location("cp2k_cutoff", HERE / "cp2k_cutoff.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.carved_cell(molecules)


def timed_label(cell, spec: str, config: dict) -> dict:
    """One label's wall time, or the time until it failed and CP2K's reason."""
    from lammps_uq.extract.label_process import label_task

    with tempfile.TemporaryDirectory(prefix=f"label-{spec}-") as folder:
        start = time.perf_counter()
        try:
            result = label_task(cell.copy(), spec, config, None, folder)
        except Exception as exc:  # noqa: BLE001 - a failed label is a result here too
            return {"calculator": spec, "seconds": round(time.perf_counter() - start, 1),
                    "failed": str(exc)}
        seconds = time.perf_counter() - start
    return {"calculator": spec, "seconds": round(seconds, 1), "energy_eV": float(result["energy"])}


def cp2k_settings(config: dict) -> dict:
    from lammps_uq.extract.cp2k import settings

    return settings(config.get("cp2k"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--max-scf", type=int, default=None,
                        help="[cp2k] max_scf (default: the [cp2k] table's default)")
    parser.add_argument("--cutoff", type=float, default=None,
                        help="[cp2k] cutoff, Ry (default: the [cp2k] table's default)")
    parser.add_argument("-o", "--output", default=None,
                        help="default: results/cp2k_cell_time_CUTOFFRy.json")
    args = parser.parse_args(argv)
    section = {k: v for k, v in (("max_scf", args.max_scf), ("cutoff", args.cutoff)) if v}
    config = {"cp2k": section} if section else {}
    rows = []
    for molecules in args.molecules:
        cell = carved_cell(molecules)
        for spec in ("xtb", "cp2k"):
            row = {"molecules": molecules, "atoms": len(cell),
                   "edge_A": round(float(cell.cell.lengths()[0]), 2),
                   **timed_label(cell, spec, config if spec == "cp2k" else {})}
            rows.append(row)
            print(f"cp2k_cell_time: {molecules:3d} molecules ({len(cell)} atoms, edge "
                  f"{row['edge_A']} Å): {spec:5s} {row['seconds']:8.1f} s"
                  + (f" FAILED: {row['failed']}" if "failed" in row else ""), flush=True)
    values = cp2k_settings(config)
    data = {"machine": f"{platform.node()} ({os.cpu_count()} cores)",
            "date": time.strftime("%Y-%m-%d"), "max_scf": values["max_scf"],
            "cutoff_Ry": values["cutoff"], "rows": rows}
    name = f"cp2k_cell_time_{values['cutoff']:g}Ry" + (f"_max_scf{args.max_scf}"
                                                        if args.max_scf else "")
    output = args.output or HERE / "results" / f"{name}.json"
    Path(output).write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
