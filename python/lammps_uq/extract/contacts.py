"""Refuse cells that are not physical structures before any reference calculation is spent.

An exploration driven by a weak committee can collapse (the potential has holes): two atoms
end up a few tenths of an ångström apart and the reference code returns forces of thousands
of eV/Å.  Such a cell teaches a potential nothing about the system, and an uncertainty-driven
selection is drawn to exactly these spots.  ``lammps-uq label`` (and ``learn``'s label stage)
therefore refuses a cell in which two atoms i, j are closer than ``factor`` x (r_i + r_j),
r the covalent radii of ASE (Cordero et al. 2008); the reason names both atoms and the
distance, and the cell is recorded in ``OUTPUT.failed.json`` like any failed label.

With the default factor 0.7 (``LabelSettings.min_contact``) the limits are 0.68 Å for O-H,
0.43 Å for H-H and 0.92 Å for O-O: liquid water, even hot and compressed, has no pair closer
than ~0.85 Å (a compressed O-H bond).  ``factor`` 0 switches the check off.
"""

from __future__ import annotations

import numpy as np


def closest_contact(atoms, factor: float) -> str | None:
    """Why ``atoms`` is not a physical structure (its closest offending pair), or None."""
    if factor <= 0 or len(atoms) < 2:
        return None
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    radii = factor * covalent_radii[atoms.numbers]
    i, j, d = neighbor_list("ijd", atoms, radii.tolist(), self_interaction=False)
    if len(d) == 0:
        return None
    k = int(np.argmin(d / (radii[i] + radii[j])))
    a, b = int(i[k]), int(j[k])
    symbols = atoms.get_chemical_symbols()
    limit = radii[a] + radii[b]
    return (f"atoms {a} ({symbols[a]}) and {b} ({symbols[b]}) are {d[k]:.3f} Å apart, closer "
            f"than {factor:g} x their covalent radii ({limit:.3f} Å): not a physical "
            "structure, not labelled (min_contact)")


def screen(todo: dict, factor: float) -> dict:
    """{cell_id: reason} of the cells of ``todo`` ({cell_id: (id, source, atoms)}) refused."""
    refused = {}
    for cell_id, (_, _, atoms) in todo.items():
        reason = closest_contact(atoms, factor)
        if reason:
            refused[cell_id] = reason
    return refused
