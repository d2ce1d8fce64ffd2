"""Centre selection, offline (the same rules as ``fix uq``; docs/design.md, "Selection and
output").

1. Candidates: group atoms with ``s_local >= threshold`` (or ``alpha * s_local >=
   error_threshold``) that are the maximum of ``s_local`` among group atoms within
   ``separation`` (periodic images included; ties go to the lower atom id).
2. Greedy non-maximum suppression in decreasing ``s_local`` (ties: lower id first): a
   candidate is taken unless it lies within ``separation`` (minimum image) of a centre
   already taken at this step or taken less than ``cooldown`` steps ago; at most
   ``max_centres`` per step.

The C++ twin is ``lmp_plugin/fix_uq_select.cpp``; tests hold the two together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .uncertainty import neighbour_pairs


@dataclass
class Selector:
    """Selection settings plus the cooldown memory carried from step to step."""

    threshold: float
    separation: float
    max_centres: int = 4
    cooldown: int = 0
    scale: float = 1.0  # alpha for error_threshold, else 1
    recent: list = field(default_factory=list)  # (step, position) of recent centres

    def candidates(self, atoms, s_local, ids, mask) -> np.ndarray:
        """Indices of the local maxima over the threshold (see module docstring)."""
        above = mask & (self.scale * s_local >= self.threshold)
        i, j = neighbour_pairs(atoms.positions, atoms.cell.array, atoms.pbc, self.separation)
        beats = mask[j] & ((s_local[j] > s_local[i]) | ((s_local[j] == s_local[i]) & (ids[j] < ids[i])))
        beaten = np.zeros(len(atoms), dtype=bool)
        beaten[i[beats]] = True
        return np.nonzero(above & ~beaten)[0]

    def select(self, atoms, s_local, step: int, ids=None, mask=None) -> list[int]:
        """Atom ids of the centres chosen at ``step``; updates the cooldown memory."""
        s_local = np.asarray(s_local, dtype=float)
        ids = np.arange(1, len(atoms) + 1) if ids is None else np.asarray(ids)
        mask = np.ones(len(atoms), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        found = self.candidates(atoms, s_local, ids, mask)
        order = found[np.lexsort((ids[found], -s_local[found]))]
        self.recent = [(t, p) for t, p in self.recent if step - t < self.cooldown]
        chosen: list[int] = []
        for c in order:
            if len(chosen) >= self.max_centres:
                break
            taken = [atoms.positions[k] for k in chosen] + [p for _, p in self.recent]
            if any(self._distance(atoms, atoms.positions[c], p) < self.separation for p in taken):
                continue
            chosen.append(int(c))
        self.recent += [(step, atoms.positions[k].copy()) for k in chosen]
        return [int(ids[k]) for k in chosen]

    @staticmethod
    def _distance(atoms, p, q) -> float:
        from ase.geometry import find_mic

        vector, _ = find_mic(np.asarray(p) - np.asarray(q), atoms.cell, atoms.pbc)
        return float(np.linalg.norm(vector))


def select_frames(frames, selector: Selector, s_key: str = "s_local") -> list[tuple[int, list]]:
    """(step, centre ids) for each frame; steps from ``info['step']`` or the frame index."""
    result = []
    for index, atoms in enumerate(frames):
        step = int(atoms.info.get("step", index))
        ids = atoms.arrays.get("id")
        result.append((step, selector.select(atoms, atoms.arrays[s_key], step, ids=ids)))
    return result
