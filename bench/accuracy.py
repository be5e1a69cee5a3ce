"""The example's accuracy: per model and scheme, SNR and the task metrics side by side, and against the labels.

    python bench/accuracy.py [--no-build] [RESULTS]

Builds the example project (`doit` in this checkout: only what is stale), then reads
build/results.json and prints one row per quantized model (model or prune variant × scheme):
the samples it was evaluated on (held out from calibration, or marked in-sample), the SNR of
its worst output, the task metrics of its model (top-1 agreement for the classifiers, landmark
displacement and PCK for pose_landmark, mask IoU, detection recall / precision / IoU for
pose_detection), and the quantization limits check (SNR of the worst output calibrated on the
dataset and on that one sample, and what it says).

Then, for the quantized models whose validation set has labels, a row per label metric: the
agreement with the float model (SNR of the worst output, the task's headline such as
top1_agreement) beside the metric against the labels (float, quantized, the drop in points with
its 95 % bootstrap interval), and the labelled samples.  A model that arrives quantized without a
float model has no agreement and no drop.

RESULTS is another build's results.json, or its build folder: it is read as it is, nothing built.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO
from tasks.model.metrics import BY_NAME, metric_text

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
HEAD = ["model", "scheme", "samples", "SNR dB (worst output)", "task metrics", "limits: dataset / one sample"]
LABEL_HEAD = [
    "model",
    "scheme",
    "labelled samples",
    "SNR dB (worst output)",
    "against float",
    "metric",
    "float",
    "quantized",
    "drop pts [95 % interval]",
]


def quantized_models(variants: list[dict]) -> list[tuple[str, dict]]:
    """(model or prune variant, a row) per quantized model that was evaluated: its targets share its accuracy."""
    found, seen = [], set()
    for v in variants:
        unit = f"{v['model']}.{v['prune']}" if v.get("prune") else v["model"]
        if v.get("error") or not v.get("accuracy") or (unit, v["quantization"]) in seen:
            continue
        seen.add((unit, v["quantization"]))
        found.append((unit, v))
    return found


def snr_text(acc: dict) -> str:
    """The worst output's SNR and name; a model without a float model to compare with has none."""
    worst = acc.get("worst_output")
    if worst is None:
        return "– (no float model)"
    return f"{acc['outputs'][worst]['snr_db']:.1f} ({worst})"


def table(variants: list[dict]) -> list[list[str]]:
    rows = []
    for unit, v in quantized_models(variants):
        acc = v["accuracy"]
        metrics = acc.get("metrics") or {}
        task = ", ".join(f"{k} {metric_text(k, metrics[k])}" for k in SHOWN if k in metrics) or "–"
        lim = v.get("limits") or {}
        limits = "–"
        if lim:
            one = lim["outputs"][lim["worst_output"]]
            limits = f"{one['snr_db']:.1f} / {one['snr_db_one_sample']:.1f} dB: {lim['verdict']}"
        samples = f"{acc['samples']}" + (" in-sample" if acc.get("in_sample") else " held out")
        rows.append([unit, v["quantization"], samples, snr_text(acc), task, limits])
    return rows


def agreement(acc: dict) -> str:
    """The first task's headline against the float model (top1_agreement, landmark_px_mean, …), else –."""
    for task in acc.get("tasks") or []:
        found = task.get("metrics") or {}
        name = BY_NAME[task["type"]].headline or next(iter(found), "")
        if found.get(name) is not None:
            return f"{name} {metric_text(name, found[name])}"
    return "–"


def drop_text(m: dict) -> str:
    if m.get("drop") is None:
        return "–"
    low, high = m.get("interval") or (None, None)
    return f"{m['drop']:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low is not None else "")


def label_table(variants: list[dict]) -> list[list[str]]:
    """A row per label metric of each quantized model whose validation set has labels."""
    rows = []
    for unit, v in quantized_models(variants):
        acc = v["accuracy"]
        labels = acc.get("labels")
        if not labels:
            continue
        samples = f"{labels['samples']} of '{labels['dataset']}'"
        for name, m in labels["metrics"].items():
            rows.append(
                [
                    unit,
                    v["quantization"],
                    samples,
                    snr_text(acc),
                    agreement(acc),
                    name,
                    metric_text(name, m.get("float")),
                    metric_text(name, m.get("quantized")),
                    drop_text(m),
                ]
            )
    return rows


def printed(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def results_file(given: str | None) -> Path:
    """RESULTS as given (a results.json, or the build folder holding one), else this checkout's build/results.json."""
    if given is None:
        return REPO / "build" / "results.json"
    path = Path(given)
    return path / "results.json" if path.is_dir() else path


def built_results(doc: str) -> dict | None:
    """The command line's results.json (``--no-build``, or RESULTS): the example built first unless told; None, and
    said, when there is none."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="read build/results.json as it is")
    parser.add_argument("results", nargs="?", help="a results.json or a build folder, read as it is (nothing built)")
    args = parser.parse_args()
    if not args.no_build and args.results is None:
        proc = subprocess.run([sys.executable, "-m", "doit", "--continue"], cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:  # a failed gate still leaves results.json: show it, and say so
            print(f"doit exited {proc.returncode} (a failed gate or step; see its output)", file=sys.stderr)
    results = results_file(args.results)
    if not results.is_file():
        print(f"no {results}: run make first, or give a build folder", file=sys.stderr)
        return None
    return json.loads(results.read_text())


def main() -> int:
    started = time.perf_counter()
    document = built_results(__doc__)
    if document is None:
        return 1
    variants = document["variants"]
    rows = table(variants)
    printed(HEAD, rows)
    labelled = label_table(variants)
    if labelled:
        print("\nAgainst the labels (drop: float − quantized, in points; positive is worse)\n")
        printed(LABEL_HEAD, labelled)
    counted = len({(r[0], r[1]) for r in labelled})
    print(f"\n{len(rows)} quantized models, {counted} with labels, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
