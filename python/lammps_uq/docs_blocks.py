"""Generated blocks of the Markdown pages: the text between a begin and an end marker line.

The scripts that render tables from result files (``benchmarks/cp2k_cutoff.py``,
``examples/cp2k_loop/run_cp2k_loop.py``, ``examples/active_learning/results_tables.py``)
write them into docs/ and the README with :func:`write_between`; the markers stay, and one
marker may be both begin and end. Stdlib only.
"""

from __future__ import annotations

from pathlib import Path


def write_between(page: Path, begin: str, end: str, body: str) -> None:
    """Replace what lies between the first ``begin`` and the next ``end`` of ``page`` with
    ``body`` on lines of its own; a page without both markers is refused, unchanged."""
    text = page.read_text(encoding="utf-8")
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if stop < 0:
        raise SystemExit(f"{page}: got no {begin!r} ... {end!r} block; expected the markers "
                         "around the generated text")
    page.write_text(f"{text[:start + len(begin)]}\n{body}\n{text[stop:]}", encoding="utf-8")
