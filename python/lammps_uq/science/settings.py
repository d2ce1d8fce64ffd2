"""The rules of the selection settings, shared by ``fix uq`` and the offline tools.

This module is the one parser of these numbers and the one place of their ranges and messages.
``fix uq`` hands the words of these keywords to :func:`check_settings` (``fix.bridge.create``'s
``settings``) and reads the parsed values back (``Session.settings``): the C++ side never
parses them.  ``lammps-uq select`` hands its argparse options, so both refuse the same values
with the same words.  Keys are the fix's keyword names:

========================  =====================================================
``rcut``, ``threshold``,  a finite number > 0 (``alpha`` of the fix may also be
``error_threshold``,      the word ``auto``)
``separation``,
``region``, ``alpha``
``max_centres``           an integer from 1 to 2147483647 (a C ``int``)
``cooldown``              an integer from 0 to 2**63 - 1 (a LAMMPS ``bigint``)
========================  =====================================================

Integers are written as integers: ``4.5`` and ``1e3`` are refused for ``max_centres``.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real

from ..errors import InputError

INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
POSITIVE = ("rcut", "alpha", "threshold", "error_threshold", "separation", "region")
INTEGERS = {"max_centres": (1, INT_MAX), "cooldown": (0, BIGINT_MAX)}
STYLES = ("fix", "cli")
_INTEGER_WORD = re.compile(r"[+-]?[0-9]+")
_NUMBER_WORD = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def expected(key: str, style: str) -> str:
    """What ``key`` accepts, in words."""
    if key in INTEGERS:
        low, high = INTEGERS[key]
        return f"an integer from {low} to {high}"
    if key == "alpha" and style == "fix":
        return "a finite number > 0 or auto"
    return "a finite number > 0"


def _integer(value) -> int | None:
    if isinstance(value, str):
        return int(value) if _INTEGER_WORD.fullmatch(value.strip()) else None
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _number(value) -> float | None:
    if isinstance(value, str):
        return float(value) if _NUMBER_WORD.fullmatch(value.strip()) else None
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    return None


def check_value(key: str, value, style: str):
    """``value`` parsed by the rule of ``key``; InputError (one line) when it breaks the rule."""
    if key in INTEGERS:
        low, high = INTEGERS[key]
        parsed = _integer(value)
        ok = parsed is not None and low <= parsed <= high
    elif key in POSITIVE:
        if key == "alpha" and style == "fix" and value == "auto":
            return "auto"
        parsed = _number(value)
        ok = parsed is not None and math.isfinite(parsed) and parsed > 0
    else:
        raise ValueError(f"check_settings: unknown setting {key!r}")  # a caller's bug
    if not ok:
        name = f"fix uq {key}" if style == "fix" else "--" + key.replace("_", "-")
        raise InputError(f"{name}: got {value!r}; expected {expected(key, style)}")
    return parsed


def check_settings(values: dict, style: str) -> dict:
    """The parsed ``values`` ({fix keyword: word or number}); InputError on the first bad one.

    ``style`` is ``"fix"`` (messages ``fix uq max_centres: got '0'; ...``) or ``"cli"``
    (``--max-centres: got 0; ...``).  Keys left out are not checked.
    """
    if style not in STYLES:
        raise ValueError(f"check_settings: style {style!r}; expected one of {STYLES}")
    return {key: check_value(key, value, style) for key, value in values.items()}
