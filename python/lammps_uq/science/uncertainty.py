"""Pure-numpy reference for spatially resolved committee uncertainties.

Implements the quantities of Heid et al., "Spatially resolved uncertainties for
machine learning potentials", for a committee of ``N_C`` models with forces
``F[l, j, k]`` (model ``l``, atom ``j``, Cartesian direction ``k``) in eV/Å:

* component std ``s_j^k``: unbiased (``ddof=1``) std over members (paper Eq. 6);
* atomic uncertainty ``s_j = mean_k s_j^k`` (Eq. 8);
* local uncertainty ``s_j^loc``: mean of ``s_n`` over atom ``j`` and every atom
  (every periodic image counted separately) with ``r_jn <= rcut`` (Eq. 10);
* structure uncertainty ``s = mean_j s_j`` and error estimate ``alpha * s`` with
  ``alpha = 2 / sqrt(2 pi N_C)`` (Eqs. 2-3);
* DeePMD model deviation ``sigma_j = sqrt(mean_l |F_j^l - mean F_j|^2)``
  (population std, ``ddof=0``, as DeePMD-kit's ``model_devi``).

Counting every periodic image within ``rcut`` equals the minimum-image convention
whenever ``rcut`` is below half the smallest perpendicular cell width; in smaller
cells an atom's own images are counted too, as ``ase.neighborlist.neighbor_list``
does.  ``atoms`` arguments are any object with ``.positions`` (N, 3) Å, ``.cell``
(3, 3) Å (rows are cell vectors) and ``.pbc`` (3,) bool, e.g. ``ase.Atoms``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "UQResult", "atomic_uncertainty", "component_std", "deepmd_deviation", "default_alpha",
    "energy_std", "local_uncertainty", "neighbour_pairs", "structure_uncertainty", "summary",
]

_MAX_CANDIDATES = 1_000_000  # candidate pairs per chunk: ~50 MB of temporaries


def default_alpha(n_models: int) -> float:
    """Return the default error scaling ``alpha = 2 / sqrt(2 pi N_C)`` (paper Eq. 3).

    Parameters
    ----------
    n_models : int
        Committee size ``N_C`` (at least 2).

    Returns
    -------
    float
        Dimensionless factor; ``alpha * s`` estimates the mean absolute error.
    """
    if int(n_models) != n_models or n_models < 2:
        raise ValueError(f"n_models must be an integer >= 2, got {n_models!r}")
    return 2.0 / math.sqrt(2.0 * math.pi * int(n_models))


def _check_forces(forces_comm) -> np.ndarray:
    f = np.asarray(forces_comm, dtype=float)
    if f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(f"forces_comm must have shape (n_models, n_atoms, 3), got {f.shape}")
    if f.shape[0] < 2:
        raise ValueError(f"a committee needs n_models >= 2 for a ddof=1 std, got {f.shape[0]}")
    if not np.all(np.isfinite(f)):
        raise ValueError("forces_comm contains non-finite values")
    return f


def component_std(forces_comm) -> np.ndarray:
    """Unbiased committee std of every force component (paper Eq. 6).

    Parameters
    ----------
    forces_comm : array_like, shape (n_models, N, 3)
        Committee forces, eV/Å; ``n_models >= 2``.

    Returns
    -------
    numpy.ndarray, shape (N, 3)
        ``s_j^k = sqrt(sum_l (F_j^{kl} - mean_l F_j^{kl})^2 / (n_models - 1))``, eV/Å.
    """
    return np.std(_check_forces(forces_comm), axis=0, ddof=1)


def atomic_uncertainty(forces_comm) -> np.ndarray:
    """Atomic uncertainty ``s_j = (1/3) sum_k s_j^k`` (paper Eq. 8, inner sum).

    Takes ``forces_comm`` as :func:`component_std`; returns shape (N,), the mean over
    directions of the unbiased (``ddof=1``) component std, eV/Å.
    """
    return component_std(forces_comm).mean(axis=1)


def deepmd_deviation(forces_comm) -> np.ndarray:
    """DeePMD-kit model deviation of the force on every atom.

    Takes ``forces_comm`` as :func:`component_std`; returns shape (N,),
    ``sigma_j = sqrt((1/N_C) sum_l |F_j^l - mean_l F_j^l|^2)`` in eV/Å
    (population std, ``ddof=0``, as DeePMD-kit's ``model_devi``).
    """
    f = _check_forces(forces_comm)
    dev = f - f.mean(axis=0)
    return np.sqrt(np.mean(np.sum(dev * dev, axis=2), axis=0))


def energy_std(energies) -> float:
    """Unbiased (``ddof=1``) committee std of the total energy.

    Parameters
    ----------
    energies : array_like, shape (n_models,)
        Total energy of each committee member, eV; ``n_models >= 2``.

    Returns
    -------
    float
        Standard deviation over members with ``ddof=1``, eV.
    """
    e = np.asarray(energies, dtype=float)
    if e.ndim != 1 or e.shape[0] < 2:
        raise ValueError(f"energies must have shape (n_models,) with n_models >= 2, got {e.shape}")
    return float(np.std(e, ddof=1))


def structure_uncertainty(s_atom, mask=None) -> float:
    """Structure uncertainty ``s = (1/N) sum_j s_j`` over all or the masked atoms.

    Parameters
    ----------
    s_atom : array_like, shape (N,)
        Atomic uncertainties, eV/Å.
    mask : array_like of bool, shape (N,), optional
        Group of atoms to average over; all atoms if None.

    Returns
    -------
    float
        Mean atomic uncertainty, eV/Å; 0.0 for an empty group.
    """
    s = np.asarray(s_atom, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"s_atom must have shape (N,), got {s.shape}")
    if mask is not None:
        s = s[_check_mask(mask, s.shape[0])]
    return float(s.mean()) if s.size else 0.0


def _check_mask(mask, n: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != (n,) or m.dtype != bool:
        raise ValueError(f"mask must be a boolean array of shape ({n},), got {m.dtype} {m.shape}")
    return m


def _lattice(cell, pbc) -> tuple[np.ndarray, np.ndarray]:
    """Return a non-singular lattice (periodic rows kept) and the pbc flags."""
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    cell = np.asarray(cell, dtype=float).reshape(3, 3)
    periodic = cell[pbc]
    if pbc.any() and np.linalg.matrix_rank(periodic) < pbc.sum():
        raise ValueError("the cell vectors of the periodic directions are linearly dependent")
    # Non-periodic rows are only a basis completion: any complement works.
    q = np.linalg.qr(periodic.T, mode="complete")[0] if pbc.any() else np.eye(3)
    lattice = cell.copy()
    lattice[~pbc] = q[:, pbc.sum():].T
    return lattice, pbc


def _images(positions, lattice, pbc, rcut):
    """Wrap atoms into the cell and list every image that can lie within rcut of it.

    Returns image positions (M, 3) Å, their atom indices (M,) and a flag (M,)
    that is True for the unshifted (central) copy.
    """
    inv = np.linalg.inv(lattice)
    frac = positions @ inv
    frac[:, pbc] -= np.floor(frac[:, pbc])
    frac[:, pbc] = np.where(frac[:, pbc] >= 1.0, 0.0, frac[:, pbc])
    widths = 1.0 / np.linalg.norm(inv, axis=0)  # perpendicular widths, Å
    reach = np.where(pbc, rcut / widths, 0.0)  # rcut in fractional units
    n = np.where(pbc, np.ceil(reach), 0).astype(int)
    pos, idx, central = [], [], []
    for shift in itertools.product(*(range(-k - 1, k + 2) if k else (0,) for k in n)):
        f = frac + np.asarray(shift, dtype=float)
        keep = np.all((f >= -reach - 1e-9) & (f <= 1.0 + reach + 1e-9) | ~pbc, axis=1)
        pos.append(f[keep] @ lattice)
        idx.append(np.nonzero(keep)[0])
        central.append(np.full(keep.sum(), not any(shift)))
    return np.concatenate(pos), np.concatenate(idx), np.concatenate(central)


def _ranges(start, stop):
    """Concatenate ``arange(start[a], stop[a])`` over a; also return the owner of each."""
    counts = stop - start
    owner = np.repeat(np.arange(counts.size), counts)
    offsets = np.cumsum(counts) - counts
    return start[owner] + np.arange(counts.sum()) - offsets[owner], owner


def _cell_list(img_pos, rcut):
    """Sort images into Cartesian bins at least ``rcut`` wide (sparse: keys, not arrays)."""
    origin = img_pos.min(axis=0) if len(img_pos) else np.zeros(3)
    extent = img_pos.max(axis=0) - origin if len(img_pos) else np.zeros(3)
    size = max(rcut, float(extent.max()) / 2**20)  # keeps the bin keys within int64
    nbins = np.floor(extent / size).astype(np.int64) + 1
    img_bin = np.floor((img_pos - origin) / size).astype(np.int64)
    key = np.ravel_multi_index(img_bin.T, nbins)
    order = np.argsort(key, kind="stable")
    return img_bin, nbins, order, key[order]


def _chunks(counts, budget):
    """Yield ``(a, b)`` slices of consecutive atoms with at most ``budget`` candidates."""
    cum = np.cumsum(counts)
    a = 0
    while a < len(counts):
        base = cum[a - 1] if a else 0
        b = max(a + 1, int(np.searchsorted(cum, base + budget, "right")))
        yield a, b
        a = b


def neighbour_pairs(positions, cell, pbc, rcut, *, return_distances=False):
    """All ordered neighbour pairs within ``rcut`` (inclusive), periodic images included.

    A pair ``(i, j)`` is listed once per image of ``j`` with ``|r_j' - r_i| <= rcut``;
    an atom pairs with its own images (never with its unshifted self) when the cell is
    small.  Image shifts ``|n_k| <= ceil(rcut / width_k) + 1`` are enumerated per
    periodic direction from the perpendicular widths; candidates are then found with
    a Cartesian cell list and processed in chunks, so memory stays bounded.

    Parameters
    ----------
    positions : array_like, shape (N, 3)
        Cartesian positions, Å.
    cell : array_like, shape (3, 3)
        Cell vectors as rows (ASE convention), Å; rows of non-periodic directions
        are ignored and may be zero.
    pbc : bool or array_like of bool, shape (3,)
        Periodicity of each cell direction.
    rcut : float
        Cutoff radius, Å (> 0).
    return_distances : bool, optional
        Also return the pair distances.

    Returns
    -------
    i, j : numpy.ndarray of int, shape (P,)
        Pair indices, sorted by ``i`` then ``j``.
    d : numpy.ndarray, shape (P,)
        Pair distances in Å (only if ``return_distances``).
    """
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    rcut = float(rcut)
    if not (np.isfinite(rcut) and rcut > 0.0):
        raise ValueError(f"rcut must be a positive finite number, got {rcut}")
    lattice, pbc = _lattice(cell, pbc)
    img_pos, img_idx, img_central = _images(pos, lattice, pbc, rcut)
    img_bin, nbins, order, sorted_key = _cell_list(img_pos, rcut)
    centre, centre_idx, c_bin = img_pos[img_central], img_idx[img_central], img_bin[img_central]
    out_i, out_j, out_d = [], [], []
    for off in itertools.product((-1, 0, 1), repeat=3):
        nb = c_bin + np.asarray(off)
        ok = np.all((nb >= 0) & (nb < nbins), axis=1)
        key = np.ravel_multi_index(np.where(ok[:, None], nb, 0).T, nbins)
        lo = np.where(ok, np.searchsorted(sorted_key, key, "left"), 0)
        hi = np.where(ok, np.searchsorted(sorted_key, key, "right"), 0)
        for a, b in _chunks(hi - lo, _MAX_CANDIDATES):
            cand, owner = _ranges(lo[a:b], hi[a:b])
            owner += a
            other = order[cand]
            d = np.linalg.norm(img_pos[other] - centre[owner], axis=1)
            keep = (d <= rcut) & ~(img_central[other] & (img_idx[other] == centre_idx[owner]))
            out_i.append(centre_idx[owner[keep]])
            out_j.append(img_idx[other[keep]])
            out_d.append(d[keep])
    i = np.concatenate(out_i).astype(np.intp)
    j = np.concatenate(out_j).astype(np.intp)
    d = np.concatenate(out_d)
    srt = np.lexsort((d, j, i))
    return (i[srt], j[srt], d[srt]) if return_distances else (i[srt], j[srt])


def local_uncertainty(atoms, s_atom, rcut) -> np.ndarray:
    """Local uncertainty ``s_j^loc`` (paper Eq. 10).

    Mean of ``s_n`` over atom ``j`` itself and every atom ``n`` with
    ``r_jn <= rcut``; every periodic image within ``rcut`` counts once (this is
    the minimum-image convention when ``rcut`` is below half the smallest
    perpendicular cell width).

    Parameters
    ----------
    atoms : object
        Has ``.positions`` (N, 3) Å, ``.cell`` (3, 3) Å (rows are cell vectors)
        and ``.pbc`` (3,) bool, e.g. ``ase.Atoms``.
    s_atom : array_like, shape (N,)
        Atomic uncertainties, eV/Å.
    rcut : float
        Cutoff radius, Å.

    Returns
    -------
    numpy.ndarray, shape (N,)
        Local uncertainties, eV/Å.
    """
    pos = np.asarray(atoms.positions, dtype=float)
    s = np.asarray(s_atom, dtype=float)
    if s.shape != (len(pos),):
        raise ValueError(f"s_atom must have shape ({len(pos)},), got {s.shape}")
    i, j = neighbour_pairs(pos, np.asarray(atoms.cell), atoms.pbc, rcut)
    total = s + np.bincount(i, weights=s[j], minlength=len(s))
    count = 1.0 + np.bincount(i, minlength=len(s))
    return total / count


@dataclass(frozen=True, eq=False)
class UQResult:
    """Committee uncertainties of one structure; see :func:`summary`.

    Per-atom arrays have shape (N,) and are zero outside the group; statistics
    are over the group.  Forces in eV/Å, energies in eV.
    """

    s_atom: np.ndarray  # (N,) atomic uncertainty s_j (ddof=1), eV/Å
    s_local: np.ndarray  # (N,) local uncertainty s_j^loc, eV/Å
    error_local: np.ndarray  # (N,) alpha * s_local, eV/Å
    structure: float  # mean of s_atom over the group, eV/Å
    max_s_local: float  # eV/Å
    max_s_atom: float  # eV/Å
    energy_std: float  # committee std (ddof=1) of the total energy, eV
    n_above: int  # group atoms with s_local >= threshold
    devi_max: float  # DeePMD deviation (ddof=0) statistics, eV/Å
    devi_min: float
    devi_avg: float
    alpha: float  # error scaling factor

    def global_vector(self) -> np.ndarray:
        """Return the global values, shape (10,), in the order of ``fix uq``.

        ``[structure, max s_local, max s_atom, energy std, n_above, centres (0.0),
        devi max, devi min, devi avg, alpha]``.
        """
        return np.array([self.structure, self.max_s_local, self.max_s_atom, self.energy_std,
                         float(self.n_above), 0.0, self.devi_max, self.devi_min,
                         self.devi_avg, self.alpha], dtype=float)


def _stat(func, x) -> float:
    return float(func(x)) if x.size else 0.0


def summary(atoms, forces_comm, energies, rcut=4.0, alpha=None, mask=None,
            threshold=None) -> UQResult:
    """Compute every uncertainty of one structure.

    Parameters
    ----------
    atoms : object
        Has ``.positions`` (N, 3) Å, ``.cell`` (3, 3) Å and ``.pbc`` (3,) bool.
    forces_comm : array_like, shape (n_models, N, 3)
        Committee forces, eV/Å; ``n_models >= 2``.
    energies : array_like, shape (n_models,), or None
        Committee total energies, eV; None gives ``energy_std = 0.0``.
    rcut : float, optional
        Cutoff of the local uncertainty, Å.
    alpha : float, optional
        Error scaling; :func:`default_alpha` of ``n_models`` if None.
    mask : array_like of bool, shape (N,), optional
        Group.  ``s_local`` averages over neighbours of any group, but statistics
        use the group only and per-atom arrays are zero outside it.
    threshold : float, optional
        ``n_above`` counts group atoms with ``s_local >= threshold`` (0 if None).

    Returns
    -------
    UQResult
        Statistics over empty groups are 0.0.
    """
    f = _check_forces(forces_comm)
    n_atoms = f.shape[1]
    if len(np.asarray(atoms.positions)) != n_atoms:
        raise ValueError("forces_comm and atoms have different numbers of atoms")
    m = np.ones(n_atoms, bool) if mask is None else _check_mask(mask, n_atoms)
    if energies is not None and np.asarray(energies).shape != (f.shape[0],):
        raise ValueError(f"energies must have shape ({f.shape[0]},)")
    alpha = default_alpha(f.shape[0]) if alpha is None else float(alpha)
    s_all = atomic_uncertainty(f)
    s_atom = np.where(m, s_all, 0.0)
    s_local = np.where(m, local_uncertainty(atoms, s_all, rcut), 0.0)
    devi = deepmd_deviation(f)[m]
    n_above = 0 if threshold is None else int(np.count_nonzero(s_local[m] >= threshold))
    return UQResult(
        s_atom=s_atom, s_local=s_local, error_local=alpha * s_local,
        structure=structure_uncertainty(s_atom, m),
        max_s_local=_stat(np.max, s_local[m]), max_s_atom=_stat(np.max, s_atom[m]),
        energy_std=0.0 if energies is None else energy_std(energies),
        n_above=n_above, devi_max=_stat(np.max, devi), devi_min=_stat(np.min, devi),
        devi_avg=_stat(np.mean, devi), alpha=alpha,
    )
