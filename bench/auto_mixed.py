"""The automatic mixed-precision search on the example's pose_landmark for the i.MX93, at three latency budgets.

    python bench/auto_mixed.py [--budgets 11 12 13] [--goal 13] [--folder build/bench-auto-mixed]

Writes a project beside the example (its fetched pose_landmark_full model and photos, linked
under the same relative path, so the same calibration / validation split) with int8, a16w8 and
one `type: auto` scheme per budget, goal `landmark_px_mean <= GOAL`, all for the i.MX93's
Ethos-U65, and builds it with `doit` twice.
Prints, per scheme: Vela's estimated latency and its ratio to int8, the landmark error, the layers
in int16x8, the int8 <-> int16 type changes, the candidate steps the searches share and the models
each search measured for its own budget; the wall time of the searches together (candidate,
sensitivity and search steps, after calibrate); then what the second, unchanged build ran.
With --rank N, every block is also measured for real, widened alone and narrowed alone on N
samples, and the estimate's ranking is compared with it (Spearman).  Run `make` first (it fetches
the model and makes the photos).  A fresh folder measures everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "fetched" / "pose_landmark_full.tflite"
PHOTOS = REPO / "data" / "augmented"

PROJECT = """\
version: 1
name: auto-mixed-bench
datasets:
  photos_unit:
    images: data/augmented/*.png
    preprocess: {{resize: letterbox, mean: 0, scale: 255, color: rgb}}
    split: {{calibration: 0.7, validation: 0.3}}
models:
  pose_landmark:
    source: {model}
    task:
      - {{type: keypoints, output: Identity, layout: mediapipe_pose}}
      - {{type: segmentation, output: Identity_2}}
    calibration: photos_unit
    validation: photos_unit
quantization:
  int8: {{type: int8}}
  a16w8: {{type: int16x8}}
{autos}
targets:
  imx93: {{compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}}
"""


def write_project(folder: Path, budgets: list[float], goal: float) -> list[str]:
    names = [f"auto_{str(b).replace('.', '_')}ms" for b in budgets]
    aim = f"{{metric: landmark_px_mean, max: {goal}}}"
    autos = "\n".join(
        f"  {n}: {{type: auto, goal: {aim}, budget: {{target: imx93, max_ms: {b}}}}}"
        for n, b in zip(names, budgets, strict=True)
    )
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"  # the example's photos under the example's relative path: the same split
    if not data.is_symlink():
        data.symlink_to(REPO / "data", target_is_directory=True)
    (folder / "project.yaml").write_text(PROJECT.format(model=MODEL, autos=autos))
    return names


def doit(folder: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Plain doit in the project's folder, as a user runs it on their own project (the package on PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PWD"} | {"PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "doit"], cwd=folder, env=env, capture_output=True, text=True)
    return proc, time.perf_counter() - started


def ran(proc: subprocess.CompletedProcess) -> list[str]:
    return [line[3:].strip() for line in proc.stdout.splitlines() if line.startswith(".  ")]


COLUMNS = (
    "scheme",
    "budget ms",
    "Vela ms",
    "x int8",
    "landmark px",
    "met",
    "int16 layers",
    "type changes",
    "candidates",
    "for budget",
    "search step s",
)


def timed_doit(folder: Path, *names: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k != "PWD"} | {"PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "doit", *names], cwd=folder, env=env, capture_output=True, text=True)
    return proc, time.perf_counter() - started


def rank(folder: Path, samples: int) -> None:
    """Each block widened alone in int8 and narrowed alone in int16x8, measured for real on ``samples`` validation
    samples, against the sensitivity step's estimate: Spearman's rank correlation of each."""
    sys.path.insert(0, str(REPO))
    from tasks import config
    from tasks.engine.plan import plan
    from tasks.model import mixed_search
    from tasks.steps import search

    os.chdir(folder)
    step = next(s for s in plan(config.load(folder / "project.yaml")) if s.kind.name == "sensitivity")
    table = json.loads(step.options.out.read_text())
    meter = search._measurer(step.options.candidates)
    meter.take = samples
    every = {k for b in table["blocks"] for k in b["ops"]}
    int8, int16 = meter.measure(set()), meter.measure(every)
    metric = "landmark_px_mean"
    real = {"widen_ms": [], "narrow_ms": [], "widen_px": [], "narrow_px": []}
    started = time.perf_counter()
    for b in table["blocks"]:
        w, n = meter.measure(set(b["ops"])), meter.measure(every - set(b["ops"]))
        real["widen_ms"].append(w["ms"] - int8["ms"])
        real["narrow_ms"].append(int16["ms"] - n["ms"])
        real["widen_px"].append(int8["accuracy"]["metrics"][metric] - w["accuracy"]["metrics"][metric])
        real["narrow_px"].append(n["accuracy"]["metrics"][metric] - int16["accuracy"]["metrics"][metric])
    estimate = {
        "widen_ms": [b["widen_ms"] for b in table["blocks"]],
        "narrow_ms": [b["narrow_ms"] for b in table["blocks"]],
    }
    error = [b["error"] for b in table["blocks"]]
    print(
        f"\nthe estimate against {2 * len(table['blocks']) + 2} real candidates ({samples} samples each, "
        f"{time.perf_counter() - started:.0f} s), Spearman's rank correlation over {len(error)} blocks:"
    )
    for name, est, got in (
        ("latency, a block widened alone", estimate["widen_ms"], real["widen_ms"]),
        ("latency saved, a block narrowed alone", estimate["narrow_ms"], real["narrow_ms"]),
        (f"error: {metric} gained, widened alone", error, real["widen_px"]),
        (f"error: {metric} lost, narrowed alone", error, real["narrow_px"]),
    ):
        rho = mixed_search.spearman(est, got)
        print(f"  {name:<45} {'–' if rho is None else f'{rho:+.2f}'}")
    agree = mixed_search.spearman(real["widen_px"], real["narrow_px"])
    print(f"  {'the real widen gains against the real narrow losses':<45} {agree:+.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[11.0, 12.0, 13.1])
    parser.add_argument("--goal", type=float, default=13.0, help="landmark_px_mean at most this (int16x8's + 10 %%)")
    parser.add_argument("--folder", type=Path, default=REPO / "build" / "bench-auto-mixed")
    parser.add_argument("--rank", type=int, default=0, metavar="SAMPLES", help="also measure every block for real")
    args = parser.parse_args()
    if not MODEL.is_file() or not PHOTOS.is_dir():
        print("run `make` first: it fetches pose_landmark_full.tflite and makes data/augmented", file=sys.stderr)
        return 2
    names = write_project(args.folder, args.budgets, args.goal)
    # what every search starts from (import, calibrate, the int8 and a16w8 schemes), then the searches alone
    setup, _ = timed_doit(args.folder, "calibrate", "quantize:pose_landmark/int8", "quantize:pose_landmark/a16w8")
    searched, search_s = timed_doit(args.folder, *(f"search:pose_landmark/{n}" for n in names))
    first, seconds = doit(args.folder)
    if not (args.folder / "build" / "results.json").is_file():
        print(first.stdout[-3000:], first.stderr[-3000:], file=sys.stderr)
        return 1
    second, again = doit(args.folder)
    variants = {
        v["quantization"]: v for v in json.loads((args.folder / "build" / "results.json").read_text())["variants"]
    }
    int8_ms = variants["int8"]["estimate"]["inference_ms"]
    rows = [list(COLUMNS)]
    for name in ["int8", "a16w8", *names]:
        v = variants[name]
        ms, px = v["estimate"]["inference_ms"], v["accuracy"]["metrics"]["landmark_px_mean"]
        measured = [f"{ms:.2f}", f"{ms / int8_ms:.3f}", f"{px:.2f}"]
        found = v.get("search")
        if found is None:
            facts = json.loads((args.folder / "build" / "pose_landmark" / name / "quantize.json").read_text())
            int16 = (facts.get("precision") or {}).get("int16", 0)
            rows.append([name, "", *measured, "", str(int16), "0", "", "", ""])
            continue
        c, chosen = found["cost"], found["chosen"]
        met = "yes" if found["met"] else "no"
        chose = [str(chosen["widened"]), str(chosen["type_changes"])]
        cost = [str(c["candidates"]), str(c["refined"]), f"{c['refine_seconds']:.0f}"]
        rows.append([name, f"{found['max_ms']:g}", *measured, met, *chose, *cost])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        )
    cost = next(v["search"]["cost"] for v in variants.values() if v.get("search"))
    print(
        f"\nthe {len(names)} searches together (candidates, sensitivity, searches; after calibrate, on the cores): "
        f"{search_s:.0f} s wall, exit {searched.returncode}; their {cost['candidates']} shared candidate steps "
        f"{cost['seconds']:.0f} s of CPU, the estimate {cost['estimate_seconds']:g} s"
    )
    print(
        f"set-up before them {setup.returncode and 'FAILED' or 'ok'}; the rest of the build: {seconds:.0f} s "
        f"({len(ran(first))} steps, exit {first.returncode}); second build, nothing changed: {again:.1f} s, steps "
        f"run: {', '.join(ran(second)) or 'none'}"
    )
    for name in names:
        if not variants[name]["search"]["met"]:
            print(f"{name}: {variants[name]['search']['why']}")
    if args.rank:
        rank(args.folder, args.rank)
    return 0


if __name__ == "__main__":
    sys.exit(main())
