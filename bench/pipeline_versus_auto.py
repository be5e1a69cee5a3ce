"""The pipeline search against each model's own automatic scheme, chosen separately, on the example's fitness chain.

    python bench/pipeline_versus_auto.py [--keep]

The example's `fitness` pipeline runs the pruned landmark model, which has no automatic scheme of
its own; the whole landmark model (`pose_landmark`) has one (landmarks within 13 px alone, within
1.3x int8's latency on the i.MX93).  This bench builds a project made of the example's own
declarations: pose_detection and pose_landmark with the example's schemes on the i.MX93, each with
an automatic scheme chosen alone against its model's own goal (the detector's: its gate,
detection_recall >= 0.9, within 1.3x int8's latency), and the pipeline pose_detection ->
pose_landmark at 30 FPS on the photographs of people with

- `per_model_auto`: each stage's automatic scheme, as two teams choosing separately would ship it;
- `search`: the schemes of both stages chosen together for the example's goal end to end
  (landmarks within 10 px of the float chain's). Each stage's front has its automatic scheme's
  candidates too: the detector's come within hundredths of a millisecond of its int8 variants, so
  the cheapest combinations are many; --measure (default 30) lets the search measure past them.

It writes the project next to project.yaml (its paths are the example's), builds it in
build/versus-auto (`doit project=…`: the first run builds both models and their searches, a few
minutes; later runs only what changed), then prints each variant's stages, total ms against the
budget and landmark error end to end, and whether the search meets the goal for less.  --keep
leaves the project file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)
import yaml
from accuracy import printed

from support import REPO
from tasks.config.project import Goal

PROJECT = REPO / ".versus-auto.yaml"
BUILD = "build/versus-auto"
TARGET = "imx93"
SCHEMES = ("int8", "int8_io", "a16w8", "mixed")  # mixed: the landmark model's layers only


def project(measure: int) -> dict:
    """The example's declarations the comparison needs, with the detector's automatic scheme added."""
    example = yaml.safe_load((REPO / "project.yaml").read_text())
    quantization = {name: example["quantization"][name] for name in (*SCHEMES, "auto")}
    landmark_auto = quantization.pop("auto")
    quantization["auto_landmark"] = landmark_auto
    quantization["auto_detection"] = {
        "type": "auto",
        "goal": {"metric": "detection_recall", "min": 0.9},  # the example's gate on the detector
        "budget": {"target": TARGET, "max_ms": 8.74},  # 1.3x the detector's int8 estimate (6.72 ms)
    }
    fitness = example["pipelines"]["fitness"]
    return {
        "version": 1,
        "name": "versus-auto",
        "build_dir": BUILD,
        "datasets": {k: example["datasets"][k] for k in ("photos_signed", "photos_unit", "people")},
        "models": {k: example["models"][k] for k in ("pose_detection", "pose_landmark")},
        "quantization": quantization,
        "targets": {TARGET: example["targets"][TARGET]},
        "builds": [
            {"models": ["pose_detection"], "quantization": [*SCHEMES[:3], "auto_detection"], "targets": [TARGET]},
            {"models": ["pose_landmark"], "quantization": [*SCHEMES, "auto_landmark"], "targets": [TARGET]},
        ],
        "pipelines": {
            "fitness_full": {
                "stages": [{"model": "pose_detection"}, {"model": "pose_landmark", "crop": "mediapipe_pose"}],
                "quantization": {"per_model_auto": ["auto_detection", "auto_landmark"]},
                "targets": [TARGET],
                "fps": fitness["fps"],
                "dataset": fitness["dataset"],
                "search": {**fitness["search"], "measure": measure},
            }
        },
    }


def stages_text(p: dict) -> str:
    return " + ".join(f"{s['variant'].split('/')[1].split('@')[0]} {s['npu_ms']:.2f}" for s in p["stages"])


def error_text(p: dict) -> str:
    metrics = (p.get("accuracy") or {}).get("metrics") or {}
    value = metrics.get("landmark_px_mean")
    return f"{value:.2f} px" if value is not None else "–"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave .versus-auto.yaml next to project.yaml")
    parser.add_argument("--measure", type=int, default=30, help="combinations the search may measure (search.measure)")
    args = parser.parse_args()
    started = time.perf_counter()
    PROJECT.write_text(
        "# written by bench/pipeline_versus_auto.py from project.yaml\n"
        + yaml.safe_dump(project(args.measure), sort_keys=False)
    )
    try:
        command = [sys.executable, "-m", "doit", "--continue", f"project={PROJECT.name}"]
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    finally:
        if not args.keep:
            PROJECT.unlink(missing_ok=True)
    results = REPO / BUILD / "results.json"
    if not results.is_file():
        print(f"the build wrote no {results} (doit exited {proc.returncode}):\n{proc.stdout[-3000:]}", file=sys.stderr)
        return 1
    if proc.returncode:
        print(f"doit exited {proc.returncode} (a failed gate or step; see {BUILD}/logs)", file=sys.stderr)
    document = json.loads(results.read_text())
    rows, by_name = [], {}
    for p in document.get("pipelines") or []:
        by_name[p["quantization"]] = p
        if p.get("error"):
            rows.append([p["id"], f"failed at {p['error']['step']}: {p['error']['message']}", "", "", ""])
            continue
        total = (p.get("estimate") or {}).get("ms")
        rows.append([p["id"], stages_text(p), f"{total:.2f}" if total else "–", f"{p['budget_ms']:.2f}", error_text(p)])
    printed(["pipeline variant", "stages (scheme est. ms)", "total ms", "budget ms", "landmarks end to end"], rows)
    autos = [v for v in document["variants"] if v.get("search")]
    if autos:
        print("\nEach automatic scheme, chosen alone on its model's own validation set\n")
        printed(
            ["variant", "est. ms", "why"],
            [[v["id"], f"{(v.get('estimate') or {}).get('inference_ms', 0):.2f}", v["search"]["why"]] for v in autos],
        )
    search, separate = by_name.get("search"), by_name.get("per_model_auto")
    if search and separate and search.get("estimate") and separate.get("estimate"):
        print(f"\n{search['id']}: {search['search']['why']}")
        goal = search["search"]["goal"]
        mine, theirs = search["estimate"]["ms"], separate["estimate"]["ms"]
        if not search["search"]["met"]:
            print(f"the search did not meet {goal['metric']} {goal}: nothing to compare (--measure measures more)")
        else:
            verdict = "meet" if Goal(**goal).met({"accuracy": separate.get("accuracy") or {}}) else "miss"
            print(
                f"the search meets the goal at {mine:.2f} ms a frame, {theirs - mine:.2f} ms less than the per-model "
                f"automatic schemes ({theirs:.2f} ms), which {verdict} it end to end ({error_text(separate)} against "
                f"{error_text(search)})"
            )
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
