"""``lammps-uq learn report DIR [DIR ...]``: the learning curve of one or more loops.

Per iteration: the test force MAE of the committee mean, overall and per potential-energy bin
(the paper's Fig. 7 panels; bins are quantiles of the test frames' reference energy per atom,
the same for every iteration and every DIR), the energy MAE per atom (raw, and with the mean
per-atom offset over the test frames removed: ``E-offset``), the centres selected
and cells labelled, and the largest s_loc seen in the exploration.  Several DIRs (e.g. an
uncertainty loop and its random baseline) share the figure: solid lines for the first,
dashed for the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..science.calibrate import offset_removed_mae
from .state import read_json


def check_work(work: Path) -> None:
    """Refuse a DIR that is not the work_dir of a loop (or whose config.json is broken)."""
    problem = ("no such folder" if not work.exists() else "not a folder" if not work.is_dir()
               else None if (work / "config.json").is_file() else "no config.json in it")
    if problem:
        raise InputError(f"DIR: got {str(work)!r} ({problem}); expected the work_dir of "
                         "lammps-uq learn (it holds config.json and iter_000/)")
    read_json(work / "config.json")


def iterations_of(work: Path, published: bool = False) -> list[dict]:
    """One row per iteration folder: provenance counts and, if tested, per-frame errors.
    ``published``: ``work`` is a copy of the iteration folders without the loop's config.json
    (examples/active_learning/results/)."""
    if not published:
        check_work(work)
    rows = []
    for folder in sorted(work.glob("iter_[0-9][0-9][0-9]")):
        prov = read_json(folder / "provenance.json", {})
        counts = prov.get("counts", {})
        rows.append({"iteration": int(folder.name[5:]), "selection": prov.get("selection", "?"),
                     "centres": counts.get("centres"), "cells": counts.get("labelled"),
                     "train_frames": counts.get("train_frames"),
                     "max_s_local": counts.get("max_s_local"),
                     "test": tested(read_json(folder / "test_errors.json")),
                     "alpha": (prov.get("calibration") or {}).get("alpha_structure")})
    return rows


def tested(errors: dict | None) -> dict | None:
    """test_errors.json, if it holds a frame (an older loop left an empty one on a failure)."""
    return errors if errors and errors.get("force_mae") else None


def energy_edges(runs: list[list[dict]], bins: int) -> np.ndarray | None:
    for rows in runs:
        for row in rows:
            if row["test"]:
                energies = np.asarray(row["test"]["ref_energy_per_atom"])
                return np.quantile(energies, np.linspace(0, 1, bins + 1))
    return None


def binned(test: dict, edges: np.ndarray) -> list[float]:
    """Force MAE of the frames in each energy bin (the last bin includes its upper edge)."""
    energy, mae = np.asarray(test["ref_energy_per_atom"]), np.asarray(test["force_mae"])
    which = np.clip(np.searchsorted(edges, energy, side="right") - 1, 0, len(edges) - 2)
    return [float(mae[which == b].mean()) if (which == b).any() else float("nan")
            for b in range(len(edges) - 1)]


def fmt(value, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else \
        format(value, spec)


def table(work: Path, rows: list[dict], edges) -> list[str]:
    bins = len(edges) - 1 if edges is not None else 0
    head = (f"{'iter':>4} {'selection':>11} {'centres':>7} {'cells':>5} {'train':>5} "
            f"{'max s_loc':>9} {'alpha':>6} {'F MAE':>7} {'E MAE/at':>8} {'E-offset':>8}"
            + "".join(f" {'F bin ' + str(b + 1):>8}" for b in range(bins)))
    lines = [f"{work}", head]
    for row in rows:
        test = row["test"]
        force = float(np.mean(test["force_mae"])) if test else None
        energy = float(np.mean(test["energy_error_per_atom"])) if test else None
        signed = test.get("energy_signed_error_per_atom") if test else None
        centred = offset_removed_mae(signed) if signed else None
        per_bin = binned(test, edges) if test and edges is not None else [None] * bins
        lines.append(f"{row['iteration']:>4} {row['selection']:>11} {fmt(row['centres'], 'd'):>7} "
                     f"{fmt(row['cells'], 'd'):>5} {fmt(row['train_frames'], 'd'):>5} "
                     f"{fmt(row['max_s_local'], '.4f'):>9} {fmt(row['alpha'], '.3f'):>6} "
                     f"{fmt(force, '.4f'):>7} {fmt(energy, '.4f'):>8} {fmt(centred, '.4f'):>8}"
                     + "".join(f" {fmt(v, '.4f'):>8}" for v in per_bin))
    return lines


def plot(works: list[Path], runs: list[list[dict]], edges, path: Path) -> None:
    from ..science.plots import _pyplot

    plt = _pyplot()
    bins = len(edges) - 1 if edges is not None else 0
    panels = 3 + bins
    columns = min(3, panels)
    grid_rows = -(-panels // columns)
    fig, grid = plt.subplots(grid_rows, columns, figsize=(4.6 * columns, 3.8 * grid_rows),
                             squeeze=False)
    axes = grid.ravel()
    for spare in axes[panels:]:
        spare.set_visible(False)
    for n, (work, rows) in enumerate(zip(works, runs)):
        style = "-" if n == 0 else "--"
        label = f"{rows[0]['selection'] if rows else '?'} ({work.name})"
        tested = [r for r in rows if r["test"]]
        x = [r["iteration"] for r in tested]
        axes[0].plot(x, [np.mean(r["test"]["force_mae"]) for r in tested], style, marker="o",
                     label=label)
        for b in range(bins):
            axes[1 + b].plot(x, [binned(r["test"], edges)[b] for r in tested], style,
                             marker="o", label=label)
        explored = [r for r in rows if r["iteration"] > 0]
        xi = [r["iteration"] for r in explored]
        axes[1 + bins].plot(xi, [r["centres"] or 0 for r in explored], style, marker="s",
                            label=f"centres, {label}")
        axes[1 + bins].plot(xi, [r["cells"] or 0 for r in explored], style, marker="x",
                            label=f"cells labelled, {label}")
        axes[2 + bins].plot(xi, [r["max_s_local"] or 0 for r in explored], style, marker="o",
                            label=label)
    axes[0].set_title("test force MAE, all frames")
    for b in range(bins):
        axes[1 + b].set_title(f"E/atom in [{edges[b]:.3f}, {edges[b + 1]:.3f}] eV")
    axes[1 + bins].set_title("centres and cells per iteration")
    axes[2 + bins].set_title("max s_loc per exploration")
    from matplotlib.ticker import MaxNLocator

    for k, ax in enumerate(axes[:panels]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("iteration")
        ax.set_ylabel("eV/Å" if k != 1 + bins else "count")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(works: list[Path], output: Path | None = None, bins: int = 3) -> list[str]:
    """The table lines; writes ``learning_curve.png`` (into the first DIR unless ``output``)."""
    runs = [iterations_of(w) for w in works]
    edges = energy_edges(runs, bins)
    lines = []
    for work, rows in zip(works, runs):
        lines += table(work, rows, edges) + [""]
    if edges is not None:
        lines.append("energy bins (eV/atom): " + ", ".join(
            f"{b + 1}: [{edges[b]:.4f}, {edges[b + 1]:.4f}]" for b in range(bins)))
    path = output or works[0] / "learning_curve.png"
    plot(works, runs, edges, path)
    lines.append(f"wrote {path}")
    return lines
