"""The example's accuracy: per model and scheme, SNR and the task metrics side by side.

    python bench/accuracy.py [--no-build]

Builds the example project (`doit` in this checkout: only what is stale), then reads
build/results.json and prints one row per quantized model (model or prune variant × scheme):
the samples it was evaluated on (held out from calibration, or marked in-sample), the SNR of
its worst output, the task metrics of its model (top-1 agreement for the classifiers, landmark
displacement and PCK for pose_landmark, mask IoU, detection recall / precision / IoU for
pose_detection), and the quantization limits check (SNR of the worst output calibrated on the
dataset and on that one sample, and what it says).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO
from tasks.model.metrics import metric_text

SHOWN = (
    "top1_agreement",
    "top5_agreement",
    "landmark_px_mean",
    "landmark_px_p95",
    "landmark_pck",
    "mask_iou",
    "detection_recall",
    "detection_precision",
    "detection_iou_mean",
)


def table(variants: list[dict]) -> list[list[str]]:
    rows, seen = [], set()
    for v in variants:
        unit = f"{v['model']}.{v['prune']}" if v.get("prune") else v["model"]
        acc = v.get("accuracy")
        if v.get("error") or not acc or (unit, v["quantization"]) in seen:
            continue
        seen.add((unit, v["quantization"]))
        worst = acc["worst_output"]
        metrics = acc.get("metrics") or {}
        task = ", ".join(f"{k} {metric_text(k, metrics[k])}" for k in SHOWN if k in metrics) or "–"
        lim = v.get("limits") or {}
        limits = "–"
        if lim:
            one = lim["outputs"][lim["worst_output"]]
            limits = f"{one['snr_db']:.1f} / {one['snr_db_one_sample']:.1f} dB: {lim['verdict']}"
        samples = f"{acc['samples']}" + (" in-sample" if acc.get("in_sample") else " held out")
        snr = f"{acc['outputs'][worst]['snr_db']:.1f} ({worst})"
        rows.append([unit, v["quantization"], samples, snr, task, limits])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="read build/results.json as it is")
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.no_build:
        proc = subprocess.run([sys.executable, "-m", "doit", "--continue"], cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:  # a failed gate still leaves results.json: show it, and say so
            print(f"doit exited {proc.returncode} (a failed gate or step; see its output)", file=sys.stderr)
    results = REPO / "build" / "results.json"
    if not results.is_file():
        print(f"no {results}: run make first", file=sys.stderr)
        return 1
    rows = table(json.loads(results.read_text())["variants"])
    head = ["model", "scheme", "samples", "SNR dB (worst output)", "task metrics", "limits: dataset / one sample"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\n{len(rows)} quantized models, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
