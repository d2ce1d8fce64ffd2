"""Every number of the error-model tables in docs/committees_calibration.md is the shipped
calibration's (issue 23)."""

from pathlib import Path

from lammps_uq.committee.default import error_tables

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "committees_calibration.md"  # the page that holds the tables


def page_block() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(error_tables.BEGIN)
    return text[start:text.index(error_tables.END) + len(error_tables.END)]


def test_the_error_model_tables_equal_the_shipped_provenance():
    assert page_block() == error_tables.block()


def test_a_changed_number_is_caught(tmp_path):
    import json

    provenance = json.loads((error_tables.PACKAGE_DIR / "provenance.json").read_text())
    provenance["calibration"]["error_model_rcut_4"]["b"] += 0.01
    changed = tmp_path / "provenance.json"
    changed.write_text(json.dumps(provenance))
    assert page_block() != error_tables.block(changed)
