"""Exception hierarchy of lammps-uq (modelled on ASE's calculator errors)."""


class UQError(Exception):
    """Base class of every error raised by lammps-uq."""


class InputError(UQError, ValueError):
    """Bad user input found before anything runs: a keyword, a value, a file, an element."""


class EvaluatorError(UQError):
    """An evaluator broke its contract (wrong shape, dtype, or non-finite output)."""


class CalculationFailed(UQError, RuntimeError):
    """A calculation failed while running (raised during a check step)."""
