"""The Python half of ``fix uq``: builds the evaluator and checks what it returns.

The C++ fix (``lmp_plugin/uq_bridge.cpp``) calls :func:`create` once per fix and
:meth:`Session.evaluate` at every check.  Arrays arrive as memoryviews of LAMMPS
memory and are wrapped without copies; the returned arrays are read by the fix
through the buffer protocol, without copies either.
"""

from __future__ import annotations

import os
import traceback
from typing import Any, Callable

import numpy as np

from ..errors import EvaluatorError, InputError
from ..inputs import load_factory
from ..science.settings import check_settings

FORMS = "'python MODULE:FACTORY' or 'mace FILE [FILE ...]'"


def format_exception(exc: BaseException) -> str:
    """One line for a LAMMPS error: ``Type: message (at file:line in function)``."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user (Ctrl-C); files keep the whole frames written before"
    if isinstance(exc, InputError):  # written for the user: the message is the whole story
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if frames:
        last = frames[-1]
        text += f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    return text


def atomic_numbers_of(elements: list[str]) -> list[int]:
    """Atomic number per LAMMPS type; index 0 is unused (types start at 1)."""
    from ase.data import atomic_numbers

    numbers = [0]
    for itype, symbol in enumerate(elements, start=1):
        if symbol not in atomic_numbers or symbol == "X":
            raise InputError(
                f"fix uq elements: unknown element {symbol!r} for atom type {itype}; "
                "expected a chemical symbol such as H, O or Cu"
            )
        numbers.append(atomic_numbers[symbol])
    return numbers


def call_factory(factory: Callable[..., Any], spec: str, elements, options: dict) -> Any:
    """``factory(elements=..., **options)``; keywords (dtype, device) it does not take are refused.

    A factory without ``**kwargs`` is checked by its signature; one that passes ``**kwargs``
    on (``lj_committee``) by the TypeError Python raises for the keyword it did not expect.
    """
    import inspect

    def refuse(keyword: str) -> InputError:
        return InputError(
            f"fix uq {keyword}: the python evaluator {spec} takes no {keyword} keyword; "
            "dtype and device apply to mace evaluators or factories that accept them"
        )

    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): the call decides
        parameters = [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    names = {p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    for keyword in options:
        if keyword not in names and not forwards:
            raise refuse(keyword)
    try:
        return factory(elements=list(elements), **options)
    except TypeError as exc:
        unexpected = [k for k in options if str(exc).endswith(f"unexpected keyword argument '{k}'")]
        if unexpected:
            raise refuse(unexpected[0]) from exc
        raise


def build_evaluator(args: list[str], elements: list[str], options: dict) -> tuple[Any, str]:
    """The evaluator named by the words after ``fix ID group uq N``, and its name.

    ``options`` are the evaluator keywords of the fix line (``dtype``, ``device``).
    """
    if not args:
        raise InputError(f"fix uq: missing evaluator; expected {FORMS}")
    form = args[0]
    if form == "python":
        if len(args) != 2:
            raise InputError(
                f"fix uq python: got {len(args) - 1} word(s) {args[1:]}; expected MODULE:FACTORY"
            )
        return call_factory(load_factory(args[1]), args[1], elements, options), args[1]
    if form == "mace":
        from ..committee.evaluators.mace_committee import MaceCommittee

        if len(args) < 2:
            raise InputError("fix uq mace: no model file given; expected mace FILE [FILE ...]")
        committee = MaceCommittee(args[1:], elements=list(elements), **options)
        return committee, f"mace ({committee.n_models} models)"
    raise InputError(f"fix uq: unknown evaluator form {form!r}; expected {FORMS}")


def check_evaluator(evaluator: Any, name: str) -> None:
    """Refuse objects that do not follow the Evaluator protocol, naming what is wrong."""
    n_models = getattr(evaluator, "n_models", None)
    if not isinstance(n_models, (int, np.integer)) or n_models < 2:
        raise EvaluatorError(f"evaluator {name}: n_models is {n_models!r}; expected an int >= 2")
    cutoff = getattr(evaluator, "ghost_cutoff", None)
    if not isinstance(cutoff, (int, float, np.floating)) or not np.isfinite(cutoff) or cutoff < 0:
        raise EvaluatorError(f"evaluator {name}: ghost_cutoff is {cutoff!r}; expected a float >= 0")
    if not callable(getattr(evaluator, "evaluate", None)):
        raise EvaluatorError(f"evaluator {name}: has no evaluate() method")


def optional_keywords(evaluate: Callable) -> set[str]:
    """Which of the optional keywords ``members`` and ``virial`` ``evaluate`` names."""
    import inspect

    try:
        names = inspect.signature(evaluate).parameters
    except (TypeError, ValueError):
        return set()
    return {"members", "virial"} & set(names)


class FixExchange:
    """The fix's ghost exchanges, checked before they reach C++ (see protocol.Exchange)."""

    def __init__(self, forward: Callable, reverse: Callable, nall: int):
        self._forward, self._reverse, self.nall = forward, reverse, nall

    def _check(self, a: Any, what: str) -> None:
        ok = (
            isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous
            and a.flags.writeable and a.ndim in (1, 2) and a.shape[0] == self.nall
        )
        if not ok:
            got = f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}"
            raise EvaluatorError(
                f"exchange.{what}: got {got}; expected a writable C-contiguous float64 "
                f"numpy array of shape ({self.nall},) or ({self.nall}, k)"
            )

    def forward(self, a: np.ndarray) -> None:
        self._check(a, "forward")
        self._forward(a)

    def reverse(self, a: np.ndarray) -> None:
        self._check(a, "reverse")
        self._reverse(a)


class Session:
    """One evaluator as seen by one ``fix uq`` instance on one MPI rank."""

    def __init__(self, evaluator: Any, name: str, numbers: list[int], forward, reverse,
                 settings: dict | None = None):
        self.evaluator, self.name = evaluator, name
        # the fix's numeric keywords, parsed by science.settings: the C++ fix reads these
        self.settings = dict(settings or {})
        self.numbers = np.asarray(numbers, dtype=np.int64)
        self._forward, self._reverse = forward, reverse
        self.extractor = None  # fix uq ... carve DIR: the consumer process (lammps_uq.fix.insitu)
        # optional keywords of evaluate() (protocol.py): members=[...] and virial=True
        self.takes = optional_keywords(evaluator.evaluate)

    def describe(self, rcut: float = 4.0) -> tuple[int, float, int, list[int], str, float]:
        """(n_models, ghost_cutoff, max_exchange_width, atomic number per type, name, alpha).

        alpha is the evaluator's fitted alpha at ``rcut`` (``fitted_alpha(rcut)``), 0.0 if none.
        """
        ev = self.evaluator
        width = int(getattr(ev, "max_exchange_width", 0))
        fitted = getattr(ev, "fitted_alpha", None)
        alpha = float(fitted(rcut)) if callable(fitted) else 0.0
        return (int(ev.n_models), float(ev.ghost_cutoff), width, self.numbers.tolist(), self.name,
                alpha)

    def error_model(self, rcut: float = 4.0) -> tuple[float, ...]:
        """The evaluator's error model at ``rcut`` as ``science.error_model.PARAMETERS``.

        (t, then alpha, knee, b, bound_factor, bound_split, bound_factor_high, s_max of the
        calibrated radius below rcut and of the one above): ``fix uq ... alpha auto`` blends
        their predictions (lmp_plugin/uq_error_model.h). An evaluator without
        ``error_model(rcut)`` gives its fitted alpha as a constant (no knee, no bound).
        """
        from ..science.error_model import as_parameters

        method = getattr(self.evaluator, "error_model", None)
        model = method(rcut) if callable(method) else None
        if not model:
            model = {"form": "knee", "alpha": self.describe(rcut)[5], "knee": 0.0, "b": 1.0}
        return as_parameters(model)

    def write_region(self, path: str, table_view, nrows: int, info_json: str, size: int) -> int:
        """Append one region snapshot (rank 0 only); returns the file size after it."""
        from .regions import write_region

        size = write_region(path, table_view, nrows, info_json, self.numbers, size)
        if self.extractor is not None:
            self.extractor.frame_written()
        return size

    def finish_run(self) -> str:
        """End of a run (every rank): the in-situ carving consumer is told, and awaited."""
        return self.extractor.finish_run() if self.extractor is not None else ""

    def report(self) -> str:
        """The evaluator's own time split since the last report, if it keeps one."""
        report = getattr(self.evaluator, "report", None)
        return str(report()) if callable(report) else ""

    def evaluate(self, x_view, type_view, image_view, nlocal: int, step: int, member: int = -1):
        """Run the evaluator on one rank's atoms; returns checked (forces, energies, virials).

        ``member`` >= 0 (``drive model K`` between checks): only that member's rows are
        returned, evaluated alone when the evaluator takes ``members``.  ``virials`` is
        ``None`` when the evaluator does not take ``virial``.
        """
        positions = np.frombuffer(x_view, dtype=np.float64).reshape(-1, 3)
        nall = positions.shape[0]
        numbers = self.numbers[np.frombuffer(type_view, dtype=np.intc)]
        image_of = np.frombuffer(image_view, dtype=np.intc)
        exchange = FixExchange(self._forward, self._reverse, nall)
        options: dict[str, Any] = {"virial": True} if "virial" in self.takes else {}
        alone = member >= 0 and "members" in self.takes
        if alone:
            options["members"] = [member]
        out = self.evaluator.evaluate(
            positions, numbers, nlocal, image_of=image_of, exchange=exchange, **options
        )
        forces, energies, virials = self._checked(out, nall, 1 if alone else None,
                                                  "virial" in options)
        if member >= 0 and not alone:  # evaluated them all: keep the one that drives
            pick = slice(member, member + 1)
            forces, energies = forces[pick].copy(), energies[pick].copy()
            virials = None if virials is None else virials[pick].copy()
        return forces, energies, virials

    def _checked(self, out: Any, nall: int, rows: int | None = None, virial: bool = False):
        n = int(self.evaluator.n_models) if rows is None else rows
        what = "n_models" if rows is None else "members"
        size = 3 if virial else 2
        if not isinstance(out, tuple) or len(out) != size:
            raise EvaluatorError(
                f"evaluator {self.name}: evaluate() returned {type(out).__name__}"
                f"{f' of length {len(out)}' if isinstance(out, tuple) else ''}; expected a "
                f"tuple {'(forces, energies, virials)' if virial else '(forces, energies)'}"
            )
        shapes = {"forces": ((n, nall, 3), f"{what}={n}, nall={nall}, 3"),
                  "energies": ((n,), f"{what}={n},"), "virials": ((n, 3, 3), f"{what}={n}, 3, 3")}
        arrays = []
        for (name, (shape, text)), array in zip(shapes.items(), out):
            array = np.require(np.asarray(array, dtype=np.float64), requirements=["C", "W"])
            if array.shape != shape:
                raise EvaluatorError(
                    f"evaluator {self.name}: {name} have shape {array.shape}; expected ({text})"
                )
            arrays.append(array)
        return arrays[0], arrays[1], arrays[2] if virial else None


def create(args, elements, units, options, forward, reverse, settings=None) -> Session:
    """Build the evaluator of a ``fix uq`` line (called once per fix and rank).

    ``settings`` holds the words of the numeric keywords ({"rcut": "4.5", ...}); they are
    parsed and checked here, once, by ``science.settings`` (the rules ``lammps-uq select``
    uses too), and the fix reads the parsed values back from ``Session.settings``.
    """
    from ..committee.speed import bind_torch_blas

    bind_torch_blas()  # before any evaluator imports torch (see committee/speed.py)
    numbers = atomic_numbers_of(list(elements))
    parsed = check_settings(dict(settings or {}), style="fix")
    options = dict(options)
    carve_words = options.pop("carve", None)
    carve_file, rank0 = options.pop("carve_file", ""), options.pop("carve_rank0", "1") == "1"
    evaluator, name = build_evaluator(list(args), list(elements), options)
    check_evaluator(evaluator, name)
    session = Session(evaluator, name, numbers, forward, reverse, parsed)
    if carve_words is not None:
        from .insitu import InSituExtract

        session.extractor = InSituExtract(carve_words.split(), evaluator, carve_file, rank0)
    return session
