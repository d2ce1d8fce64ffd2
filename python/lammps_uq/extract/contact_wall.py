"""A soft contact wall for the border relaxation of carved cells.

Carving puts molecules that were far apart in the parent next to each other across the new
periodic boundary; some start overlapping (O-O under 1 Å in water).  A committee trained on
liquid frames has never seen such contacts and need not push them apart (the default water
committee leaves O-O pairs at 1.6 Å).  The wall adds, for every pair of atoms that are not in
the same molecule,

    E = 1/2 k (d0 - r)**2   for r < d0,   0 otherwise,

with d0 per element pair = ``factor`` x the shortest distance between such atoms in the
parent geometry of the carved atoms.  It is zero for every contact the parent already had
(when ``factor`` <= 1), so it only undoes contacts that the carve itself made.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

SEARCH = 6.0  # Å: parent contacts looked for within this distance


def contact_table(numbers, positions, molecule, factor: float) -> dict[tuple[int, int], float]:
    """{(Z_a, Z_b) with Z_a <= Z_b: d0} from non-periodic parent positions.

    ``molecule`` (N,) labels; -1 marks atoms of an extended network, each its own unit.
    Element pairs with no contact within ``SEARCH`` Å get no wall.
    """
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(numbers=numbers, positions=positions, pbc=False)
    i, j, d = neighbor_list("ijd", atoms, SEARCH)
    keep = _different_units(np.asarray(molecule), i, j)
    table: dict[tuple[int, int], float] = {}
    for a, b, r in zip(numbers[i[keep]], numbers[j[keep]], d[keep]):
        key = (int(min(a, b)), int(max(a, b)))
        table[key] = min(table.get(key, np.inf), float(r))
    return {key: factor * r for key, r in table.items()}


def _different_units(molecule, i, j):
    return (molecule[i] != molecule[j]) | (molecule[i] < 0)


class ContactWall(Calculator):
    """Harmonic repulsion below the parent's closest contacts (see the module docstring)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, table: dict[tuple[int, int], float], molecule, k: float = 10.0):
        super().__init__()
        self.molecule, self.k = np.asarray(molecule), float(k)
        self.cutoff = max(table.values(), default=0.0)
        self.d0 = np.zeros((119, 119))  # d0 by atomic numbers, symmetric; 0: no wall
        for (a, b), d in table.items():
            self.d0[a, b] = self.d0[b, a] = d

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        forces = np.zeros((len(self.atoms), 3))
        energy = 0.0
        if self.cutoff > 0:
            i, j, d, vec = neighbor_list("ijdD", self.atoms, self.cutoff)
            d0 = self.d0[self.atoms.numbers[i], self.atoms.numbers[j]]
            on = _different_units(self.molecule, i, j) & (d < d0)
            overlap = d0[on] - d[on]
            energy = 0.25 * self.k * float(np.sum(overlap**2))  # each pair listed twice
            np.add.at(forces, i[on], -(self.k * overlap / d[on])[:, None] * vec[on])
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
