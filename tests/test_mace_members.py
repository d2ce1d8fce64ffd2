"""A MACE committee refuses members that are one model (issue 11, item 9): the same file
twice, through another path or a link, or a copy of a file under a new name."""

from __future__ import annotations

import os
import shutil

import pytest

from lammps_uq.errors import InputError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    if os.environ.get("LAMMPS_UQ_REQUIRE_ALL") != "1":
        pytest.importorskip("mace")
    from lammps_uq.testing import tiny_water_committee

    folder = tmp_path_factory.mktemp("members")
    return folder, tiny_water_committee(folder)


def same_file_cases(folder, first):
    os.symlink(first, folder / "link.model")
    os.link(first, folder / "hard.model")
    return {"twice": [first, first],
            "other spelling": [first, str(folder / "." / os.path.basename(first))],
            "symlink": [first, str(folder / "link.model")],
            "hard link": [first, str(folder / "hard.model")]}


def test_the_same_file_twice_is_refused(models, tmp_path):
    from lammps_uq.committee.evaluators.mace_committee import MaceCommittee

    folder, (first, second) = models
    local = tmp_path / "m"
    local.mkdir()
    first = str(shutil.copy(first, local / "member_0.model"))
    for name, paths in same_file_cases(local, first).items():
        with pytest.raises(InputError) as info:
            MaceCommittee([*paths, second], elements=["O", "H"], device="cpu")
        message = str(info.value)
        assert message.startswith("fix uq mace: ") and "are the same file" in message, name
        assert repr(paths[0]) in message and repr(paths[1]) in message, name


def test_a_copied_model_file_is_refused_by_the_fix_and_the_calculator(models, tmp_path):
    from lammps_uq import CommitteeCalculator
    from lammps_uq.fix.bridge import build_evaluator

    folder, (first, second) = models
    copy = str(tmp_path / "copy.model")
    shutil.copy(first, copy)
    with pytest.raises(InputError) as info:
        build_evaluator(["mace", first, second, copy], ["O", "H"], {"device": "cpu"})
    assert str(info.value) == (f"fix uq mace: {first!r} and {copy!r} hold identical weights; "
                               "expected distinct members (e.g. trained with different seeds)")
    with pytest.raises(InputError, match="hold identical weights"):
        CommitteeCalculator([copy, first])
    committee, _ = build_evaluator(["mace", first, second], ["O", "H"], {"device": "cpu"})
    assert committee.n_models == 2
