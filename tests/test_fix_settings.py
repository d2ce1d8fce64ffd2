"""The numeric keywords of fix uq are parsed once, by ``science.settings`` (issue 24, item 3).

The C++ fix hands their words to the Python side and takes the parsed values back, so its
messages are the ones of ``science.settings.expected``, and the values it acts on are those
Python parsed.  The table below holds the fix's keyword list level with the settings' rules:
a numeric keyword one side knows and the other does not fails here.
"""

from __future__ import annotations

import re

import pytest

from lammps_uq.science import settings
from test_fix_commands import GOOD, script

pytestmark = [pytest.mark.lammps]

# a word each rule refuses, one per numeric keyword of the fix
BAD_WORD = {"rcut": "-1", "alpha": "nan", "threshold": "0", "error_threshold": "inf",
            "separation": "2x", "region": "-0.5", "max_centres": "4.5", "cooldown": "-1"}
# the fix's other keywords, whose words are not numbers
WORDS = {"drive", "dtype", "device", "file", "devi", "carve"}


def fix(words: str) -> str:
    return f"1 python {GOOD} elements Cu Ni {words}"


def test_the_table_covers_every_rule():
    assert set(BAD_WORD) == set(settings.POSITIVE) | set(settings.INTEGERS)


def test_the_fix_knows_the_same_numeric_keywords(lammps_env, tmp_path):
    rc, output = lammps_env.run_lmp(tmp_path, script(fix("bogus 3"), "run 0"))
    found = re.search(r"Unknown fix uq keyword bogus; expected one of ([a-z_, ]+)", output)
    assert rc != 0 and found, output[-2000:]
    keywords = set(found.group(1).replace(",", " ").split())
    assert keywords - WORDS == set(BAD_WORD)


@pytest.mark.parametrize("key", sorted(BAD_WORD))
def test_a_bad_word_gets_the_message_of_the_settings(key, lammps_env, tmp_path):
    word = BAD_WORD[key]
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(f"{key} {word}"), "run 0"))
    message = f"fix uq {key}: got '{word}'; expected {settings.expected(key, 'fix')}"
    assert rc != 0 and "ERROR" in output and message in output, output[-2000:]
    assert "Step" not in output


def test_the_parsed_values_reach_the_fix(lammps_env, tmp_path):
    """alpha comes back as f_mon[10]; rcut, separation and region are named by the
    ghost-cutoff check (the script's ghost cutoff is 8 Angstrom)."""
    quiet = "threshold 50 max_centres 3 cooldown 9223372036854775807"
    thermo = "thermo_style custom step f_mon[10]\nrun 0"
    words = f"alpha 0.375 separation 5 {quiet}"
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(words), thermo))
    assert rc == 0, output[-2000:]
    assert re.search(r"^\s*0\s+0\.375\s*$", output, re.MULTILINE), output[-2000:]
    wide = "rcut 3.5e0 separation 7.25 region 2.5 file r.extxyz"
    rc, output = lammps_env.run_lmp(tmp_path, script(fix(f"{quiet} {wide}"), "run 0"))
    assert rc != 0 and "rcut 3.5, separation 7.25, region 2.5" in output, output[-2000:]
