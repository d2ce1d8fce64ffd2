"""The paper's Fig. 7 on 2 cores: uncertainty vs random selection, same seeds.

    python examples/active_learning/run_fig7.py --out fig7_work [--seeds 1 2] [--tiny]

1. data: ``initial.extxyz`` (30 frames of 64-molecule SPC/Fw water, hot and compressed:
   1.05-1.15 g/cm3, 600-800 K, unlike the target) and ``test.extxyz`` (24 frames of independent
   SPC/Fw MD at the target state, 0.86 g/cm3 and 350 K, 64 molecules), labelled with GFN2-xTB;
2. for every seed, two loops (``selection = "uncertainty"`` and ``"random"``) with the settings
   of ``learn_water.toml``;
3. ``lammps-uq learn report`` of each pair: ``learning_curve.png`` and the table.

Every stage resumes where it stopped: run the same command again after an interruption.
``--tiny`` runs the smallest version (smoke test: 1 iteration, 2 members, few steps).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOT = [(1.05, 600.0, 1), (1.10, 700.0, 2), (1.15, 800.0, 3)]   # density, K, md seed
TARGET = [(0.86, 350.0, 11), (0.86, 350.0, 12), (0.86, 350.0, 13)]
TINY = {"iterations = 6": "iterations = 1", "max_centres = 6": "max_centres = 2",
        "steps = 1000": "steps = 20", "members = 3": "members = 2", "epochs = 30": "epochs = 2",
        "finetune_epochs = 10": "finetune_epochs = 1", "molecules = 32": "molecules = 8"}


def label_frames(conditions, per_run: int, path: Path) -> None:
    """SPC/Fw frames (64 molecules) labelled with GFN2-xTB, appended one at a time."""
    import ase.io

    from lammps_uq.committee.train_default import count_frames, label
    from lammps_uq.committee.water import spcfw_frames

    done, k = count_frames(path), 0
    for density, temperature, seed in conditions:
        frames = spcfw_frames(64, density=density, temperature=temperature,
                              steps=400 * (per_run + 1), every=400, seed=seed)[1:]
        for frame in frames:
            if k >= done:
                with open(path, "a") as fh:
                    ase.io.write(fh, label(frame), format="extxyz")
                print(f"data: {path.name} frame {k + 1}", flush=True)
            k += 1


def config_for(out: Path, selection: str, seed: int, tiny: bool) -> Path:
    text = (HERE / "learn_water.toml").read_text()
    for old, new in (TINY.items() if tiny else []):
        text = text.replace(old, new)
    text = text.replace('work_dir = "work"', f'work_dir = "{selection}_seed{seed}"')
    text = text.replace('selection = "uncertainty"', f'selection = "{selection}"')
    text = text.replace("seed = 1", f"seed = {seed}")
    path = out / f"{selection}_seed{seed}.toml"
    path.write_text(text)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("fig7_work"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--tiny", action="store_true", help="the smallest smoke version")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    (out / "data").mkdir(parents=True, exist_ok=True)
    per_run = 1 if args.tiny else 10
    label_frames(HOT, per_run, out / "data" / "initial.extxyz")
    label_frames(TARGET[:1] if args.tiny else TARGET, 1 if args.tiny else 8,
                 out / "data" / "test.extxyz")
    shutil.copy(HERE / "in.water-al", out / "in.water-al")
    water = Path(__file__).resolve().parents[2] / "input_templates" / "water" / "water128.data"
    shutil.copy(water, out / "water128.data")
    lammps_uq = [sys.executable, "-m", "lammps_uq.cli"]
    for seed in args.seeds:
        for selection in ("uncertainty", "random"):
            config = config_for(out, selection, seed, args.tiny)
            subprocess.run(lammps_uq + ["learn", str(config)], cwd=out, check=False)
        subprocess.run(lammps_uq + ["learn", "report", f"uncertainty_seed{seed}",
                                    f"random_seed{seed}", "-o", f"learning_curve_seed{seed}.png"],
                       cwd=out, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
