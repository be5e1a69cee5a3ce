"""The example's pipelines end to end: per pipeline variant, latency against the frame budget, memory and accuracy.

    python bench/pipeline.py [--no-build] [RESULTS]

Builds the example project (`doit --continue` in this checkout: only what is stale), then reads
build/results.json and prints one row per pipeline variant: the stages' Vela estimates added up
against the frame budget, what a board measured running the stages one after another (ms a
frame, FPS, the share of the frame outside the models), the largest stage's SRAM against the
target's, and the last stage's headline metric end to end (on the quantized detector's crops,
against the float chain) beside the same metric with the float last stage on those crops (the
crops' share), with the frames scored and missed.

Then each stage's own variant: its Vela estimate and its accuracy as a model alone, on the
model's own validation set, for comparison with the end-to-end figure.

RESULTS is another build's results.json, or its build folder: it is read as it is, nothing built.
"""

from __future__ import annotations

import sys
import time

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)
from accuracy import built_results, printed

from tasks.model.metrics import headline, metric_text

HEAD = [
    "pipeline",
    "est. ms (stages)",
    "budget ms",
    "on the board",
    "SRAM KiB (target's)",
    "end to end",
    "from crops",
    "frames scored",
]
STAGE_HEAD = ["stage variant", "est. ms", "SRAM KiB", "CPU ops", "alone, on its validation set"]


def ms_text(p: dict) -> str:
    est = p.get("estimate")
    if not est:
        return "–"
    return f"{est['ms']:.2f} (" + " + ".join(f"{s['npu_ms']:.2f}" for s in p["stages"]) + ")"


def board_text(p: dict) -> str:
    m = p.get("measured")
    if not m:
        return "–"
    return f"{m['frame_ms']['avg']:.2f} ms, {m['fps']:.1f} FPS ({m['cpu_ms']:.2f} outside the models)"


def memory_text(p: dict) -> str:
    m = p.get("memory") or {}
    if m.get("sram_kib") is None:
        return "–"
    have = f" ({m['target_sram_kib']:g})" if m.get("target_sram_kib") is not None else ""
    return f"{m['sram_kib']:,.0f}{have}" + (" does NOT fit" if m.get("fits") is False else "")


def accuracy_texts(p: dict) -> tuple[str, str, str]:
    acc = p.get("accuracy")
    if not acc:
        return "–", "–", "–"
    shown = headline(acc)
    end = f"{shown[0]} {metric_text(*shown)}" if shown else "–"
    crops = metric_text(shown[0], (acc.get("from_crops") or {}).get(shown[0])) if shown else "–"
    frames = f"{acc['scored_frames']}/{acc['frames']}, {acc['misses']} missed, {acc['false_alarms']} false alarms"
    return end, crops, frames + (" (in-sample)" if acc.get("in_sample") else "")


def table(pipelines: list[dict]) -> list[list[str]]:
    rows = []
    for p in pipelines:
        if p.get("error"):
            rows.append([p["id"], f"failed at {p['error']['step']}: {p['error']['message']}", *[""] * 6])
            continue
        budget = f"{p['budget_ms']:.2f}" if p.get("budget_ms") else "–"
        rows.append([p["id"], ms_text(p), budget, board_text(p), memory_text(p), *accuracy_texts(p)])
    return rows


def stage_table(pipelines: list[dict], variants: list[dict]) -> list[list[str]]:
    by_id = {v["id"]: v for v in variants}
    rows, seen = [], set()
    for p in pipelines:
        for s in p.get("stages") or []:
            if s["variant"] in seen:
                continue
            seen.add(s["variant"])
            v = by_id[s["variant"]]
            shown = headline(v.get("accuracy"))
            alone = f"{shown[0]} {metric_text(*shown)}" if shown else "–"
            est = f"{s['npu_ms']:.2f}" if s["npu_ms"] is not None else "–"
            sram = f"{s['sram_kib']:,.0f}" if s["sram_kib"] is not None else "–"
            rows.append([s["variant"], est, sram, str(s["cpu_ops"] if s["cpu_ops"] is not None else "–"), alone])
    return rows


def _choice(search: dict) -> str:
    chosen = search.get("chosen") or {}
    return f"{chosen.get('summary', '–')} ({search['goal']})" if chosen else f"none: {search['why']}"


def main() -> int:
    started = time.perf_counter()
    document = built_results(__doc__)
    if document is None:
        return 1
    pipelines = document.get("pipelines") or []
    if not pipelines:
        print("results.json has no pipelines (pipelines: in project.yaml)", file=sys.stderr)
        return 1
    printed(HEAD, table(pipelines))
    print("\nEach stage alone\n")
    printed(STAGE_HEAD, stage_table(pipelines, document["variants"]))
    for p in pipelines:
        if p.get("search"):
            print(f"\n{p['id']}: {p['search']['why']}")
    autos = [v for v in document["variants"] if v.get("search") and v.get("estimate")]
    if autos:
        print("\nPer-model automatic schemes (each chosen alone, on its model's own validation set)\n")
        printed(
            ["variant", "est. ms", "its choice"],
            [[v["id"], f"{v['estimate']['inference_ms']:.2f}", _choice(v["search"])] for v in autos],
        )
    print(f"\n{len(pipelines)} pipeline variants, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
