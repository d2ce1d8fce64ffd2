"""Small random-weight MACE models and configurations for tests and benchmarks.

Nothing here is downloaded: the models are built from MACE's own modules with a
fixed torch seed, so every run makes the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_mace(seed: int, atomic_numbers: list[int], *, r_max: float = 4.0,
                hidden_irreps: str = "16x0e + 16x1o", num_interactions: int = 2,
                max_ell: int = 2, correlation: int = 2):
    """A ScaleShiftMACE with random weights (float64), like mace_run_train's layout."""
    import torch
    from mace import modules  # before e3nn: mace makes e3nn's torch.load work on torch >= 2.6
    from e3nn import o3

    torch.manual_seed(seed)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    with _default_dtype(torch.float64):
        model = modules.ScaleShiftMACE(
            r_max=r_max, num_bessel=8, num_polynomial_cutoff=5, max_ell=max_ell,
            interaction_cls=block, interaction_cls_first=block,
            num_interactions=num_interactions, num_elements=len(atomic_numbers),
            hidden_irreps=o3.Irreps(hidden_irreps), MLP_irreps=o3.Irreps("16x0e"),
            gate=torch.nn.functional.silu, atomic_energies=np.zeros(len(atomic_numbers)),
            avg_num_neighbors=12.0, atomic_numbers=list(atomic_numbers),
            correlation=correlation, radial_type="bessel",
            atomic_inter_scale=1.0, atomic_inter_shift=0.0,
        )
    return model


class _default_dtype:
    def __init__(self, dtype):
        self.dtype = dtype

    def __enter__(self):
        import torch

        self.old = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc):
        import torch

        torch.set_default_dtype(self.old)


def write_committee(folder: Path, atomic_numbers: list[int], n_models: int = 3,
                    **kwargs) -> list[str]:
    """Save ``n_models`` random MACE models (seeds 0..n-1) as ``folder/member_K.model``."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(n_models):
        path = folder / f"member_{seed}.model"
        torch.save(random_mace(seed, atomic_numbers, **kwargs), path)
        paths.append(str(path))
    return paths


TINY = dict(hidden_irreps="8x0e + 8x1o", max_ell=1, correlation=1, r_max=3.5)  # fast models


def tiny_water_committee(folder: Path, n_models: int = 2) -> list[str]:
    """``n_models`` tiny random H/O MACE models (:data:`TINY`) in ``folder``, for fast tests."""
    return write_committee(folder, [1, 8], n_models=n_models, **TINY)


def water_box(n_molecules: int, density: float = 1.0, seed: int = 0):
    """Periodic cubic box of rigid-geometry water molecules on a jittered grid, g/cm³."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    length = (n_molecules * 18.015 / 0.6022 / density) ** (1.0 / 3.0)
    per_side = int(np.ceil(n_molecules ** (1.0 / 3.0)))
    grid = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    centres = (grid[:n_molecules] + 0.5) * length / per_side
    centres += rng.uniform(-0.3, 0.3, centres.shape)
    local = np.array([[0.0, 0.0, 0.0], [0.7572, 0.5865, 0.0], [-0.7572, 0.5865, 0.0]])
    positions = []
    for centre in centres:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        positions.extend(centre + local @ q.T)
    atoms = Atoms("OH2" * n_molecules, positions=positions, cell=[length] * 3, pbc=True)
    atoms.wrap()
    return atoms
