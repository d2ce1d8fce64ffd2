"""Exploration: LAMMPS runs from templates, driven by the current committee, fix uq selecting.

A template is a LAMMPS input with one ``fix ID group uq N mace ${committee} ...`` line (and a
``file`` keyword: the region file).  For each run the loop writes a copy into the run's folder
in which

- the fix line loses its in-situ ``carve`` words (the loop carves on its executor);
- before the first ``run`` a ``fix ave/time`` records ``f_ID[2]`` (max s_loc) at every check
  into ``learn_smax.dat``, and for ``selection = "random"`` a ``dump`` writes every checked
  frame into ``learn_frames.dump`` (the pool of the random baseline).

It is started by :mod:`.walkers` as ``LAUNCHER -in in.learn -var steps S -var committee
"FILES" -var iteration K -var walker W -var seed S`` (and ``explore.variables``) in a fresh
process (never a fork of this one); a template may use ``${seed}`` (or ``${iteration}``) to
seed its velocities differently in every iteration and walker.
The words the loop reads from the fix line (ID, N, elements, the region file) may be variables
too: of those -var (which win) or of the template's own one-value ``variable NAME index|equal|
string VALUE`` lines; other variables are left to LAMMPS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CalculationFailed, InputError
from ..inputs import templates_dir

# the keywords of fix uq (lmp_plugin/fix_uq_args.cpp): carve words end at the next one
FIX_KEYWORDS = {"rcut", "alpha", "drive", "dtype", "device", "threshold", "error_threshold",
                "max_centres", "separation", "cooldown", "region", "file", "devi", "carve"}
EXPECTED = ("expected a LAMMPS input with a line 'fix ID group uq N mace ${committee} elements "
            "... file REGIONS ...' (input_templates/water/in.water)")


def template_files(name: str, folder: Path, extra: list[str]) -> tuple[Path, list[Path]]:
    """(template path, files to copy with it); 'default' is input_templates/water/in.water."""
    if name == "default":
        water = templates_dir() / "water"
        return water / "in.water", [water / "water128.data"] + [folder / e for e in extra]
    path = (folder / name).resolve()
    return path, [(folder / e).resolve() for e in extra]


@dataclass(frozen=True)
class FixLine:
    """What the loop needs from a template's fix uq line."""

    fix_id: str
    every: int
    elements: list
    regions: str   # the region file (relative to the run folder)


def logical_lines(text: str) -> list[tuple[list[int], str]]:
    """(physical line numbers, command without comment) of every LAMMPS command."""
    out, group, parts = [], [], []
    for number, line in enumerate(text.splitlines()):
        command = _strip_comment(line)
        group.append(number)
        if command.rstrip().endswith("&"):
            parts.append(command.rstrip()[:-1])
            continue
        parts.append(command)
        out.append((group, " ".join(parts)))
        group, parts = [], []
    if group:
        out.append((group, " ".join(parts)))
    return out


def _strip_comment(line: str) -> str:
    quote = None
    for k, char in enumerate(line):
        if char in "'\"":
            quote = None if quote == char else (quote or char)
        elif char == "#" and quote is None:
            return line[:k]
    return line


VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w)")  # LAMMPS's ${name} and $x ($(...) is not read)
VARIABLES = ("expected a value, or a variable of explore.variables (-var) or of one "
             "'variable NAME index|equal|string VALUE' line of the template before the fix")


def run_variables(steps: int, iteration: int, extra: dict) -> dict[str, str]:
    """The ``-var NAME VALUE`` of a run but ``committee``.  LAMMPS keeps the first index
    variable of a name: the loop's steps wins over explore.variables, which win over iteration."""
    values = {"steps": str(steps)}
    for name, value in {"iteration": iteration, **extra}.items():
        if str(name) != "committee":
            values.setdefault(str(name), str(value).lower() if isinstance(value, bool)
                              else str(value))
    return values


def loop_variables(cfg, iteration: int) -> dict[str, str]:
    """The ``-var`` of every run of ``iteration`` (:func:`run_variables`), with ``start_data
    start.data`` when ``explore.start_data`` is set (refused there if it matches no file)."""
    values = run_variables(cfg["explore.steps"], iteration, cfg["explore.variables"])
    if start_files(cfg):
        values["start_data"] = "start.data"
    return values


def start_files(cfg) -> list[Path]:
    """The files of ``explore.start_data`` (sorted; [] when unset, refused when none match)."""
    if not cfg["explore.start_data"]:
        return []
    found = sorted(cfg.folder.glob(cfg["explore.start_data"]))
    if not found:
        raise InputError(f"CONFIG: explore.start_data: got {cfg['explore.start_data']!r}, which "
                         f"matches no file in {str(cfg.folder)!r}; expected a glob of LAMMPS data "
                         "files (relative to the config file)")
    return found


def template_variables(lines: list, before: int) -> dict[str, str | None]:
    """NAME -> VALUE of the template's variable commands before line ``before`` (None: not
    one literal value of style index, equal or string; the loop cannot read it)."""
    found: dict[str, str | None] = {}
    for _, command in lines[:before]:
        words = command.split()
        if len(words) < 3 or words[0] != "variable":
            continue
        literal = len(words) == 4 and words[2] in ("index", "equal", "string") and not \
            re.search(r"\$|v_", words[3])
        if words[2] == "index" and words[1] in found:
            continue  # an index variable is not redefined
        found[words[1]] = words[3].strip("'\"") if literal else None
    return found


def substitute(text: str, values: dict) -> str:
    """``text`` with the variables of ``values`` replaced (the others left as they are)."""
    def one(match):
        value = values.get(match.group(1) or match.group(2))
        return match.group(0) if value is None else value
    return VARIABLE.sub(one, text)


def _readable(path: Path, word: str, role: str) -> str:
    if "$" in word:
        raise InputError(f"explore.templates: got {str(path)!r}, whose fix uq line has "
                         f"{word!r} as {role}, which the loop cannot resolve; {VARIABLES}")
    return word


def parse_fix(path: Path, text: str, variables: dict | None = None) -> tuple[int, FixLine]:
    """(index among logical lines, FixLine) of the template's fix uq line; its variables
    resolved from ``variables`` (the run's -var, which win) or the template's own."""
    lines = logical_lines(text)
    found = [(k, cmd.split()) for k, (_, cmd) in enumerate(lines)
             if len(cmd.split()) > 3 and cmd.split()[0] == "fix" and cmd.split()[3] == "uq"]
    if len(found) != 1:
        what = "no fix uq line" if not found else f"{len(found)} fix uq lines"
        raise InputError(f"explore.templates: got {str(path)!r}, which has {what}; {EXPECTED}")
    index, raw = found[0]
    if not any("${committee}" in w or w == "$committee" for w in raw):
        raise InputError(f"explore.templates: got {str(path)!r}, whose fix uq line does not use "
                         f"${{committee}} (the loop's current committee); {EXPECTED}")
    values = {**template_variables(lines, index), **(variables or {})}
    words = substitute(" ".join(raw), values).split()
    for key in ("file", "elements"):
        if key not in words[:-1]:
            raise InputError(f"explore.templates: got {str(path)!r}, whose fix uq line has no "
                             f"'{key}' keyword with a value; {EXPECTED}")
    every = _readable(path, words[4], "N (the check period)")
    if not every.isdigit() or int(every) < 1:
        raise InputError(f"explore.templates: got {str(path)!r}, whose fix uq line has N = "
                         f"{every!r}; expected a positive integer")
    start = words.index("elements") + 1
    elements = []
    while start < len(words) and re.fullmatch(r"[A-Z][a-z]?", words[start]):
        elements.append(words[start])
        start += 1
    if start < len(words):
        _readable(path, words[start], "an element")
    return index, FixLine(_readable(path, words[1], "ID"), int(every), elements,
                          _readable(path, words[words.index("file") + 1], "the file REGIONS"))


def without_carve(words: list[str]) -> list[str]:
    """The fix words less ``carve DIR [options]`` (up to the next fix uq keyword)."""
    if "carve" not in words:
        return words
    start = words.index("carve")
    end = start + 2
    while end < len(words) and words[end] not in FIX_KEYWORDS:
        end += 1
    return words[:start] + words[end:]


def prepared_input(path: Path, random_pool: bool,
                   variables: dict | None = None) -> tuple[str, FixLine]:
    """The template as the loop runs it (module docstring) and its fix line (``variables``:
    the run's -var, see :func:`parse_fix`)."""
    text = path.read_text()
    index, fix = parse_fix(path, text, variables)
    lines = logical_lines(text)
    out, inserted = [f"# {path}, as run by lammps-uq learn (lammps_uq.learn.explore)"], False
    for k, (_, command) in enumerate(lines):
        if not command.strip():
            continue
        words = command.split()
        if k == index:
            out.append(" ".join(without_carve(words)))
            continue
        if words and words[0] == "run" and not inserted:
            out.append(f"fix learn_smax all ave/time {fix.every} 1 {fix.every} "
                       f"f_{fix.fix_id}[2] file learn_smax.dat")
            if random_pool:
                out += [f"dump learn_frames all custom {fix.every} learn_frames.dump id type x y z",
                        "dump_modify learn_frames sort id format float %.10g"]
            inserted = True
        out.append(command.rstrip())
    if not inserted:
        raise InputError(f"explore.templates: got {str(path)!r}, which has no run command; "
                         f"{EXPECTED}")
    return "\n".join(out) + "\n", fix


def max_s_local(folder: Path) -> float:
    """The largest max s_loc over the checks of a run (learn_smax.dat)."""
    path = folder / "learn_smax.dat"
    table = np.loadtxt(path, comments="#", ndmin=2) if path.exists() else np.empty((0, 2))
    return float(table[:, 1].max()) if len(table) else 0.0


def dump_frames(path: Path, elements: list[str]):
    """Every frame of ``learn_frames.dump`` as periodic ASE Atoms with ``id`` and ``step``."""
    from ase import Atoms
    from ase.data import atomic_numbers

    numbers_of_type = np.array([0] + [atomic_numbers[e] for e in elements])
    for block in path.read_text().split("ITEM: TIMESTEP")[1:]:
        lines = block.strip().splitlines()
        bounds = next(i for i, ln in enumerate(lines) if ln.startswith("ITEM: BOX"))
        if "xy" in lines[bounds]:
            raise InputError(f"selection random: {path} has a triclinic box; expected an "
                             "orthogonal one (the random baseline reads frames from a dump)")
        lo_hi = np.array([[float(v) for v in ln.split()[:2]] for ln in lines[bounds + 1:bounds + 4]])
        start = next(i for i, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS")) + 1
        table = np.loadtxt(lines[start:], ndmin=2)
        atoms = Atoms(numbers=numbers_of_type[table[:, 1].astype(int)],
                      positions=table[:, 2:5] - lo_hi[:, 0], cell=lo_hi[:, 1] - lo_hi[:, 0],
                      pbc=True)
        atoms.arrays["id"] = table[:, 0].astype(np.int64)
        atoms.info["step"] = int(lines[0])
        yield atoms


def random_regions(pools: list[Path], elements: list[str], count: int, rng,
                   centre_element: str = "") -> list:
    """``count`` region frames centred on random atoms (of ``centre_element`` if given) of
    random checked frames."""
    frames = [f for pool in pools for f in dump_frames(pool, elements)]
    if count and not frames:
        raise CalculationFailed("selection random: no checked frame was dumped")
    candidates = [np.arange(len(f)) if not centre_element else
                  np.nonzero(np.asarray(f.get_chemical_symbols()) == centre_element)[0]
                  for f in frames]
    count = min(count, sum(len(c) for c in candidates))
    chosen, regions = set(), []
    while len(regions) < count:
        k = int(rng.integers(len(frames)))
        if not len(candidates[k]):
            continue
        atom = int(rng.integers(len(frames[k]))) if not centre_element else \
            int(rng.choice(candidates[k]))
        if (k, atom) in chosen:
            continue
        chosen.add((k, atom))
        frame = frames[k].copy()
        frame.info.update(centre_id=int(frame.arrays["id"][atom]), centre_s_local=0.0,
                          parent_cell=frame.cell.array.ravel(), parent_pbc=[True] * 3,
                          parent_natoms=len(frame), selection="random")
        regions.append(frame)
    return regions


def recentre(frame, element: str):
    """A fix uq region frame centred on the atom of ``element`` nearest its selected centre
    (``selected_id`` keeps the atom fix uq chose; region frames are unwrapped around it)."""
    ids = np.asarray(frame.arrays["id"])
    centre = int(np.nonzero(ids == int(frame.info["centre_id"]))[0][0])
    of_element = np.nonzero(np.asarray(frame.get_chemical_symbols()) == element)[0]
    if not len(of_element):
        raise CalculationFailed(f"extract.centre_element {element}: the region of centre "
                                f"{frame.info['centre_id']} at step {frame.info.get('step')} "
                                f"holds no {element} atom")
    distance = np.linalg.norm(frame.positions[of_element] - frame.positions[centre], axis=1)
    out = frame.copy()
    nearest = of_element[distance.argmin()]
    out.info.update(selected_id=int(ids[centre]), centre_id=int(ids[nearest]))
    return out
