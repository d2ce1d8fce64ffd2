"""Every number of the default committee's tables in docs/committees_calibration.md is the
shipped committee's (issues 22 and 23)."""

from pathlib import Path

from lammps_uq.committee.default import error_tables

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "committees_calibration.md"  # the page that holds the tables


def page_block(begin: str = error_tables.BEGIN, end: str = error_tables.END) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(begin)
    return text[start:text.index(end) + len(end)]


def test_the_error_model_tables_equal_the_shipped_provenance():
    assert page_block() == error_tables.block()


def test_the_committee_table_equals_the_shipped_provenance_and_calibration():
    shown = page_block(error_tables.COMMITTEE_BEGIN, error_tables.COMMITTEE_END)
    assert shown == error_tables.committee_block()


def test_a_changed_number_is_caught(tmp_path):
    import json

    provenance = json.loads((error_tables.PACKAGE_DIR / "provenance.json").read_text())
    provenance["calibration"]["error_model_rcut_4"]["b"] += 0.01
    changed = tmp_path / "provenance.json"
    changed.write_text(json.dumps(provenance))
    assert page_block() != error_tables.block(changed)


def test_a_changed_committee_number_is_caught(tmp_path):
    import json
    import shutil

    provenance = json.loads((error_tables.PACKAGE_DIR / "provenance.json").read_text())
    provenance["committee_mean"]["test_energy_mae_offset_removed_eV_per_atom"] += 0.001
    (tmp_path / "provenance.json").write_text(json.dumps(provenance))
    shutil.copyfile(error_tables.PACKAGE_DIR / "calibration.json", tmp_path / "calibration.json")
    shown = page_block(error_tables.COMMITTEE_BEGIN, error_tables.COMMITTEE_END)
    assert shown != error_tables.committee_block(tmp_path / "provenance.json")
