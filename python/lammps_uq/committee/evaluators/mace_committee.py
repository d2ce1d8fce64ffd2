"""A committee of MACE models as a ``fix uq`` evaluator (docs/design.md, "Exact committee
forces for message-passing models").

Exact per-model forces at the cost of the periodic graph:

- edges only INTO local atoms (receivers ``< nlocal``), senders local or ghost within r_max;
- a ghost sender that is an image of an atom owned by this rank is folded onto that atom
  (``image_of``), so on one rank the graph is exactly the periodic one;
- ghosts owned by other ranks stay as nodes whose features are forward-exchanged between
  interaction layers, and whose feature gradients are reverse-exchanged in the backward pass
  (MACE's own ``lammps_mliap`` code path calls our exchange through ``lammps_class``);
- forces come from the gradient of the local-atom energy with respect to the edge vectors,
  so ghost rows hold the contributions that the fix sums into their owners.

All members share one neighbour list per check.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import numpy as np

from ...science.calibrate import fitted_alpha, read_calibration
from ...science.error_model import model_at
from ...errors import InputError
from .graph import EdgeGraph, local_edges
from .protocol import Exchange

DTYPES = ("float64", "float32")
DEVICES = ("auto", "cpu", "cuda")


DEFAULT = "default"
LABEL = "fix uq mace"  # how model-file messages start by default


def default_committee_dir() -> Path:
    """The water committee shipped with lammps-uq (python -m lammps_uq.committee.default.train)."""
    return Path(__file__).resolve().parents[2] / "data" / "water_committee"


def expand_model_paths(patterns: list[str], label: str = LABEL) -> list[str]:
    """Paths or globs to model files, each pattern sorted, so the member order is reproducible.

    The word ``default`` (when no file of that name exists) is the shipped water committee.
    ``label`` starts the messages (the fix's ``fix uq mace``, the CLI's ``--committee``).
    """
    paths: list[str] = []
    for pattern in map(os.fspath, patterns):
        if pattern == DEFAULT and not os.path.exists(pattern):
            pattern = str(default_committee_dir() / "member_*.model")
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputError(f"{label}: no model file matches {pattern!r}")
        paths.extend(matches)
    for path in paths:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise InputError(f"{label}: cannot read model file {path!r} (missing or unreadable)")
    if len(paths) < 2:
        raise InputError(f"{label}: got {len(paths)} model file(s) {paths}; expected at least 2")
    check_distinct_files(paths, label)
    return paths


def check_distinct_files(paths: list[str], label: str = LABEL) -> None:
    """Refuse a file given twice (also through another path, a symbolic or a hard link)."""
    keys = [(os.stat(p).st_dev, os.stat(p).st_ino) for p in paths]
    _refuse_repeats(keys, paths, label, "are the same file; expected distinct members "
                    "(a committee of one model has zero uncertainty)")


def _refuse_repeats(keys: list, paths: list[str], label: str, what: str) -> None:
    first: dict = {}
    for key, path in zip(keys, paths):
        if key in first:
            raise InputError(f"{label}: {first[key]!r} and {path!r} {what}")
        first[key] = path


def weights_digest(model) -> str:
    """SHA-256 of a model's state_dict (names, dtypes, shapes and values of every tensor)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name} {array.dtype} {array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def check_distinct_weights(models: list, paths: list[str], label: str = LABEL) -> None:
    """Refuse members with identical weights (a copied model file), naming both files."""
    _refuse_repeats([weights_digest(m) for m in models], paths, label, "hold identical weights; "
                    "expected distinct members (e.g. trained with different seeds)")


def model_facts(model) -> dict:
    """r_max, number of interaction layers and species of a MACE model."""
    return {
        "r_max": float(model.r_max),
        "num_interactions": int(model.num_interactions),
        "atomic_numbers": [int(z) for z in model.atomic_numbers],
    }


def check_agreement(models: list, paths: list[str], label: str = LABEL) -> dict:
    """Refuse members that disagree on r_max, layers or species, naming the file and values."""
    first = model_facts(models[0])
    for model, path in zip(models[1:], paths[1:]):
        facts = model_facts(model)
        for key, value in facts.items():
            if value != first[key]:
                raise InputError(
                    f"{label}: {path} has {key} = {value}, but {paths[0]} has "
                    f"{first[key]}; all committee members must agree"
                )
    return first


def torch_threads() -> int:
    """OMP_NUM_THREADS if set, else the cores of this node divided among its MPI ranks."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    local_ranks = 1
    for var in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        if os.environ.get(var, "").isdigit():
            local_ranks = max(1, int(os.environ[var]))
            break
    return max(1, (os.cpu_count() or 1) // local_ranks)


def pick_device(device: str) -> str:
    """``auto``: this rank's node-local GPU ``cuda:(local_rank mod n_gpus)`` if any, else cpu."""
    import torch

    if device not in DEVICES:
        raise InputError(f"fix uq device: got {device!r}; expected one of {', '.join(DEVICES)}")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        raise InputError("fix uq device cuda: torch sees no CUDA device on this node")
    local = 0
    for var in ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"):
        if os.environ.get(var, "").isdigit():
            local = int(os.environ[var])
            break
    return f"cuda:{local % torch.cuda.device_count()}"


def load_models(paths: list[str], device: str, dtype: str, label: str = LABEL) -> list:
    """Load MACE models (trusted local files) onto device in dtype, frozen for inference."""
    import torch

    import mace.modules  # noqa: F401 - registers classes before e3nn import on torch >= 2.6

    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    models = []
    for path in paths:
        try:
            model = torch.load(path, map_location=device, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
            raise InputError(f"{label}: cannot load model file {path!r}: {exc}") from exc
        if not hasattr(model, "r_max") or not hasattr(model, "interactions"):
            raise InputError(f"{label}: {path!r} does not hold a MACE model")
        model = model.to(device=device, dtype=torch_dtype).eval()
        for param in model.parameters():
            param.requires_grad_(False)
        models.append(model)
    return models


class MaceCommittee:
    """Evaluator over N_C MACE models (see module docstring and ``protocol.Evaluator``)."""

    def __init__(self, paths: list[str], *, elements: list[str] | None = None, dtype: str = "float64",
                 device: str = "auto", label: str = LABEL):
        from ..speed import bind_torch_blas, tune_malloc

        bind_torch_blas()
        tune_malloc()
        import torch
        from ase.data import atomic_numbers

        if dtype not in DTYPES:
            raise InputError(f"fix uq dtype: got {dtype!r}; expected one of {', '.join(DTYPES)}")
        self.timing: dict[str, float] = {}
        self.paths = expand_model_paths(list(paths), label)
        self.device = pick_device(device)
        self.dtype = dtype
        torch.set_num_threads(torch_threads())
        self.models = load_models(self.paths, self.device, dtype, label)
        facts = check_agreement(self.models, self.paths, label)
        check_distinct_weights(self.models, self.paths, label)
        self.n_models = len(self.models)
        self.r_max = facts["r_max"]
        self.ghost_cutoff = self.r_max
        self.species = facts["atomic_numbers"]
        for symbol in elements or []:
            if atomic_numbers.get(symbol) not in self.species:
                raise InputError(
                    f"fix uq elements: element {symbol!r} is not in the MACE models "
                    f"(they know atomic numbers {self.species})"
                )
        self.calibration = read_calibration(self.paths)
        self.max_exchange_width = max(
            int(inter.linear_up.irreps_out.dim) for inter in self.models[0].interactions
        )

    def check_elements(self, numbers, what: str) -> None:
        """Refuse atomic numbers the members were not trained on (``what`` names the atoms)."""
        from ase.data import chemical_symbols

        unknown = sorted(set(int(z) for z in numbers) - set(self.species))
        if unknown:
            names = ", ".join(chemical_symbols[z] for z in unknown)
            known = ", ".join(chemical_symbols[z] for z in self.species)
            raise InputError(f"{what}: element(s) {names} not in the committee; expected only "
                             f"the elements its models know ({known})")

    def fitted_alpha(self, rcut: float) -> float:
        """alpha of s_loc at rcut from the committee's calibration.json (0.0: none)."""
        return fitted_alpha(self.calibration, rcut)

    def error_model(self, rcut: float) -> dict | None:
        """The calibrated error model at rcut (science.error_model.model_at; None: none)."""
        return model_at(self.calibration, rcut)

    def evaluate(self, positions, numbers, nlocal, *, image_of, exchange: Exchange,
                 members=None, virial: bool = False):
        """Per-model forces (rows, nall, 3) and local-energy sums (rows,), rows = ``members``
        (0-based; default all); with ``virial`` also each member's virial (rows, 3, 3), eV."""
        start = time.perf_counter()
        graph = local_edges(positions, numbers, nlocal, image_of, self.r_max)
        self._count("graph", start)
        out = self.evaluate_members(graph, exchange, members)
        return out if virial else out[:2]

    def evaluate_graph(self, graph: EdgeGraph, exchange) -> tuple[np.ndarray, np.ndarray]:
        """Run every member on one shared graph; forces are scattered to the graph's rows."""
        return self.evaluate_members(graph, exchange)[:2]

    def evaluate_members(self, graph: EdgeGraph, exchange, members=None):
        """(forces, energies, virials) of ``members`` (default all) on one shared graph."""
        from .mace_run import GhostExchange, run_member

        chosen = self.member_list(members)
        start = time.perf_counter()
        forces = np.zeros((len(chosen), graph.nrows, 3))
        energies = np.zeros(len(chosen))
        virials = np.zeros((len(chosen), 3, 3))
        tensors = graph.tensors(self.species, self.device, self.dtype)
        ghosts = GhostExchange(graph, exchange)
        start = self._count("graph", start)
        for row, m in enumerate(chosen):
            energy, dedv = run_member(self.models[m], tensors, graph, ghosts)
            start = self._count("model", start)
            forces[row] = graph.forces_from_edge_gradient(dedv)
            virials[row] = graph.virial_from_edge_gradient(dedv)
            energies[row] = energy
            start = self._count("forces", start)
        self.timing["model"] -= ghosts.seconds
        self.timing["exchange"] = self.timing.get("exchange", 0.0) + ghosts.seconds
        return forces, energies, virials

    def member_list(self, members) -> list[int]:
        """0-based member indices, checked (``None``: all, in the sorted file order)."""
        if members is None:
            return list(range(self.n_models))
        chosen = [int(m) for m in members]
        if not chosen or any(m < 0 or m >= self.n_models for m in chosen):
            raise InputError(f"MaceCommittee members: got {list(members)}; expected indices "
                             f"from 0 to {self.n_models - 1}")
        return chosen

    def _count(self, part: str, start: float) -> float:
        now = time.perf_counter()
        self.timing[part] = self.timing.get(part, 0.0) + now - start
        return now

    def report(self) -> str:
        """Seconds spent per part since the last report (model = forward + backward)."""
        parts = ("model", "exchange", "graph", "forces")
        text = ", ".join(f"{p} {self.timing.get(p, 0.0):.4g} s" for p in parts)
        self.timing.clear()
        return text


def mace(paths: list[str], *, elements: list[str], **options) -> MaceCommittee:
    """Factory used by ``fix uq N mace FILE [FILE ...] elements ... [dtype ...] [device ...]``."""
    return MaceCommittee(paths, elements=elements, **options)
