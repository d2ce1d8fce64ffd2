"""Edge graphs shared by all committee members of one check.

An :class:`EdgeGraph` has nodes ``0..nlocal-1`` (atoms whose energies count, the
receivers of every edge) followed by ghost nodes (senders only, whose features other
ranks provide).  Edge vectors point from sender to receiver, ``r_receiver - r_sender``,
as in MACE.  Forces are written to ``nrows`` output rows: the local atoms first, then
the rows ``ghost_rows`` of the ghost nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EdgeGraph:
    nlocal: int                # receiving nodes (their energies are summed)
    numbers: np.ndarray        # (nlocal + n_ghost_nodes,) atomic numbers of the nodes
    receivers: np.ndarray      # (n_edges,) node index, < nlocal
    senders: np.ndarray        # (n_edges,) node index
    vectors: np.ndarray        # (n_edges, 3) r_receiver - r_sender, Å
    ghost_rows: np.ndarray     # (n_ghost_nodes,) output row of each ghost node
    nrows: int                 # rows of the force output

    @property
    def n_ghost_nodes(self) -> int:
        return len(self.ghost_rows)

    def forces_from_edge_gradient(self, dedv: np.ndarray) -> np.ndarray:
        """Forces (nrows, 3) from dE/d(edge vector) (n_edges, 3)."""
        nodes = np.zeros((self.nlocal + self.n_ghost_nodes, 3))
        for k in range(3):
            nodes[:, k] -= np.bincount(self.receivers, dedv[:, k], minlength=len(nodes))
            nodes[:, k] += np.bincount(self.senders, dedv[:, k], minlength=len(nodes))
        rows = np.zeros((self.nrows, 3))
        rows[: self.nlocal] = nodes[: self.nlocal]
        rows[self.ghost_rows] += nodes[self.nlocal:]
        return rows

    def virial_from_edge_gradient(self, dedv: np.ndarray) -> np.ndarray:
        """Virial ``W = sum_edges r_sr (x) f`` (3, 3), eV, from dE/d(edge vector) (n_edges, 3).

        ``W[a, b] = -sum_e v_e[a] dE/dv_e[b]``, LAMMPS's ``sum_i r_i[a] f_i[b]`` restricted
        to this graph's edges (each periodic edge once, whoever owns its receiver), so the
        sum over MPI ranks is the whole virial; the stress is ``-W / volume``.
        """
        return -self.vectors.T @ dedv

    def tensors(self, species: list[int], device: str, dtype: str) -> dict:
        """Torch inputs of MACE's ``lammps_mliap`` path (vectors, one-hot species, edges)."""
        import torch

        torch_dtype = getattr(torch, dtype)
        index = np.full(max(max(species), int(self.numbers.max(initial=0))) + 1, -1)
        index[species] = np.arange(len(species))
        kinds = torch.as_tensor(index[self.numbers], device=device)
        return {
            "vectors": torch.as_tensor(self.vectors, dtype=torch_dtype, device=device),
            "node_attrs": torch.nn.functional.one_hot(kinds, len(species)).to(torch_dtype),
            "edge_index": torch.as_tensor(np.stack([self.senders, self.receivers]),
                                          dtype=torch.int64, device=device),
            "batch": torch.zeros(self.nlocal, dtype=torch.int64, device=device),
        }


def _full_pairs(points: np.ndarray, box: np.ndarray, periodic, cutoff: float):
    from vesin import NeighborList

    i, j, d = NeighborList(cutoff=cutoff, full_list=True).compute(
        points=points, box=box, periodic=periodic, quantities="ijD"
    )
    return i.astype(np.int64), j.astype(np.int64), d


def local_edges(positions, numbers, nlocal: int, image_of, cutoff: float) -> EdgeGraph:
    """Edges into the ``nlocal`` owned atoms from all atoms within cutoff (fix uq's view).

    Ghost senders that image an owned atom are folded onto it; the others become
    ghost nodes, in order of their first appearance as ghost index.
    """
    positions = np.asarray(positions, dtype=np.float64)
    i, j, d = _full_pairs(positions, np.zeros((3, 3)), False, cutoff)
    keep = i < nlocal
    i, j, d = i[keep], j[keep], d[keep]
    owner = np.asarray(image_of, dtype=np.int64)[j]
    foreign = np.unique(j[owner < 0])
    node_of = np.full(len(positions), -1, dtype=np.int64)
    node_of[foreign] = nlocal + np.arange(len(foreign))
    senders = np.where(owner >= 0, owner, node_of[j])
    node_numbers = np.concatenate([numbers[:nlocal], numbers[foreign]]).astype(np.int64)
    return EdgeGraph(nlocal, node_numbers, i, senders, -d, foreign, len(positions))


def periodic_edges(atoms, cutoff: float) -> EdgeGraph:
    """The periodic graph of an ASE ``Atoms`` (every atom local, no ghost nodes)."""
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    box = atoms.cell.array if pbc.any() else np.zeros((3, 3))
    i, j, d = _full_pairs(atoms.positions, box, pbc, cutoff)
    return EdgeGraph(n, atoms.numbers.astype(np.int64), i, j, -d,
                     np.zeros(0, dtype=np.int64), n)
