"""Molecules of a frame: from LAMMPS molecule ids when present, else a bond graph.

Bonds are pairs closer than ``scale * (r_cov(a) + r_cov(b))`` (ASE covalent radii),
periodic images included for periodic frames.  Each molecule is returned whole: its
atoms' positions unwrapped around its first atom.

A connected piece is *extended* (a solid, not a molecule) when it is infinite under the
periodic images (some bond cycle spans a lattice vector, so it cannot be unwrapped) or when it
holds more than half of the frame's atoms (a chunk of solid in a non-periodic region frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Molecules:
    """labels (N,) molecule index of every atom; whole (N, 3) unwrapped positions."""

    labels: np.ndarray
    whole: np.ndarray
    extended: np.ndarray  # (n_molecules,) bool: an extended network, not a molecule
    bonds: np.ndarray     # (2, n) ordered bonded pairs (i, j) within molecules, both directions

    @property
    def count(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def members(self, m: int) -> np.ndarray:
        return np.nonzero(self.labels == m)[0]

    def centres(self) -> np.ndarray:
        """(n_molecules, 3) geometric centre of each whole molecule."""
        sums = np.zeros((self.count, 3))
        np.add.at(sums, self.labels, self.whole)
        return sums / np.bincount(self.labels, minlength=self.count)[:, None]


def bond_pairs(atoms, scale: float = 1.25):
    """(i, j, D) of bonded pairs, D = r_j - r_i including the periodic shift."""
    from ase.data import covalent_radii

    from ..science.uncertainty import neighbour_pairs

    radii = covalent_radii[atoms.numbers]
    cutoff = 2 * scale * radii.max() if len(atoms) else 0.0
    i, j = neighbour_pairs(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    vectors = _pair_vectors(atoms, i, j)
    keep = np.linalg.norm(vectors, axis=1) <= scale * (radii[i] + radii[j])
    return i[keep], j[keep], vectors[keep]


def _pair_vectors(atoms, i, j):
    from ase.geometry import find_mic

    d = atoms.positions[j] - atoms.positions[i]
    if atoms.pbc.any():
        d, _ = find_mic(d, atoms.cell, atoms.pbc)
    return d


def find_molecules(atoms, scale: float = 1.25) -> Molecules:
    """Molecules by LAMMPS ``mol`` ids if the frame has them, else by the bond graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    n = len(atoms)
    i, j, vectors = bond_pairs(atoms, scale)
    if "mol" in atoms.arrays:
        _, labels = np.unique(atoms.arrays["mol"], return_inverse=True)
        same = labels[i] == labels[j]
        i, j, vectors = i[same], j[same], vectors[same]
    else:
        graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
    whole = atoms.positions.copy()
    graph = coo_matrix((np.arange(1, len(i) + 1), (i, j)), shape=(n, n)).tocsr()
    for m in range(labels.max() + 1 if n else 0):
        root = int(np.nonzero(labels == m)[0][0])
        order, parent = breadth_first_order(graph, root, directed=False)
        for atom in order[1:]:
            edge = graph[parent[atom], atom]
            sign = 1.0
            if edge == 0:
                edge, sign = graph[atom, parent[atom]], -1.0
            whole[atom] = whole[parent[atom]] + sign * vectors[int(edge) - 1]
        _unwrap_unbonded(atoms, labels == m, order, root, whole)
    return Molecules(labels=labels, whole=whole, extended=_extended(labels, whole, i, j, vectors),
                     bonds=np.stack([i, j]))


def _unwrap_unbonded(atoms, members, reached, root: int, whole) -> None:
    """Atoms of a LAMMPS molecule that no bond reaches (an O-H stretched past the bond
    criterion, a proton on its way): placed at their nearest image of the root's position."""
    from ase.geometry import find_mic

    stray = np.setdiff1d(np.nonzero(members)[0], reached)
    if len(stray) and atoms.pbc.any():
        d, _ = find_mic(atoms.positions[stray] - atoms.positions[root], atoms.cell, atoms.pbc)
        whole[stray] = whole[root] + d


def _extended(labels, whole, i, j, vectors) -> np.ndarray:
    count = labels.max() + 1 if len(labels) else 0
    extended = np.bincount(labels, minlength=count) > len(labels) / 2
    periodic = np.linalg.norm(whole[j] - whole[i] - vectors, axis=1) > 1e-6
    extended[labels[i[periodic]]] = True
    return extended
