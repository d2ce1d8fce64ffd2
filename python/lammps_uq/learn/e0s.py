"""The atomic reference energies (E0s) the loop's committees are trained with (``train.e0s``).

- ``"isolated"`` (default): each element's isolated atom computed once by the loop's own
  labeller (``label.calculator``; one atom in a 12 Å box, not periodic, in a process of its own
  like every label), so that the committee learns the interaction energy of the method it is
  labelled with and its energy error is a fit error, not an offset of ``E0s = average``; with
  CP2K the atom is computed in its ground-state spin (unrestricted Kohn-Sham, multiplicity
  from ``ase.data.ground_state_magnetic_moments``: H 2, O 3), neutral, without stress, and (OT
  without smearing) with OT's CG minimizer: DIIS stalled on the O atom's degenerate p shell
  (300 cycles, not converged);
- ``"average"``: mace's own least-squares E0s of the training set;
- a table, e.g. ``{ H = -10.707, O = -102.571 }`` (eV): given.

The energies are kept in ``WORK/e0s.json`` (with the method) and passed to ``mace_run_train``
as ``--E0s``; every member of every iteration uses the same ones.
"""

from __future__ import annotations

from pathlib import Path

from ..committee.training import e0s_option, isolated_atom
from .state import read_json, write_json


def e0s_file(work: Path) -> Path:
    return work / "e0s.json"


def prepare_e0s(cfg, work: Path, elements: list[str], say) -> dict | None:
    """``WORK/e0s.json`` ({symbol: eV}) made if missing; None for ``"average"``."""
    setting = cfg["train.e0s"]
    if setting == "average":
        return None
    if isinstance(setting, dict):
        energies, method = {str(k): float(v) for k, v in setting.items()}, "given (train.e0s)"
    else:
        saved = read_json(e0s_file(work))
        if saved is not None:
            return saved["energies"]
        energies = isolated_atoms(cfg, work, elements, say)
        method = cfg["label.calculator"]
    write_json(e0s_file(work), {"method": method, "energies": energies})
    return energies


def check_e0s(cfg, elements: list[str]) -> None:
    """A table of ``train.e0s`` must hold every element of the loop (before any work)."""
    setting = cfg["train.e0s"]
    missing = sorted(set(elements) - set(setting)) if isinstance(setting, dict) else []
    if missing:
        from ..errors import InputError

        raise InputError(f"CONFIG: train.e0s: got no energy for {', '.join(missing)}; expected "
                         f"one for every element of the loop ({', '.join(sorted(elements))})")


def isolated_atoms(cfg, work: Path, elements: list[str], say) -> dict:
    """The labeller's energy of each isolated atom (eV)."""
    from ..extract.label_process import label_task, reason_of
    from ..extract.reference_calcs import load_config
    from .state import LearnStopped

    config = load_config(str(cfg.path("label.calculator_config") or "") or None)
    energies = {}
    for symbol in sorted(set(elements)):
        try:
            result = label_task(isolated_atom(symbol), cfg["label.calculator"],
                                atom_config(cfg["label.calculator"], config, symbol),
                                cfg["label.timeout"] or None, str(work / "e0s" / symbol))
        except Exception as exc:  # noqa: BLE001 - any failure of the labeller stops the loop
            raise LearnStopped(f"e0s: {cfg['label.calculator']} failed on an isolated {symbol} "
                               f"atom ({reason_of(exc)}); expected it to compute one, or set "
                               "train.e0s = \"average\" or a table of energies") from exc
        energies[symbol] = result["energy"]
        say(f"e0s: isolated {symbol} with {cfg['label.calculator']}: {result['energy']:.6f} eV")
    return energies


ATOM_SCF = ("&FORCE_EVAL\n&DFT\n&SCF\n&OT\nMINIMIZER CG\nPRECONDITIONER FULL_ALL\n&END OT\n"
            "&END SCF\n&END DFT\n&END FORCE_EVAL\n")


def atom_config(spec: str, config: dict, symbol: str) -> dict:
    """The labeller's config for one isolated atom: CP2K's ``[cp2k]`` with the atom's
    ground-state multiplicity (a closed-shell singlet is wrong for H or O), charge 0, no
    stress and OT's CG minimizer; other labellers' configs as they are."""
    if spec != "cp2k":
        return config
    from ase.data import atomic_numbers, ground_state_magnetic_moments

    from ..extract.cp2k import merged

    spin = int(round(ground_state_magnetic_moments[atomic_numbers[symbol]]))
    section = dict(config.get("cp2k") or {}, multiplicity=spin + 1, charge=0, stress=False)
    if not section.get("smearing"):  # diagonalization has no OT section
        user = section.get("inp", "")
        section["inp"] = merged(user, ATOM_SCF) if user.strip() else ATOM_SCF
    return dict(config, cp2k=section)


def e0s_argument(work: Path) -> str | None:
    """``--E0s`` of mace_run_train: ``{Z: eV, ...}`` from ``WORK/e0s.json`` (None: average)."""
    saved = read_json(e0s_file(work))
    return None if saved is None else e0s_option(saved["energies"])
