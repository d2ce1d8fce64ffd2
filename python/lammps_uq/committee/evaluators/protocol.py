"""The contract between ``fix uq`` and a committee evaluator (docs/design.md, "The evaluator
protocol").

``fix uq`` gathers the local and ghost atoms of its MPI rank and calls
``evaluator.evaluate(positions, numbers, nlocal, image_of=..., exchange=...)``.

Arguments (all numpy arrays are read-only views of LAMMPS memory, valid only during
the call):

- ``positions``: ``(nall, 3)`` float64, Å; local atoms first (``0 <= i < nlocal``),
  then ghost atoms, in LAMMPS order.
- ``numbers``: ``(nall,)`` int, atomic numbers from the fix's ``elements`` keyword.
- ``nlocal``: number of atoms owned by this rank.
- ``image_of``: ``(nall,)`` int; for atom ``i``, the index ``< nlocal`` of the owned atom
  it is a periodic image of on this rank, else ``-1`` (``image_of[i] == i`` for owned atoms).
- ``exchange``: an :class:`Exchange` whose ``forward(a)`` copies owned rows of an
  ``(nall, k)`` float64 array onto their ghost images on every rank, and whose
  ``reverse(a)`` sums ghost rows into their owners.  Both are collective: every rank
  must call them the same number of times in the same order.

Returns ``(forces, energies)``:

- ``forces``: ``(n_models, nall, 3)`` float64, eV/Å, the negative gradient of the sum of
  the energies of the LOCAL atoms with respect to all ``nall`` positions (ghost rows are
  summed into their owners by the fix);
- ``energies``: ``(n_models,)`` float64, eV, that sum of local-atom energies per model.

Optional: ``max_exchange_width`` (widest array passed to the exchanges) and
``fitted_alpha(rcut) -> float``, the committee's calibrated alpha of s_loc at ``rcut``
(0.0 if none), which ``alpha auto`` uses.

Optional keywords of ``evaluate`` (the fix passes a keyword only if ``evaluate`` names it):

- ``virial=True``: return ``(forces, energies, virials)``, ``virials`` ``(n_models, 3, 3)``
  float64, eV: this rank's share of the virial ``W[a, b] = sum r_ij[a] f_ij[b]`` (LAMMPS sign:
  ``W = -dE/d(strain)``, stress ``= -W / volume``), split so that the sum over ranks is the
  whole virial, e.g. the sum over edges into local atoms, or ``sum_i x_i (x) f_i`` over the
  ``nall`` rows when ghosts are explicit images.  ``drive`` adds it to the pressure; the devi
  file's virial columns are its spread over members.
- ``members=[k, ...]``: evaluate only these members (0-based, sorted order); forces, energies
  (and virials) then have ``len(members)`` rows.  ``drive model K`` asks for ``[K - 1]``
  between checks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class Exchange(Protocol):
    """Ghost-atom exchanges offered by ``fix uq`` during :meth:`Evaluator.evaluate`."""

    def forward(self, a: np.ndarray) -> None:
        """Copy owned rows of ``a`` (``(nall, k)`` float64, C order) to their ghosts, in place."""

    def reverse(self, a: np.ndarray) -> None:
        """Add ghost rows of ``a`` into their owners' rows, in place (ghost rows are kept)."""


class NoExchange:
    """Exchange for a single process with no ghost atoms (offline use)."""

    def forward(self, a: np.ndarray) -> None:  # noqa: D102 - nothing to do
        return None

    def reverse(self, a: np.ndarray) -> None:  # noqa: D102 - nothing to do
        return None


@runtime_checkable
class Evaluator(Protocol):
    """Any object with these members can be used by ``fix uq ... python MODULE:FACTORY``."""

    n_models: int
    """Committee size N_C (at least 2)."""

    ghost_cutoff: float
    """Å of ghost atoms needed around the local atoms for exact forces."""

    def evaluate(
        self,
        positions: np.ndarray,
        numbers: np.ndarray,
        nlocal: int,
        *,
        image_of: np.ndarray,
        exchange: Exchange,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-model forces ``(n_models, nall, 3)`` and local energy sums ``(n_models,)``
        (optionally also virials; see the module docstring for ``virial`` and ``members``)."""
