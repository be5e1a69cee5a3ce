"""The automatic mixed-precision search on the example's pose_landmark for the i.MX93, at three latency budgets.

    python bench/auto_mixed.py [--budgets 11 12 13] [--goal 13] [--folder build/bench-auto-mixed]

Writes a project beside the example (its fetched pose_landmark_full model and photos, linked
under the same relative path, so the same calibration / validation split) with int8, a16w8 and
one `type: auto` scheme per budget, goal `landmark_px_mean <= GOAL`, all for the i.MX93's
Ethos-U65, and builds it with `doit` twice.
Prints, per scheme: Vela's estimated latency and its ratio to int8, the landmark error, the layers
in int16x8, the int8 <-> int16 type changes, the search's wall time and how many quantizations,
Vela compiles and evaluations it ran (the sensitivity table is measured once and shared); then
how many steps the second, unchanged build ran. Run `make` first (it fetches the model and makes
the photos). A fresh folder measures everything; a kept one reuses the candidate cache.
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
    "est. ms",
    "x int8",
    "landmark px",
    "met",
    "int16 layers",
    "type changes",
    "search s",
    "quantized",
    "compiled",
    "evaluated",
    "cached",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[11.0, 12.0, 13.0])
    parser.add_argument("--goal", type=float, default=13.0, help="landmark_px_mean at most this (int16x8's + 10 %%)")
    parser.add_argument("--folder", type=Path, default=REPO / "build" / "bench-auto-mixed")
    args = parser.parse_args()
    if not MODEL.is_file() or not PHOTOS.is_dir():
        print("run `make` first: it fetches pose_landmark_full.tflite and makes data/augmented", file=sys.stderr)
        return 2
    names = write_project(args.folder, args.budgets, args.goal)
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
        measured = [f"{ms:.2f}", f"{ms / int8_ms:.2f}", f"{px:.2f}"]
        found = v.get("search")
        if found is None:
            facts = json.loads((args.folder / "build" / "pose_landmark" / name / "quantize.json").read_text())
            int16 = (facts.get("precision") or {}).get("int16", 0)
            rows.append([name, "", *measured, "", str(int16), "0", "", "", "", "", ""])
            continue
        c, chosen = found["cost"], found["chosen"]
        met = "yes" if found["met"] else "no"
        chose = [str(chosen["widened"]), str(chosen["type_changes"])]
        cost = [f"{c['seconds']:.0f}", *(str(c[k]) for k in ("quantizations", "compiles", "evaluations", "cached"))]
        rows.append([name, f"{found['max_ms']:g}", *measured, met, *chose, *cost])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        )
    sens = next(v["search"]["sensitivity_cost"] for v in variants.values() if v.get("search"))
    print(
        f"\nsensitivity (once, shared by the {len(names)} schemes' searches): {sens['seconds']:.0f} s, "
        f"{sens['quantizations']} quantizations, {sens['compiles']} compiles, {sens['evaluations']} evaluations"
    )
    print(
        f"first build: {seconds:.0f} s ({len(ran(first))} steps, exit {first.returncode}); "
        f"second build, nothing changed: {again:.1f} s, steps run: {', '.join(ran(second)) or 'none'}"
        + (" (doit re-runs what failed: the gates of a goal not met)" if first.returncode else "")
    )
    print(
        "search s / quantized / compiled / evaluated: what each search measured itself; the searches share the "
        "candidate cache, so a candidate another search measured first counts as cached"
    )
    for name in names:
        if not variants[name]["search"]["met"]:
            print(f"{name}: {variants[name]['search']['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
