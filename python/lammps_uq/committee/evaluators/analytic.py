"""An analytic committee of Lennard-Jones pair potentials (a reference evaluator).

Every committee member is a truncated and shifted Lennard-Jones potential per species
pair ``(a, b)``,

.. math::

    \\phi_{ab}(r) = 4\\varepsilon_{ab}\\left[(\\sigma_{ab}/r)^{12} - (\\sigma_{ab}/r)^6\\right]
                 - 4\\varepsilon_{ab}\\left[(\\sigma_{ab}/r_c)^{12} - (\\sigma_{ab}/r_c)^6\\right],
    \\qquad r < r_c,

and zero beyond ``r_c`` (the same as ``ase.calculators.lj.LennardJones(smooth=False)``).
Member ``l`` scales the base ``epsilon`` and ``sigma`` of each pair by ``1 + spread * g``
with ``g ~ N(0, 1)``, so the committee has a known, exact spread of forces that tests
can check without any machine-learning model.

Usable from LAMMPS as ``fix uq ... python lammps_uq.committee.evaluators.analytic:lj_committee
elements Cu Ni``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vesin
from ase.data import atomic_numbers, covalent_radii

from ...errors import InputError

__all__ = ["PairCommittee", "lj_committee"]

_TWO_M_SIXTH = 2.0 ** (-1.0 / 6.0)


def _species_numbers(elements: Sequence[str]) -> np.ndarray:
    """Atomic numbers ``(nspecies,)`` of chemical symbols, validated."""
    if isinstance(elements, str) or len(elements) == 0:
        raise InputError(f"elements must be a non-empty list of chemical symbols, got {elements!r}")
    numbers = []
    for symbol in elements:
        z = atomic_numbers.get(symbol) if isinstance(symbol, str) else None
        if z is None or z == 0:
            raise InputError(
                f"unknown element {symbol!r} in elements; expected a chemical symbol such as 'Cu'"
            )
        numbers.append(z)
    if len(set(numbers)) != len(numbers):
        raise InputError(f"elements must not repeat a symbol, got {list(elements)}")
    return np.asarray(numbers, dtype=np.int64)


def _base_matrix(value, default: np.ndarray, name: str) -> np.ndarray:
    """Symmetric positive ``(nspecies, nspecies)`` matrix from a scalar, matrix or ``None``."""
    if value is None:
        return default
    matrix = np.broadcast_to(np.asarray(value, dtype=np.float64), default.shape).copy()
    if not np.all(np.isfinite(matrix)) or np.any(matrix <= 0.0):
        raise InputError(f"{name} must be positive and finite, got {value!r}")
    if not np.allclose(matrix, matrix.T):
        raise InputError(f"{name} must be symmetric in the species pair, got {value!r}")
    return matrix


def _symmetric_factors(rng: np.random.Generator, n_models: int, n: int,
                       spread: float) -> np.ndarray:
    """Factors ``1 + spread * g`` of shape ``(n_models, n, n)``, symmetric in the last two axes."""
    g = rng.standard_normal((n_models, n, n))
    g = np.triu(g) + np.swapaxes(np.triu(g, 1), 1, 2)
    factors = 1.0 + spread * g
    if np.any(factors <= 0.0):
        raise InputError(f"spread={spread} gives a non-positive parameter; use a smaller spread")
    return factors


class PairCommittee:
    """Committee of truncated, shifted Lennard-Jones pair potentials.

    Parameters
    ----------
    elements : list of str
        Chemical symbols, one per LAMMPS atom type, e.g. ``["Cu", "Ni"]``.
    n_models : int, default 4
        Committee size (at least 2).
    cutoff : float, default 5.0
        Cutoff radius ``r_c`` in Å; also the ghost cutoff.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` drawing the member perturbations.
    spread : float, default 0.1
        Relative standard deviation of each member's ``epsilon`` and ``sigma``.
    epsilon : float or array_like (nspecies, nspecies), optional
        Base well depth in eV; default 0.05 eV for every pair.
    sigma : float or array_like (nspecies, nspecies), optional
        Base length in Å.  The default ``sigma_ab = (r_a + r_b) * 2**(-1/6)`` with ``r``
        the ASE covalent radii puts the pair minimum at ``r_a + r_b``; with ``r_c = 5``
        the FCC crystal is then stable with a lattice constant within about 3 % of
        experiment for Cu (3.67 vs 3.61 Å) and Ni (3.44 vs 3.52 Å).

    Attributes
    ----------
    n_models : int
        Committee size.
    ghost_cutoff : float
        Å, equal to ``cutoff``.
    numbers : ndarray of int, shape (nspecies,)
        Atomic number of each LAMMPS atom type.
    epsilon, sigma : ndarray of float, shape (n_models, nspecies, nspecies)
        Member parameters in eV and Å, symmetric in the species pair.
    shift : ndarray of float, shape (n_models, nspecies, nspecies)
        ``phi`` before shifting, evaluated at ``cutoff``, in eV.
    """

    def __init__(self, *, elements, n_models=4, cutoff=5.0, seed=0, spread=0.1, epsilon=None,
                 sigma=None):
        self.numbers = _species_numbers(elements)
        if int(n_models) != n_models or n_models < 2:
            raise InputError(f"n_models must be an integer of at least 2, got {n_models!r}")
        if not np.isfinite(cutoff) or cutoff <= 0.0:
            raise InputError(f"cutoff must be a positive length in Å, got {cutoff!r}")
        if not np.isfinite(spread) or spread < 0.0:
            raise InputError(f"spread must be a non-negative number, got {spread!r}")
        self.n_models = int(n_models)
        self.cutoff = float(cutoff)
        self.ghost_cutoff = self.cutoff
        n = len(self.numbers)
        radii = covalent_radii[self.numbers]
        base_sigma = _base_matrix(sigma, (radii[:, None] + radii[None, :]) * _TWO_M_SIXTH, "sigma")
        base_eps = _base_matrix(epsilon, np.full((n, n), 0.05), "epsilon")
        rng = np.random.default_rng(seed)
        self.epsilon = base_eps * _symmetric_factors(rng, self.n_models, n, spread)
        self.sigma = base_sigma * _symmetric_factors(rng, self.n_models, n, spread)
        sr6 = (self.sigma / self.cutoff) ** 6
        self.shift = 4.0 * self.epsilon * (sr6 * sr6 - sr6)
        self._species_of = np.full(int(self.numbers.max()) + 1, -1, dtype=np.int64)
        self._species_of[self.numbers] = np.arange(n)

    def _species(self, numbers: np.ndarray) -> np.ndarray:
        """Species index ``(nall,)`` of each atomic number ``(nall,)``."""
        numbers = np.asarray(numbers, dtype=np.int64)
        known = (numbers >= 0) & (numbers < len(self._species_of))
        species = np.full(numbers.shape, -1, dtype=np.int64)
        species[known] = self._species_of[numbers[known]]
        if np.any(species < 0):
            bad = sorted(set(numbers[species < 0].tolist()))
            raise InputError(
                f"atomic numbers {bad} are not in this committee's elements "
                f"(atomic numbers {self.numbers.tolist()})"
            )
        return species

    def _pair_terms(self, species, i, j, vectors, weights, nall):
        """Weighted committee energies and forces of a list of pairs.

        Parameters
        ----------
        species : ndarray of int, shape (nall,)
            Species index of every atom.
        i, j : ndarray of int, shape (npairs,)
            Atom indices of each pair.
        vectors : ndarray of float, shape (npairs, 3)
            ``x_j - x_i`` (including any periodic shift) in Å.
        weights : ndarray of float, shape (npairs,)
            Fraction of ``phi(r_ij)`` counted in the energy.
        nall : int
            Number of atoms (rows of the force array).

        Returns
        -------
        forces : ndarray of float, shape (n_models, nall, 3)
            eV/Å, negative gradient of the weighted energy.
        energies : ndarray of float, shape (n_models,)
            eV, weighted sum of ``phi`` over the pairs.
        virials : ndarray of float, shape (n_models, 3, 3)
            eV, ``W = sum_pairs r_ij (x) f_ij = -sum D (x) f_i`` with the weighted pair forces.
        """
        r2 = np.einsum("pk,pk->p", vectors, vectors)
        si, sj = species[i], species[j]
        eps, shift = self.epsilon[:, si, sj], self.shift[:, si, sj]
        sr6 = (self.sigma[:, si, sj] ** 2 / r2) ** 3
        energies = (4.0 * eps * (sr6 * sr6 - sr6) - shift) @ weights
        # dphi/dr / r, shape (n_models, npairs)
        dphi_over_r = -24.0 * eps * (2.0 * sr6 * sr6 - sr6) / r2 * weights
        # force on j is -dphi/dr * D/r, force on i the opposite
        pair_force = dphi_over_r[:, :, None] * vectors[None, :, :]
        forces = np.empty((self.n_models, nall, 3))
        for m in range(self.n_models):
            for k in range(3):
                column = pair_force[m, :, k]
                forces[m, :, k] = np.bincount(i, column, nall) - np.bincount(j, column, nall)
        virials = -np.einsum("pa,mpb->mab", vectors, pair_force)
        return forces, energies, virials

    def evaluate(self, positions, numbers, nlocal, *, image_of=None, exchange=None,
                 virial=False):
        """Committee forces and local energies for local plus ghost atoms.

        The energy of local atom ``i`` is ``E_i = 1/2 sum_{j != i, r_ij < r_c} phi(r_ij)``
        over all ``nall`` atoms; ghost atoms are explicit periodic images (no cell).

        Parameters
        ----------
        positions : ndarray of float, shape (nall, 3)
            Å; local atoms first, then ghost atoms.
        numbers : ndarray of int, shape (nall,)
            Atomic numbers, each one of :attr:`numbers`.
        nlocal : int
            Number of local atoms (the first ``nlocal`` rows).
        image_of, exchange
            Part of the evaluator contract; a pair potential does not need them.
        virial : bool, default False
            Also return each member's share of the virial (``fix uq`` asks for it).

        Returns
        -------
        forces : ndarray of float, shape (n_models, nall, 3)
            eV/Å, ``-d(sum_{i < nlocal} E_i)/dx`` for every position (ghost rows included).
        energies : ndarray of float, shape (n_models,)
            eV, ``sum_{i < nlocal} E_i``.
        virials : ndarray of float, shape (n_models, 3, 3)
            Only with ``virial``: eV, this rank's share of ``sum r_ij (x) f_ij`` (each pair
            weighted as its energy), so the sum over ranks is the virial of the box.
        """
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        nall = len(positions)
        species = self._species(numbers)
        if nall < 2:
            empty = (np.zeros((self.n_models, nall, 3)), np.zeros(self.n_models),
                     np.zeros((self.n_models, 3, 3)))
            return empty if virial else empty[:2]
        i, j, vectors = vesin.NeighborList(cutoff=self.cutoff, full_list=False).compute(
            positions, box=np.zeros((3, 3)), periodic=False, quantities="ijD"
        )
        # each owned end of a pair carries half of its energy
        weights = 0.5 * ((i < nlocal).astype(np.float64) + (j < nlocal))
        keep = weights > 0.0
        out = self._pair_terms(species, i[keep], j[keep], vectors[keep], weights[keep], nall)
        return out if virial else out[:2]

    def committee_forces(self, atoms):
        """Committee forces and total energies of an ``ase.Atoms`` (periodic or not).

        Parameters
        ----------
        atoms : ase.Atoms
            Structure with ``N`` atoms; species from ``atoms.numbers``, periodicity from
            ``atoms.cell`` and ``atoms.pbc``.

        Returns
        -------
        forces : ndarray of float, shape (n_models, N, 3)
            eV/Å.
        energies : ndarray of float, shape (n_models,)
            eV, total energy of each member.
        """
        species = self._species(atoms.numbers)
        positions = np.ascontiguousarray(atoms.positions, dtype=np.float64)
        pbc = np.asarray(atoms.pbc, dtype=bool)
        box = np.asarray(atoms.cell.array, dtype=np.float64)
        if not pbc.any():
            box = np.zeros((3, 3))
        i, j, vectors = vesin.NeighborList(cutoff=self.cutoff, full_list=False).compute(
            positions, box=box, periodic=pbc, quantities="ijD"
        )
        weights = np.ones(len(i))
        return self._pair_terms(species, i, j, vectors, weights, len(atoms))[:2]


def lj_committee(elements, **kwargs) -> PairCommittee:
    """Build a :class:`PairCommittee`; the factory named in ``fix uq ... python``.

    Parameters
    ----------
    elements : list of str
        Chemical symbols, one per LAMMPS atom type.
    **kwargs
        Keyword arguments of :class:`PairCommittee` (``n_models``, ``cutoff``, ``seed``,
        ``spread``, ``epsilon``, ``sigma``).

    Returns
    -------
    PairCommittee
        The committee evaluator.
    """
    return PairCommittee(elements=list(elements), **kwargs)
