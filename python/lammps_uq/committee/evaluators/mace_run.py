"""One MACE member on an :class:`~lammps_uq.committee.evaluators.graph.EdgeGraph`."""

from __future__ import annotations

import time

import numpy as np
import torch


class GhostExchange:
    """The ``lammps_class`` that MACE's ``lammps_mliap`` path calls between layers.

    ``forward_exchange`` fills ghost-node rows with their owners' features (from other
    ranks); ``reverse_exchange`` sends ghost-node gradients back to the owners and
    zeroes them, since the ghost rows of the input never reach the output.
    """

    def __init__(self, graph, exchange):
        self.graph, self.exchange = graph, exchange
        self.seconds = 0.0    # time spent in exchanges (copies and communication)

    def _rows(self, tensor: torch.Tensor, width: int) -> np.ndarray:
        n, g = self.graph.nlocal, self.graph
        values = tensor.detach().to("cpu", torch.float64).numpy()
        buf = np.zeros((g.nrows, width))
        buf[:n] = values[:n]
        return buf, values

    def forward_exchange(self, feats: torch.Tensor, out: torch.Tensor, vec_len: int) -> None:
        start = time.perf_counter()
        n = self.graph.nlocal
        buf, values = self._rows(feats, vec_len)
        self.exchange.forward(buf)
        result = np.concatenate([values[:n], buf[self.graph.ghost_rows]])
        out.copy_(torch.from_numpy(result))
        self.seconds += time.perf_counter() - start

    def reverse_exchange(self, grad: torch.Tensor, gout: torch.Tensor, vec_len: int) -> None:
        start = time.perf_counter()
        n = self.graph.nlocal
        buf, values = self._rows(grad, vec_len)
        buf[self.graph.ghost_rows] = values[n:]
        self.exchange.reverse(buf)
        result = np.zeros_like(values)
        result[:n] = buf[:n]
        gout.copy_(torch.from_numpy(result))
        self.seconds += time.perf_counter() - start


def run_member(model, tensors: dict, graph, ghosts: GhostExchange) -> tuple[float, np.ndarray]:
    """Local-atom energy (eV) and its gradient with respect to the edge vectors."""
    vectors = tensors["vectors"].detach().clone().requires_grad_(True)
    heads = getattr(model, "heads", None) or ["Default"]
    device = vectors.device
    data = {
        "vectors": vectors,
        "node_attrs": tensors["node_attrs"],
        "edge_index": tensors["edge_index"],
        "batch": tensors["batch"],
        "natoms": (graph.nlocal, graph.n_ghost_nodes),
        "lammps_class": ghosts,
        "head": torch.tensor([len(heads) - 1], dtype=torch.int64, device=device),
        "total_charge": torch.zeros(1, dtype=vectors.dtype, device=device),
        "total_spin": torch.ones(1, dtype=vectors.dtype, device=device),
    }
    out = model(data, training=False, compute_force=False, lammps_mliap=True)
    energy = out["energy"][0]
    (dedv,) = torch.autograd.grad(energy, vectors)
    return float(energy.detach()), dedv.detach().to("cpu", torch.float64).numpy()
