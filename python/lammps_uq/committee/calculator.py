"""``CommitteeCalculator``: the MACE committee of ``fix uq`` as an ASE calculator."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from ..science import uncertainty
from .evaluators.graph import periodic_edges
from .evaluators.protocol import NoExchange


class CommitteeCalculator(Calculator):
    """Mean energy and forces of a MACE committee, with its uncertainties.

    One periodic graph per structure is shared by all members.  ``results`` holds:

    - ``energy``, ``free_energy`` (eV) and ``forces`` (N, 3, eV/Å): committee means;
    - ``energies_comm`` (n_models,) and ``forces_comm`` (n_models, N, 3): every member;
    - ``s_atom`` (N,) and ``s_local`` (N,): atomic and local uncertainty (eV/Å,
      unbiased std, :mod:`lammps_uq.science.uncertainty`), ``s_local`` within ``rcut`` Å.

    Parameters
    ----------
    model_paths : str or list of str
        MACE model files or globs (each sorted), at least two in all.
    dtype : {"float64", "float32"}
    device : {"cpu", "cuda", "auto"}
    rcut : float
        Radius of the local aggregation, Å.
    label : str
        How messages about the model files start (the CLI passes ``--committee``).

    Raises
    ------
    InputError
        Model files missing, fewer than two, the same file twice, identical weights or
        disagreeing members; atoms of an element the models do not know.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model_paths, *, dtype: str = "float64", device: str = "cpu",
                 rcut: float = 4.0, label: str = "CommitteeCalculator", **kwargs):
        super().__init__(**kwargs)
        from .evaluators.mace_committee import MaceCommittee

        paths = [model_paths] if isinstance(model_paths, str) else list(model_paths)
        self.committee = MaceCommittee(paths, dtype=dtype, device=device, label=label)
        self.parameters.update(model_paths=self.committee.paths, dtype=dtype, device=device,
                               rcut=rcut)

    @classmethod
    def from_committee(cls, committee, rcut: float = 4.0) -> "CommitteeCalculator":
        """A calculator over an already loaded ``MaceCommittee`` (no second copy of the models)."""
        calc = cls.__new__(cls)
        Calculator.__init__(calc)
        calc.committee = committee
        calc.parameters.update(model_paths=committee.paths, dtype=committee.dtype,
                               device=committee.device, rcut=rcut)
        return calc

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.committee.check_elements(self.atoms.numbers, "CommitteeCalculator atoms")
        graph = periodic_edges(self.atoms, self.committee.r_max)
        forces, energies = self.committee.evaluate_graph(graph, NoExchange())
        s_atom = uncertainty.atomic_uncertainty(forces)
        self.results = {
            "energy": float(energies.mean()),
            "free_energy": float(energies.mean()),
            "forces": forces.mean(axis=0),
            "energies_comm": energies,
            "forces_comm": forces,
            "s_atom": s_atom,
            "s_local": uncertainty.local_uncertainty(self.atoms, s_atom, self.parameters.rcut),
        }
