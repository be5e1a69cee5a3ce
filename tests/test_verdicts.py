"""The gates' verdicts in the report: which number a row shows, how a cell and a scheme are marked, axis ticks."""

from __future__ import annotations

from tasks.config import quality_gates
from tasks.report import html as report_html
from tasks.report import verdicts
from tasks.steps import report


def variant(vid: str, snr: float, est: float, metrics: dict | None = None, **extra) -> dict:
    model, rest = vid.split("/")
    quant, target = rest.split("@")
    return {
        "id": vid,
        "model": model,
        "prune": None,
        "quantization": quant,
        "target": target,
        "size_bytes": 1000,
        "ops": {"npu": 9, "cpu": 1},
        "estimate": {"inference_ms": est},
        "benchmark": None,
        "accuracy": {
            "outputs": {"y": {"snr_db": snr, "cosine": 0.99}},
            "metrics": metrics or {},
            "tasks": [{"type": "detection", "metrics": metrics}] if metrics else [],
        },
        **extra,
    }


DETECTOR = {"detection_recall": 1.0, "detection_precision": 15 / 33, "detection_iou_mean": 0.8}


def test_a_detector_shows_its_worse_share_and_a_gated_metric_comes_first():
    v = variant("det/int8@u55", 20.0, 1.0, DETECTOR)
    (row,) = report.rows([v])
    assert row["task"] == ("detection_precision", 15 / 33)  # 45.5 % beside a recall of 100 %
    assert report._fmt("task", row["task"]) == "precision 45.5%" and row["task_beside"] is None
    checks, _ = quality_gates.check([{"metric": "detection_recall", "min": 0.9}], [v])
    (row,) = report.rows([v], verdicts.by_variant(checks))  # the gated recall, and the worse precision beside it
    assert row["task"] == ("detection_recall", 1.0) and row["task_beside"] == ("detection_precision", 15 / 33)
    assert report_html._cell("task", row, report._fmt)[0] == "recall 100.0% · precision 45.5%"
    checks, _ = quality_gates.check([{"metric": "detection_iou_mean", "min": 0.9}], [v])
    (row,) = report.rows([v], verdicts.by_variant(checks))
    assert row["task"] == ("detection_iou_mean", 0.8)
    assert row["gates"] == ("✗ 1 of 1", "reg")
    assert row["gate_cells"] == {"task": "detection_iou_mean needs >= 0.9 (gates[0])"}


def test_rows_and_cells_are_marked_against_the_gates_that_apply_to_them():
    variants = [variant("m/int8@u55", 3.4, 1.0), variant("m/a16w8@u55", 30.0, 2.0)]
    rules = [{"metric": "snr_db", "min": 20}, {"metric": "est_inference_ms", "max": 5}]
    checks, _ = quality_gates.check(rules, variants)
    bad, good = report.rows(variants, verdicts.by_variant(checks))
    assert bad["gates"] == ("✗ 1 of 2", "reg") and bad["gate_cells"] == {"snr_db": "snr_db needs >= 20 (gates[0])"}
    assert good["gates"] == ("✓ 2", "imp") and good["gate_cells"] == {}
    html = report_html._row(bad, {}, report._fmt)
    assert "class='fail'" in html and "<td class='reg' data-v='3.4' title='snr_db needs &gt;= 20 (gates[0])'>" in html
    assert "<td class='fail'" not in report_html._row(good, {}, report._fmt)
    assert verdicts.counted(checks) == "Gates: 3 check(s) pass, 1 fail"
    assert [verdicts.failing_line(c) for c in checks if not c["passed"]] == [
        "m/int8@u55: snr_db (y) 3.4, needs >= 20 (gates[0])"
    ]


def test_the_compatibility_view_marks_each_scheme_not_the_cell():
    built = variant("m/int8_io@u55", 30.0, 1.0)
    failed = {
        "id": "m/a16w8@u55",
        "model": "m",
        "prune": None,
        "quantization": "a16w8",
        "target": "u55",
        "error": {"step": "compile:m/a16w8@u55", "message": "Vela refused"},
    }
    page = "".join(report._compatibility_html([built, failed], []))
    assert "<span class='built'>int8_io: 90% NPU, 1.00 ms est.</span>" in page
    assert "<span class='failed'>a16w8: failed at compile:m/a16w8@u55: Vela refused</span>" in page
    checks, _ = quality_gates.check([{"metric": "snr_db", "min": 40}], [built])
    page = "".join(report._compatibility_html([built, failed], checks))
    assert "<span class='gatefail'>int8_io: 90% NPU, 1.00 ms est., fails gate snr_db 30, needs &gt;= 40</span>" in page


def test_axis_ticks_are_readable_at_every_scale():
    assert [report_html.nice_step(span) for span in (0.0525, 0.1, 1.3, 27.0, 4200.0)] == [0.02, 0.02, 0.5, 10, 1000]
    ticks, step = report_html._ticks(0.0, 0.0525)
    assert [report_html.tick_text(t, step) for t in ticks] == ["0.00", "0.02", "0.04"]
    assert [report_html.tick_text(0.02 * k, 0.02) for k in range(4)] == ["0.00", "0.02", "0.04", "0.06"]
    assert [report_html.tick_text(20.0 * k, 20.0) for k in range(3)] == ["0", "20", "40"]
    assert report_html.tick_text(0.25, 0.25) == "0.25" and report_html.tick_text(1.5, 0.5) == "1.5"


def test_the_scatter_gives_each_model_a_colour_a_legend_and_labels_its_points():
    variants = [variant("a/int8@u55", 20.0, 0.01), variant("b/int8@u55", 25.0, 0.05), variant("b/int8@cpu", 26.0, 0.04)]
    svg = report_html.scatter(report.rows(variants))
    assert svg.count("style='fill:#2d5fa8'") == 2 and svg.count("style='fill:#e07b00'") == 3  # a: point + legend
    assert "<text x='64' y='14'>a</text>" in svg and "<text x='100' y='14'>b</text>" in svg  # the legend, along the top
    assert ">int8@cpu</text>" in svg
    assert ">0.0</text>" not in svg and ">0.02</text>" in svg and ">0.04</text>" in svg  # ticks 0.02 ms apart
