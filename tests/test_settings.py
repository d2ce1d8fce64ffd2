"""One set of rules for the selection settings (issue 11, item 11) and the python evaluator's
keywords (item 18): ``check_settings``, and ``fix.bridge.create`` as the C++ fix calls it, which
parses the fix's numeric keywords for it (issue 24, item 3: the one parser of these words)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lammps_uq.fix import bridge
from lammps_uq.errors import InputError
from lammps_uq.science.settings import check_settings

FACTORY = ["python", "lammps_uq.committee.evaluators.analytic:lj_committee"]


def test_good_words_and_numbers_parse():
    words = {"rcut": "4", "alpha": "auto", "threshold": "0.1", "error_threshold": "1e-2",
             "max_centres": "2147483647", "separation": "8.", "cooldown": "9223372036854775807",
             "region": ".5"}
    assert check_settings(words, "fix") == {
        "rcut": 4.0, "alpha": "auto", "threshold": 0.1, "error_threshold": 0.01,
        "max_centres": 2147483647, "separation": 8.0, "cooldown": 2**63 - 1, "region": 0.5}
    numbers = {"rcut": 4, "alpha": 0.7, "max_centres": np.int64(3), "cooldown": 0}
    assert check_settings(numbers, "cli") == {"rcut": 4.0, "alpha": 0.7, "max_centres": 3,
                                              "cooldown": 0}


BAD = [
    ("max_centres", "4294967296", "an integer from 1 to 2147483647"),
    ("max_centres", "0", "an integer from 1 to 2147483647"),
    ("max_centres", "4.5", "an integer from 1 to 2147483647"),
    ("max_centres", "1e3", "an integer from 1 to 2147483647"),
    ("max_centres", 2.0, "an integer from 1 to 2147483647"),
    ("max_centres", True, "an integer from 1 to 2147483647"),
    ("cooldown", "-1", "an integer from 0 to 9223372036854775807"),
    ("cooldown", "9223372036854775808", "an integer from 0 to 9223372036854775807"),
    ("rcut", "0", "a finite number > 0"),
    ("rcut", "nan", "a finite number > 0"),
    ("threshold", "-0.5", "a finite number > 0"),
    ("error_threshold", "inf", "a finite number > 0"),
    ("separation", "-2", "a finite number > 0"),
    ("region", "1_0", "a finite number > 0"),
    ("alpha", "0", "a finite number > 0"),
    ("alpha", math.nan, "a finite number > 0"),
]


@pytest.mark.parametrize("key,value,expected", BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_bad_values_are_refused_in_both_styles(key, value, expected):
    extra = " or auto" if key == "alpha" else ""
    with pytest.raises(InputError) as fix:
        check_settings({key: value}, "fix")
    assert str(fix.value) == f"fix uq {key}: got {value!r}; expected {expected}{extra}"
    with pytest.raises(InputError) as cli:
        check_settings({key: value}, "cli")
    flag = "--" + key.replace("_", "-")
    assert str(cli.value) == f"{flag}: got {value!r}; expected {expected}"


def test_auto_is_a_word_of_the_fix_only():
    with pytest.raises(InputError, match=r"--alpha: got 'auto'; expected a finite number > 0$"):
        check_settings({"alpha": "auto"}, "cli")


def test_fix_create_checks_the_settings_words_before_the_evaluator():
    with pytest.raises(InputError) as info:
        bridge.create(FACTORY, ["Cu", "Ni"], "metal", {}, None, None,
                      {"max_centres": "4294967296"})
    assert str(info.value) == ("fix uq max_centres: got '4294967296'; expected an integer from 1 "
                               "to 2147483647")
    with pytest.raises(InputError, match=r"^fix uq cooldown: got '1e3'; expected an integer"):
        bridge.create(FACTORY, ["Cu", "Ni"], "metal", {}, None, None,
                      {"rcut": "3", "cooldown": "1e3"})


def test_fix_create_hands_the_parsed_settings_back():
    """The C++ fix reads Session.settings (uq_bridge.cpp, read_settings): ints stay ints (a
    bigint cooldown keeps all its digits), numbers are floats, alpha auto stays the word."""
    words = {"rcut": "3.5", "alpha": "auto", "max_centres": "2",
             "cooldown": "9223372036854775807", "separation": "7"}
    session = bridge.create(FACTORY, ["Cu", "Ni"], "metal", {}, None, None, words)
    assert session.evaluator.n_models >= 2
    assert session.settings == {"rcut": 3.5, "alpha": "auto", "max_centres": 2,
                                "cooldown": 2**63 - 1, "separation": 7.0}
    assert [type(session.settings[k]) for k in ("rcut", "max_centres", "cooldown")] == [
        float, int, int]
    assert bridge.create(FACTORY, ["Cu", "Ni"], "metal", {}, None, None).settings == {}


def test_dtype_for_a_python_factory_that_forwards_kwargs():
    with pytest.raises(InputError) as info:
        bridge.create(FACTORY, ["Cu", "Ni"], "metal", {"dtype": "float32"}, None, None)
    assert str(info.value) == (
        "fix uq dtype: the python evaluator lammps_uq.committee.evaluators.analytic:lj_committee "
        "takes no dtype keyword; dtype and device apply to mace evaluators or factories that "
        "accept them")


def test_device_for_a_python_factory_with_fixed_keywords(tmp_path, monkeypatch):
    (tmp_path / "myfactory.py").write_text(
        "from lammps_uq.committee.evaluators.analytic import lj_committee\n"
        "def plain(elements):\n    return lj_committee(elements)\n"
        "def typed(elements, dtype='float64'):\n    ev = lj_committee(elements)\n"
        "    ev.dtype = dtype\n    return ev\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match=r"^fix uq device: the python evaluator myfactory:plain "
                                         r"takes no device keyword"):
        bridge.create(["python", "myfactory:plain"], ["Cu"], "metal", {"device": "cpu"}, None, None)
    session = bridge.create(["python", "myfactory:typed"], ["Cu"], "metal", {"dtype": "float32"},
                          None, None)
    assert session.evaluator.dtype == "float32"
