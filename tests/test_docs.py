"""The manual: docs/ as a MkDocs site that builds with --strict, and a README that points into it.

Every page of mkdocs.yml's nav exists and every page of docs/ is in the nav; README.md stays
short (at most 200 lines), begins with the two commands that .ci/run runs, and each of its
relative links names a file that exists, every nav page among them.  The tables written from
the code are on their pages.  With mkdocs installed (CI: LAMMPS_UQ_REQUIRE_ALL=1, where a missing
mkdocs fails), `mkdocs build --strict` succeeds: no warning, no broken link or anchor.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
NAV_PAGE = re.compile(r"^\s*-\s+(?:.*:\s+)?(\S+\.md)\s*$")  # "  - Title: page.md" or "  - page.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1].splitlines()
    pages = []
    for line in nav:
        if line and not line.startswith(" "):  # the next top-level key ends the nav
            break
        match = NAV_PAGE.match(line)
        if match:
            pages.append(match.group(1))
    return pages


def relative_links(text: str) -> list[str]:
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    pages = nav_pages()
    assert "index.md" in pages and "fix_uq.md" in pages, pages
    for page in pages:
        assert (DOCS / page).is_file(), f"mkdocs.yml nav names docs/{page}, which is missing"
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk == set(pages), f"pages not in the nav: {sorted(on_disk - set(pages))}"


def test_the_design_notes_keep_the_paths_the_code_cites():
    assert (DOCS / "design.md").is_file() and (DOCS / "hpc_notes.md").is_file()


def test_readme_is_short_and_its_links_exist():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    targets = set()
    for link in relative_links(text):
        path = link.split("#")[0]
        assert (ROOT / path).exists(), f"README.md links to {link}, which is missing"
        targets.add(path)
    missing = {f"docs/{page}" for page in nav_pages()} - targets
    assert not missing, f"README.md does not link to {sorted(missing)}"


def test_readme_begins_with_the_two_commands_of_ci():
    text = README.read_text(encoding="utf-8")
    block = text[text.index("```bash\n") + len("```bash\n"):]
    commands = block[:block.index("```")].strip().splitlines()
    assert commands == [
        'python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt '
        '".[test]" && lammps-uq demo',
        ". .venv/bin/activate && python -m pytest"]


def test_the_learn_settings_table_is_the_schema():
    from lammps_uq.learn.config import markdown_table

    assert markdown_table() in (DOCS / "learn.md").read_text(encoding="utf-8")


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") == "1":
            pytest.fail("mkdocs is not installed (pip install -c constraints.txt '.[docs]')")
        pytest.skip("mkdocs is not installed (pip install -c constraints.txt '.[docs]')")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    page = (tmp_path / "site" / "fix_uq.html").read_text(encoding="utf-8")
    found = re.findall(r'<h2 id="([^"]+)"', page)
    assert found == ["syntax", "examples", "description",  # a LAMMPS command page's sections
                     "restart-fix_modify-output-run-startstop-minimize-info", "restrictions",
                     "related-commands", "default"], found


def test_the_contact_wall_table_is_its_results_file_of_the_shipped_default():
    """docs/carving_labelling.md's contact-wall table is rendered from
    examples/carving/results/contact_wall.json, measured with the committee shipped now (a
    retrained default without the measurement run again fails here)."""
    import json

    spec = importlib.util.spec_from_file_location(
        "contact_wall", ROOT / "examples" / "carving" / "contact_wall.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = json.loads((ROOT / "examples" / "carving" / "results" / "contact_wall.json")
                      .read_text(encoding="utf-8"))
    page = (DOCS / "carving_labelling.md").read_text(encoding="utf-8")
    assert page.split(script.MARK)[1].strip() == script.markdown(data)
    assert data["committee"]["members_sha256"] == script.committee_digest()
