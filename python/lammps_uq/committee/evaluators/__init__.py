"""Committee evaluators called by ``fix uq``.

An evaluator is any object with the members of :class:`Evaluator`; see
:mod:`lammps_uq.committee.evaluators.protocol` for the exact contract.
"""

from .protocol import Evaluator, Exchange, NoExchange

__all__ = ["Evaluator", "Exchange", "NoExchange"]
