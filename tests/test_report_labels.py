"""The report on a build whose validation sets have labels, rendered from a hand-written results.json: a classifier
with its confusion matrix, a detector with its precision/recall curves, a model that arrives quantized without a float
model (no outputs to compare) and a model without labels beside them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tasks.report import html as report_html
from tasks.report import verdicts
from tasks.steps import report

CLASSES = [str(k) for k in range(10)]
RECALL = [k / 100 for k in range(101)]


def _variant(vid: str, est_ms: float, accuracy: dict | None) -> dict:
    model, rest = vid.split("/")
    quant, target = rest.split("@")
    return {
        "id": vid,
        "model": model,
        "prune": None,
        "quantization": quant,
        "target": target,
        "artifact": f"build/{model}/{quant}/{target}/{model}.tflite",
        "size_bytes": 52_000,
        "inputs": None,
        "outputs": None,
        "ops": {"npu": 12, "cpu": 0},
        "cpu_fallback": [],
        "estimate": {"inference_ms": est_ms, "fps": 1000 / est_ms, "sram_kib": 40.0, "dram_kib": 0.0},
        "layers": None,
        "model_info": None,
        "findings": None,
        "rewrites": None,
        "conversion": None,
        "quant_errors": None,
        "error_budget": None,
        "accuracy": accuracy,
        "limits": None,
        "benchmark": None,
        "benchmarks": [],
        "board_agreement": None,
        "board_agreements": [],
        "search": None,
    }


def _output(snr: float) -> dict:
    worst = {"max_abs": 0.5, "rmse": 0.05, "snr_db": snr - 6, "cosine": 0.99, "sample": 3}
    return {"max_abs": 0.4, "rmse": 0.03, "snr_db": snr, "cosine": 0.998, "worst": worst}


def _metric(f: float | None, q: float, interval: list[float] | None, resamples: int = 1000) -> dict:
    drop = None if f is None else round(100 * (f - q), 4)
    return {"float": f, "quantized": q, "drop": drop, "interval": interval, "resamples": resamples}


def _confusion(misses: dict[tuple[int, int], int]) -> list[list[int]]:
    """31 or 32 samples a class (315 in all), all on the diagonal but ``misses``: (label, answer) → count."""
    matrix = [[0] * 10 for _ in range(10)]
    for k in range(10):
        matrix[k][k] = 31 if k < 5 else 32
    for (label, answer), count in misses.items():
        matrix[label][label] -= count
        matrix[label][answer] += count
    return matrix


QUANTIZED_CONFUSION = _confusion({(3, 5): 2, (8, 1): 3, (9, 4): 1, (7, 1): 1})  # 308 of 315 right: 97.8 %
FLOAT_PRECISION = [round(1 - 0.3 * r * r, 4) if r <= 0.9 else None for r in RECALL]  # reaches recall 0.90
QUANTIZED_PRECISION = [round(1 - 0.35 * r * r, 4) if r <= 0.85 else None for r in RECALL]  # and 0.85


def _classifier() -> dict:
    top1 = _metric(309 / 315, 308 / 315, [-0.3, 1.0])
    top5 = _metric(1.0, 1.0, [0.0, 0.0])
    return _variant(
        "digits/int8@u55",
        0.21,
        {
            "outputs": {"logits": _output(31.5)},
            "worst_output": "logits",
            "samples": 315,
            "dataset": "digits",
            "part": None,
            "in_sample": False,
            "tasks": [{"type": "classification", "output": "logits", "metrics": {"top1_agreement": 0.991}}],
            "metrics": {
                "top1_agreement": 0.991,
                "top1_accuracy": top1["quantized"],
                "top1_accuracy_drop": top1["drop"],
                "top5_accuracy": 1.0,
                "top5_accuracy_drop": 0.0,
            },
            "labels": {
                "dataset": "digits",
                "samples": 315,
                "metrics": {"top1_accuracy": top1, "top5_accuracy": top5},
                "confusion": {
                    "classes": CLASSES,
                    "float": _confusion({(3, 5): 2, (8, 1): 4}),
                    "quantized": QUANTIZED_CONFUSION,
                },
            },
        },
    )


def _detector() -> dict:
    map50_95 = _metric(0.412, 0.398, [0.2, 2.7], 200)
    map50 = _metric(0.655, 0.641, [-0.4, 3.1], 200)
    return _variant(
        "boxes/int8@u55",
        1.8,
        {
            "outputs": {"boxes": _output(24.0), "scores": _output(28.0)},
            "worst_output": "boxes",
            "samples": 48,
            "dataset": "street",
            "part": "validation",
            "in_sample": False,
            "tasks": [{"type": "detection", "metrics": {"detection_recall": 0.93, "detection_precision": 0.95}}],
            "metrics": {
                "detection_recall": 0.93,
                "detection_precision": 0.95,
                "map50_95": 0.398,
                "map50_95_drop": map50_95["drop"],
                "map50": 0.641,
                "map50_drop": map50["drop"],
            },
            "labels": {
                "dataset": "street",
                "samples": 48,
                "metrics": {"map50_95": map50_95, "map50": map50},
                "pr_curve": {"iou": 0.5, "recall": RECALL, "float": FLOAT_PRECISION, "quantized": QUANTIZED_PRECISION},
            },
        },
    )


def _prequantized() -> dict:
    """A model that arrives quantized, without a float model: no outputs compared, no task metric against one."""
    top1 = _metric(None, 288 / 315, None)
    return _variant(
        "vendor/prequantized@u55",
        0.35,
        {
            "outputs": {},
            "worst_output": None,
            "samples": 315,
            "dataset": "digits",
            "part": None,
            "in_sample": False,
            "tasks": [],
            "metrics": {"top1_accuracy": top1["quantized"], "top1_accuracy_drop": None},
            "labels": {
                "dataset": "digits",
                "samples": 315,
                "metrics": {"top1_accuracy": top1},
                "confusion": {"classes": CLASSES, "float": None, "quantized": _confusion({(2, 7): 27})},
            },
        },
    )


def _unlabelled() -> dict:
    acc = {
        "outputs": {"y": _output(35.0)},
        "worst_output": "y",
        "samples": 16,
        "dataset": "noise",
        "part": None,
        "in_sample": False,
        "tasks": [],
        "metrics": {},
    }
    return _variant("plain/int8@u55", 0.5, acc)


def _render(root: Path, variants: list[dict], gates: tuple[dict, ...] = ()) -> Path:
    """report.run on ``variants`` as results.json: build/report/ under ``root``."""
    build = root / "build"
    build.mkdir(parents=True, exist_ok=True)
    results = build / "results.json"
    results.write_text(json.dumps({"project": "labelled", "variants": variants}))
    out = build / "report"
    options = report.Options(
        results=results,
        out_dir=out,
        index=out / "index.html",
        markdown=out / "report.md",
        pages=tuple(out / report_html.page_name(v["id"]) for v in variants),
        assets=(out / "report.css", out / "report.js"),
        gates=gates,
    )
    report.run(options)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    return _render(tmp_path_factory.mktemp("labels"), [_classifier(), _detector(), _prequantized(), _unlabelled()])


def _page(out: Path, vid: str) -> str:
    return (out / report_html.page_name(vid)).read_text()


def _svg(page: str, cls: str) -> str:
    found = re.findall(rf"<svg class='{cls}'.*?</svg>", page)
    assert len(found) == 1, f"{len(found)} <svg class='{cls}'>"
    return found[0]


def test_the_overview_shows_the_label_metric_and_its_change_in_points(rendered: Path):
    index = (rendered / "index.html").read_text()
    assert ">top-1 acc. 97.8% (−0.3\u00a0pts)</td>" in index  # the change wraps as one
    assert ">mAP 39.8% (−1.4\u00a0pts)</td>" in index
    assert "top-1 acc. 91.4%</td>" in index  # pre-quantized: no float model, no change
    assert "<td class='' data-v=''>–</td>" in index  # its SNR: no outputs compared
    md = (rendered / "report.md").read_text()
    assert "| top-1 acc. 97.8% (−0.3 pts) |" in md and "| mAP 39.8% (−1.4 pts) |" in md
    assert "| top-1 acc. 91.4% |" in md


def test_the_overview_says_a_pre_quantized_scheme_is_not_re_quantized(rendered: Path):
    index = (rendered / "index.html").read_text()
    note = f"prequantized<br><small class='muted' title='{report_html.PREQUANTIZED_NOTE}'>not re-quantized</small></td>"
    assert index.count(note) == 1


def test_the_scatter_draws_labelled_variants_against_their_labels_and_the_rest_against_the_float_model(
    rendered: Path,
):
    index = (rendered / "index.html").read_text()
    labelled, unlabelled = re.findall(r"<svg class='plot'.*?</svg>", index)
    assert "accuracy against the labels (%)" in labelled and "SNR of the worst output (dB)" in unlabelled
    assert labelled.count("<a href=") == 3 and unlabelled.count("<a href=") == 1
    assert "digits/int8@u55: 0.21 ms, top-1 acc. 97.8% (−0.3 pts)</title>" in labelled
    assert "vendor/prequantized@u55: 0.35 ms, top-1 acc. 91.4%</title>" in labelled
    assert "plain/int8@u55: 0.50 ms, 35.0 dB</title>" in unlabelled
    assert "Against the labels, for the variants whose validation set has them:" in index


def test_a_classifier_page_has_its_label_metrics_with_the_interval_of_the_drop(rendered: Path):
    page = _page(rendered, "digits/int8@u55")
    assert "<h2>Against labels</h2>" in page and "Against the labels of 315 samples of 'digits'" in page
    assert "over 1000 resamples" in page
    row = re.search(r"<tr><td class='l'>top1_accuracy.*?</tr>", page).group(0)
    assert "<td>98.1%</td><td>97.8%</td><td>+0.32 pts [−0.30, +1.00]</td>" in row  # the interval holds 0: no mark
    row = re.search(r"<tr><td class='l'>top5_accuracy.*?</tr>", page).group(0)
    assert "<td>100.0%</td><td>100.0%</td><td>+0.00 pts [+0.00, +0.00]</td>" in row
    assert "<h2>Accuracy per output</h2>" in page and "top1_agreement" in page  # against the float model too


def test_a_classifier_page_draws_its_confusion_matrix(rendered: Path):
    svg = _svg(_page(rendered, "digits/int8@u55"), "confusion")
    assert svg.count("<g class='cell'>") == 100  # 10 labels × 10 answers
    counts = re.findall(r"'>(\d+)</text><title>", svg)
    assert sorted(map(int, counts)) == sorted(c for row in QUANTIZED_CONFUSION for c in row if c)
    names = re.findall(r"<text class='axis'[^>]*>([^<]*)</text>", svg)
    assert names == CLASSES + CLASSES  # the columns', then the rows'
    assert "<title>label 8, top-1 1: 3 of 32 (9%)</title>" in svg
    assert (
        "style='fill:#2d5fa8;fill-opacity:0.917'" in svg
    )  # label 8: 29 of 32 right, shaded by that share (0.12 + 0.88 share)
    assert "Precision against recall" not in _page(rendered, "digits/int8@u55")


def test_a_detector_page_draws_both_precision_recall_curves(rendered: Path):
    page = _page(rendered, "boxes/int8@u55")
    row = re.search(r"<tr><td class='l'>map50_95.*?</tr>", page).group(0)
    assert "<td>41.2%</td><td>39.8%</td><td class='reg'>+1.40 pts [+0.20, +2.70]</td>" in row  # a loss beyond noise
    assert "over 200 resamples" in page and "Against the labels of 48 samples of 'street'" in page
    svg = re.search(r"<h3>Precision against recall</h3>.*?(<svg class='plot'.*?</svg>)", page).group(1)
    lines = dict(re.findall(r"<polyline class='pr (float|quantized)' points='([^']*)'", svg))
    assert len(lines["float"].split()) == 91 and len(lines["quantized"].split()) == 86  # recall 0–0.90 and 0–0.85
    assert "float model: AP 65.5%" in svg and "this variant: AP 64.1%" in svg
    assert "<svg class='confusion'" not in page


def test_a_pre_quantized_page_without_a_float_model_shows_its_labels_alone(rendered: Path):
    page = _page(rendered, "vendor/prequantized@u55")
    assert f"<b>{report_html.PREQUANTIZED_NOTE}</b>" in page
    assert "no float model to compare it with, so its accuracy is against the labels alone" in page
    assert "<h2>Accuracy per output</h2>" not in page  # no outputs compared
    row = re.search(r"<tr><td class='l'>top1_accuracy.*?</tr>", page).group(0)
    assert "<td>–</td><td>91.4%</td><td>–</td>" in row
    assert "No float model to compare with" in page
    assert _svg(page, "confusion").count("<g class='cell'>") == 100


def test_a_page_without_labels_has_no_label_section(rendered: Path):
    page = _page(rendered, "plain/int8@u55")
    assert "Against labels" not in page and "<svg class='confusion'" not in page
    assert report_html.PREQUANTIZED_NOTE not in page


def test_a_gate_on_the_drop_marks_the_cell_that_shows_it(tmp_path: Path):
    gate = {"models": "digits", "metric": "top1_accuracy_drop", "max": 0.1}
    out = _render(tmp_path, [_classifier(), _prequantized()], gates=(gate,))
    index = (out / "index.html").read_text()
    assert "title='top1_accuracy_drop needs &lt;= 0.1 (gates[0])'>top-1 acc. 97.8% (−0.3\u00a0pts)</td>" in index
    assert "| top-1 acc. 97.8% (−0.3 pts) **✗** |" in (out / "report.md").read_text()


def test_the_task_cell_words_a_label_metric_and_its_drop_in_either_order():
    value, drop = ("top1_accuracy", 0.978), ("top1_accuracy_drop", 0.32)
    assert verdicts.task_text(value, drop) == verdicts.task_text(drop, value) == "top-1 acc. 97.8% (−0.3 pts)"
    assert verdicts.task_text(("map50_95", 0.5), ("map50_95_drop", -0.02)) == "mAP 50.0% (+0.0 pts)"  # no −0.0
    assert verdicts.task_text(("top1_accuracy_drop", 0.32)) == "top-1 acc. drop +0.32 pts"
    assert verdicts.task_beside({"top1_accuracy_drop": 0.32}, value) == drop
    assert verdicts.task_beside({"top1_accuracy": 0.978}, drop) == value
    assert verdicts.task_beside({"top1_accuracy_drop": None}, value) is None  # pre-quantized: no float model
    assert verdicts.points(-0.3, 1) == "−0.3" and verdicts.points(1.0) == "+1.00"
