"""The paper's Fig. 7 on 2 cores: uncertainty vs random selection, same seeds.

    python examples/active_learning/run_fig7.py --out fig7_work [--seeds 1 2] [--iterations N] [--tiny]
    python examples/active_learning/run_fig7.py --out fig7_work --publish examples/active_learning/results

1. data: ``initial.extxyz`` (30 frames of 64-molecule SPC/Fw water, hot and compressed:
   1.05-1.15 g/cm3, 600-800 K, unlike the target) and ``test.extxyz`` (24 frames of independent
   SPC/Fw MD at the target state, 0.86 g/cm3 and 350 K, 64 molecules), labelled with GFN2-xTB,
   the two sets in two processes side by side;
   ``starts/start_KK.data``: 10 frames of a 10 ps SPC/Fw equilibration of 216 molecules at
   the target state, the start frames of the explorations (``explore.start_data``);
2. for every seed, two loops (``selection = "uncertainty"`` and ``"random"``) with the settings
   of ``learn_water.toml``.  Both start from the same committee: the random loop adopts the
   uncertainty loop's iteration 0 (``initial_committee``), trained once.  The loops advance in
   turn, one iteration at a time (``iterations`` 1, 2, ... N), so that a run stopped at any
   moment leaves both arms at (nearly) the same iteration;
3. after every round, ``lammps-uq learn report`` of each pair: ``learning_curve_seedS.png`` and
   ``report_seedS.txt``.

Every stage resumes where it stopped: run the same command again after an interruption.
``--tiny`` runs the smallest version (smoke test: 1 iteration, 2 members, few steps).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOT = [(1.05, 600.0, 1), (1.10, 700.0, 2), (1.15, 800.0, 3)]   # density, K, md seed
TARGET = [(0.86, 350.0, 11), (0.86, 350.0, 12), (0.86, 350.0, 13)]
STARTS = {"n_molecules": 216, "density": 0.86, "temperature": 350.0, "seed": 21,
          "burn_in": 2000, "every": 2000, "frames": 10}  # 1 ps burn-in, then a frame per ps
TINY = {"iterations = 6": "iterations = 1", "max_centres = 10": "max_centres = 2",
        "steps = 300": "steps = 20", "members = 3": "members = 2", "epochs = 30": "epochs = 2",
        "finetune_epochs = 10": "finetune_epochs = 1", "molecules = 32": "molecules = 8"}
ARMS = ("uncertainty", "random")


def label_frames(conditions, per_run: int, path: Path) -> None:
    """SPC/Fw frames (64 molecules) labelled with GFN2-xTB, appended one at a time."""
    import ase.io

    from lammps_uq.committee.default.train import count_frames, label
    from lammps_uq.committee.default.water import spcfw_frames

    done, k = count_frames(path), 0
    for density, temperature, seed in conditions:
        if k + per_run <= done:
            k += per_run
            continue
        frames = spcfw_frames(64, density=density, temperature=temperature,
                              steps=400 * (per_run + 1), every=400, seed=seed)[1:]
        for frame in frames:
            if k >= done:
                with open(path, "a") as fh:
                    ase.io.write(fh, label(frame), format="extxyz")
                print(f"data: {path.name} frame {k + 1}", flush=True)
            k += 1


def copy_shipped(out: Path) -> bool:
    """``OUT/data`` from ``data/`` (the sets and start frames this script made once, committed
    with their provenance, ``data/README.md``): ~10 min of xTB labels saved per fresh machine."""
    names = ["initial.extxyz", "test.extxyz"] + [
        f"starts/start_{k:02d}.data" for k in range(STARTS["frames"])]
    if not all((HERE / "data" / name).is_file() for name in names):
        return False
    for name in names:
        if not (out / "data" / name).exists():
            (out / "data" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / "data" / name, out / "data" / name)
    return True


def make_data(out: Path, tiny: bool) -> None:
    """The initial and the test set, labelled side by side in two fresh processes."""
    if not tiny and copy_shipped(out):
        return
    jobs = [(HOT, 2 if tiny else 10, out / "data" / "initial.extxyz"),
            (TARGET[:1] if tiny else TARGET, 1 if tiny else 8, out / "data" / "test.extxyz")]
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(jobs)) as pool:
        pool.starmap(label_frames, jobs)


def make_starts(out: Path, tiny: bool) -> None:
    """``data/starts/start_KK.data``: frames of one long SPC/Fw equilibration at the target
    state (explore.start_data: each exploration starts from one of them)."""
    from lammps_uq.committee.default.water import spcfw_frames, write_water_data

    folder = out / "data" / "starts"
    count = 2 if tiny else STARTS["frames"]
    if len(list(folder.glob("start_*.data"))) == count:
        return
    folder.mkdir(parents=True, exist_ok=True)
    every = 200 if tiny else STARTS["every"]
    frames = spcfw_frames(STARTS["n_molecules"], density=STARTS["density"],
                          temperature=STARTS["temperature"], seed=STARTS["seed"], every=every,
                          steps=(200 if tiny else STARTS["burn_in"]) + count * every)
    for k, frame in enumerate(frames[-count:]):
        write_water_data(frame, folder / f"start_{k:02d}.data",
                         title=f"water start frame {k}, step {frame.info['step']} of SPC/Fw "
                               f"{STARTS} (examples/active_learning/run_fig7.py)")
    print(f"fig7: {count} start frames in {folder}", flush=True)


def config_for(out: Path, selection: str, seed: int, tiny: bool, iterations: int | None,
               first: int | None = None, iteration0: Path | None = None) -> Path:
    """``OUT/<selection>_seed<seed>.toml``. Every loop but the first seed's uncertainty loop
    adopts the iteration-0 committee of ``uncertainty_seed<first>`` (default: its own seed's);
    with ``iteration0``, both arms adopt ``ITERATION0/iteration0_seed<first>`` where a
    published run left one (``--publish``) and the loop did not train its own."""
    text = (HERE / "learn_water.toml").read_text()
    for old, new in (TINY.items() if tiny else []):
        text = text.replace(old, new)
    if iterations is not None:
        text = text.replace("iterations = 1" if tiny else "iterations = 6",
                            f"iterations = {iterations}")
    text = text.replace('work_dir = "work"', f'work_dir = "{selection}_seed{seed}"')
    text = text.replace('selection = "uncertainty"', f'selection = "{selection}"')
    text = text.replace("seed = 1", f"seed = {seed}")
    owner = seed if first is None else first
    shipped = iteration0 / f"iteration0_seed{owner}" if iteration0 else None
    if shipped and list(shipped.glob("member_*.model")) and not trained_here(out, owner):
        initial = f"{shipped}/member_*.model"
    elif selection != ARMS[0] or seed != owner:  # the iteration-0 committee of the first loop
        initial = f"{ARMS[0]}_seed{owner}/iter_000/committee/member_*.model"
    else:
        initial = ""
    if initial:
        text = text.replace("\n[explore]", f'\ninitial_committee = "{initial}"\n\n[explore]', 1)
    path = out / f"{selection}_seed{seed}.toml"
    path.write_text(text)
    return path


def trained_here(out: Path, owner: int) -> bool:
    """Whether ``uncertainty_seed<owner>`` began by training its own iteration 0: such a loop
    goes on with it (a published copy of it is the same committee, bit for bit)."""
    config = out / f"{ARMS[0]}_seed{owner}" / "config.toml"
    return config.exists() and "initial_committee" not in config.read_text()


def report(out: Path, seed: int, lammps_uq: list[str]) -> None:
    works = [f"{arm}_seed{seed}" for arm in ARMS if (out / f"{arm}_seed{seed}").is_dir()]
    if not works:
        return
    result = subprocess.run(lammps_uq + ["learn", "report", *works, "-o",
                                         f"learning_curve_seed{seed}.png"],
                            cwd=out, capture_output=True, text=True)
    (out / f"report_seed{seed}.txt").write_text(result.stdout + result.stderr)
    print(result.stdout + result.stderr, flush=True)


def default_baseline(out: Path) -> Path:
    """Today's shipped committee on the same test set (item 6: is the loop's better?)."""
    from lammps_uq.committee.default.train import PACKAGE_DIR
    from lammps_uq.learn.fit import test_errors
    from lammps_uq.learn.state import read_frames

    path = out / "default_test_errors.json"
    if not path.exists():
        test_errors(read_frames(out / "data" / "test.extxyz"),
                    sorted(PACKAGE_DIR.glob("member_*.model")), path)
    return path


def summary(out: Path, seed: int, bins: int = 3) -> list[str]:
    """Test force MAE per energy bin at the last iteration both arms finished, and the default."""
    import numpy as np

    from lammps_uq.learn.report import binned, energy_edges, iterations_of
    from lammps_uq.learn.state import read_json

    runs = {arm: [r for r in iterations_of(out / f"{arm}_seed{seed}", published=True)
                  if r["test"]]
            for arm in ARMS if (out / f"{arm}_seed{seed}" / "iter_000").is_dir()}
    if len(runs) < 2 or not all(runs.values()):
        return []
    last = min(rows[-1]["iteration"] for rows in runs.values())
    edges = energy_edges(list(runs.values()), bins)
    default = read_json(default_baseline(out))
    lines = [f"seed {seed}, iteration {last}: test force MAE (eV/Å) per potential-energy bin",
             f"{'':>22} {'all':>7}" + "".join(f" {'bin ' + str(b + 1):>7}" for b in range(bins))
             + f" {'E MAE/atom':>10}"]
    results = {}
    for name, test in [(arm, next(r for r in rows if r["iteration"] == last)["test"])
                       for arm, rows in runs.items()] + [("shipped default", default)]:
        per_bin = binned(test, edges)
        results[name] = per_bin
        lines.append(f"{name:>22} {np.mean(test['force_mae']):7.4f}"
                     + "".join(f" {v:7.4f}" for v in per_bin)
                     + f" {np.mean(test['energy_error_per_atom']):10.4f}")
    ratio = [u / r for u, r in zip(results[ARMS[0]], results[ARMS[1]])]
    lines.append(f"{'uncertainty / random':>22} {'':>7}" + "".join(f" {v:7.3f}" for v in ratio))
    for arm in runs:  # wall time: every stage of every iteration (provenance timings_s)
        seconds = sum(sum((read_json(folder / "provenance.json", {}) or {}).get(
            "timings_s", {}).values()) for folder in (out / f"{arm}_seed{seed}").glob("iter_*"))
        lines.append(f"{arm} loop: {seconds / 60:.0f} min of stages (2 cores)")
    return lines


def publish(out: Path, dest: Path, seeds: list[int]) -> None:
    """Copy the results worth keeping (figure, tables, configs, every iteration's provenance
    and test errors, the default's test errors) from ``out`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        lines = summary(out, seed)
        (out / f"summary_seed{seed}.txt").write_text("\n".join(lines) + "\n")
        for name in (f"learning_curve_seed{seed}.png", f"report_seed{seed}.txt",
                     f"summary_seed{seed}.txt", "default_test_errors.json"):
            shutil.copyfile(out / name, dest / name)
        check = out / f"{ARMS[0]}_seed{seed}" / "selection_check.json"
        if check.exists():
            shutil.copyfile(check, dest / f"selection_check_seed{seed}.json")
        for arm in ARMS:
            shutil.copyfile(out / f"{arm}_seed{seed}.toml", dest / f"{arm}_seed{seed}.toml")
            publish_arm(out / f"{arm}_seed{seed}", dest / f"{arm}_seed{seed}")
        publish_committee(out / f"{ARMS[0]}_seed{seed}" / "iter_000",
                          dest / f"iteration0_seed{seed}")
    for name in ("score.json", "score.png"):
        if (out / name).exists():
            shutil.copyfile(out / name, dest / name)
    print(f"fig7: results copied to {dest}", flush=True)


def publish_committee(folder: Path, dest: Path) -> None:
    """The members (each under 5 MB) and calibration of ``folder/committee`` into ``dest``, and
    the iteration they are from (``ITERATION``)."""
    files = sorted((folder / "committee").glob("member_*.model"))
    if not files:
        return
    files += [path for path in [folder / "committee" / "calibration.json"] if path.exists()]
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*"):
        old.unlink()
    for path in files:
        if path.stat().st_size >= 5 << 20:
            raise SystemExit(f"fig7: {path} is over 5 MB; not copied")
        shutil.copyfile(path, dest / path.name)
    (dest / "ITERATION").write_text(folder.name + "\n")


def publish_arm(work: Path, dest: Path) -> None:
    """Every iteration's provenance, test and hard-set errors; the last committee's members
    (the final committee of the arm: anyone can score it on test data of their own)."""
    folders = sorted(work.glob("iter_[0-9][0-9][0-9]"))
    for folder in folders:
        for name in ("provenance.json", "test_errors.json", "hard_errors.json"):
            if (folder / name).exists():
                target = dest / folder.name / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, target)
    done = [f for f in folders if list((f / "committee").glob("member_*.model"))
            and (f / "test_errors.json").exists()]
    if done:
        publish_committee(done[-1], dest / "final_committee")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("fig7_work"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations per loop (default: learn_water.toml's)")
    parser.add_argument("--tiny", action="store_true", help="the smallest smoke version")
    parser.add_argument("--shared-start", action="store_true",
                        help="every seed starts from the first seed's iteration-0 committee "
                             "(trained once: ~30 min of the 2-core budget per seed saved)")
    parser.add_argument("--iteration0", type=Path, default=None, metavar="DIR",
                        help="adopt DIR/iteration0_seedS/ (published by --publish) as seed S's "
                             "iteration-0 committee where it exists, instead of training it")
    parser.add_argument("--publish", type=Path, default=None, metavar="DEST",
                        help="only copy the results so far into DEST (e.g. "
                             "examples/active_learning/results)")
    parser.add_argument("--summaries", action="store_true",
                        help="only write OUT/summary_seedS.txt again (OUT may be a published "
                             "results folder holding default_test_errors.json)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.summaries:
        for seed in args.seeds:
            (out / f"summary_seed{seed}.txt").write_text("\n".join(summary(out, seed)) + "\n")
        return 0
    if args.publish is not None:
        publish(out, args.publish.resolve(), args.seeds)
        return 0
    (out / "data").mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    make_data(out, args.tiny)
    make_starts(out, args.tiny)
    print(f"fig7: data ready ({time.monotonic() - start:.0f} s)", flush=True)
    shutil.copy(HERE / "in.water-al", out / "in.water-al")
    lammps_uq = [sys.executable, "-m", "lammps_uq.cli"]
    total = args.iterations or (1 if args.tiny else 6)
    for level in range(1, total + 1):
        for seed in args.seeds:
            for selection in ARMS:
                config = config_for(out, selection, seed, args.tiny, level,
                                    args.seeds[0] if args.shared_start else None,
                                    args.iteration0 and args.iteration0.resolve())
                print(f"fig7: {selection} seed {seed}, iterations 1..{level} "
                      f"({time.monotonic() - start:.0f} s)", flush=True)
                subprocess.run(lammps_uq + ["learn", str(config)], cwd=out, check=False)
            report(out, seed, lammps_uq)
            lines = summary(out, seed)
            (out / f"summary_seed{seed}.txt").write_text("\n".join(lines) + "\n")
            print("\n".join(lines), flush=True)
    print(f"fig7: done ({time.monotonic() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
