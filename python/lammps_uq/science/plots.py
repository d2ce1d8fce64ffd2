"""Figures: calibration (paper Figs. 2 and 5), the demo's timeline and snapshot (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_calibration(levels: dict, result: dict, path: Path) -> Path:
    """Error vs uncertainty (top) and sparsification curves (bottom) for every level."""
    from .calibrate import sparsification

    plt = _pyplot()
    groups = [("components", ["components"]), ("atoms", ["atoms"]),
              ("local neighbourhoods", [n for n in levels if n.startswith("local ")]),
              ("structures", ["structures"])]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    fractions = np.linspace(0.0, 0.99, 100)
    colours = plt.get_cmap("viridis")
    for col, (title, names) in enumerate(groups):
        top, bottom = axes[0, col], axes[1, col]
        for k, name in enumerate(names):
            e, s = levels[name]
            row = result["levels"][name]
            colour = colours(k / max(1, len(names) - 1)) if len(names) > 1 else "C0"
            label = f"{name}: rho={row['spearman']:.2f}, alpha={row['alpha']:.2f}"
            top.scatter(s, e, s=4 if len(e) > 200 else 14, alpha=0.4, color=colour, label=label,
                        rasterized=True)
            grid = np.linspace(0.0, s.max(), 2)
            top.plot(grid, row["alpha"] * grid, color=colour, lw=1)
            bottom.plot(fractions, sparsification(e, s, fractions), color=colour, label=name)
            bottom.plot(fractions, sparsification(e, e, fractions), color=colour, ls="--", lw=0.8)
        top.set(title=title, xlabel="uncertainty s (eV/Å)", ylabel="absolute error (eV/Å)")
        top.legend(fontsize=7, loc="upper left")
        bottom.set(xlabel="fraction removed (highest first)", ylabel="MAE of the rest (eV/Å)",
                   title="sparsification (dashed: oracle)")
    fig.suptitle(f"committee calibration: N_C = {result['n_models']}, "
                 f"alpha_structure = {result['alpha_structure']:.3f}, "
                 f"default 2/sqrt(2 pi N_C) = {result['alpha_default']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_timeline(table: np.ndarray, dt_fs: float, threshold: float | None, path: Path) -> Path:
    """Structure s and max s_loc against time from uq_timeline.dat rows (step, f_mon[1..10])."""
    plt = _pyplot()
    time_ps = table[:, 0] * dt_fs / 1000.0
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(time_ps, table[:, 1], marker=".", label="structure s (mean s_j)")
    ax.plot(time_ps, table[:, 2], marker=".", label="max s_loc")
    if threshold:
        ax.axhline(threshold, color="C3", ls="--", label=f"selection threshold {threshold:.3g}")
    ax.set(xlabel="time (ps)", ylabel="committee force uncertainty (eV/Å)",
           title="fix uq: uncertainty along the run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_snapshot(positions, values, symbols, cell_lengths, step: int, path: Path) -> Path:
    """One frame in 3D, atoms coloured by s_loc (O large, H small)."""
    plt = _pyplot()
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    sizes = np.where(np.asarray(symbols) == "H", 12, 40)
    points = ax.scatter(*np.asarray(positions).T, c=values, s=sizes, cmap="inferno",
                        depthshade=False)
    fig.colorbar(points, ax=ax, shrink=0.7, label="s_loc (eV/Å)")
    ax.set(xlim=(0, cell_lengths[0]), ylim=(0, cell_lengths[1]), zlim=(0, cell_lengths[2]),
           xlabel="x (Å)", ylabel="y (Å)", zlabel="z (Å)",
           title=f"step {step}: the frame with the highest max s_loc")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
