"""analyse and report on the example classifier pair (90 vs 96 channels), rendered in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from support import REPO, doit, ok, ran, write
from tasks.model import analysis
from tasks.steps import report

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pair")
    shutil.copyfile(REPO / "models" / "classifier.py", root / "classifier.py")
    write(
        root / "project.yaml",
        """
        version: 1
        name: pair
        datasets:
          noise: {random: {seed: 0, count: 4}}
        models:
          c90: {source: {builder: "classifier.py:build", args: {channels: 90}}, calibration: noise, validation: noise}
          c96: {source: {builder: "classifier.py:build", args: {channels: 96}}, calibration: noise, validation: noise}
        quantization:
          int8: {type: int8}
        targets:
          imx93:
            compiler: vela
            accelerator: ethos-u65-256
            system_config: Ethos_U65_High_End
            memory_mode: Dedicated_Sram
        """,
    )
    proc = ok(doit(root))
    assert {"analyse:c90/int8@imx93", "analyse:c96/int8@imx93", "report"} <= ran(proc)
    return root


def findings(root: Path, vid: str) -> list[dict]:
    results = json.loads((root / "build" / "results.json").read_text())
    return next(v for v in results["variants"] if v["id"] == vid)["findings"]


def test_first_conv_is_hot_but_expected(pair: Path):
    for vid in ("c90/int8@imx93", "c96/int8@imx93"):
        first = [f for f in findings(pair, vid) if f["kind"] == "first_layer"]
        assert len(first) == 1 and "conv1" in first[0]["layer"]
        assert first[0]["cycles_pct"] > 50 and "3 input channels" in first[0]["detail"]
        assert first[0]["action"].startswith("expected")


def test_third_conv_padding_90_to_96_is_free(pair: Path):
    padding = [f for f in findings(pair, "c90/int8@imx93") if f["kind"] == "channel_padding"]
    conv3 = [f for f in padding if "conv3" in f["layer"]]
    assert len(conv3) == 1
    assert "90 → 96 costs no extra cycles" in conv3[0]["detail"] and conv3[0]["free_channels"] == 6
    assert not [f for f in findings(pair, "c96/int8@imx93") if f["kind"] == "channel_padding" and "conv3" in f["layer"]]


def test_cpu_fallbacks_come_first_with_remedies(pair: Path):
    found = findings(pair, "c90/int8@imx93")
    assert [f["kind"] for f in found[:2]] == ["cpu_fallback", "cpu_fallback"]
    assert "io: int8" in found[0]["action"]


def test_report_shows_the_pair_side_by_side_with_equal_cycles(pair: Path):
    md = (pair / "build" / "report" / "report.md").read_text()
    assert "## Layer by layer: c90/int8@imx93 vs c96/int8@imx93" in md
    conv3 = [line for line in md.splitlines() if line.startswith("| 3 | Conv2D |")]
    assert len(conv3) == 1
    cells = [c.strip() for c in conv3[0].strip("|").split("|")]
    assert cells[2] == "90" and cells[4] == "96" and cells[3] == cells[5]  # same cycles for 90 and 96 channels


def test_html_renders_in_chromium(pair: Path, tmp_path: Path):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make test` installs it (Debian package chromium)")
    page = pair / "build" / "report" / "index.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [CHROMIUM, *flags, "--window-size=1400,1800", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), proc.stderr[-2000:]
    assert "CONSOLE" not in proc.stderr  # no script errors, no failed loads logged by the page
    from PIL import Image

    with Image.open(shot) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, table and plots, not a blank page
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.stdout.count("<tr ") > 1 and '<svg class="plot"' in dom.stdout
    assert "Layer by layer: c90/int8@imx93 vs c96/int8@imx93" in dom.stdout
    (REPO / "build" / "screenshots").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, REPO / "build" / "screenshots" / "report.png")


def test_baseline_regressions_are_marked(pair: Path):
    results = json.loads((pair / "build" / "results.json").read_text())
    for v in results["variants"]:
        if v["id"] == "c90/int8@imx93":
            v["estimate"]["inference_ms"] /= 2  # the baseline was faster
    baseline = pair / "baseline.json"
    baseline.write_text(json.dumps(results))
    proc = ok(doit(pair, "report", f"baseline={baseline}"))
    assert ran(proc) == {"report"}
    assert "1 variant(s) regressed against the baseline" in proc.stdout
    page = (pair / "build" / "report" / "index.html").read_text()
    assert "1 variant(s) regressed" in page and "▲" in page


def test_regressions_logic():
    base = [{"id": "a", "est_ms": 2.0, "size": 100, "snr_db": 30.0, "npu_ratio": 1.0}]
    now = [{"id": "a", "est_ms": 2.01, "size": 90, "snr_db": 29.0, "npu_ratio": 0.9}]
    assert report.regressions(now, base) == {
        "a": {"size": "improvement", "snr_db": "regression", "npu_ratio": "regression"}
    }


def test_task_metric_regressions_know_which_way_is_better():
    base = [
        {"id": "lm", "task": ("landmark_px_mean", 2.0)},
        {"id": "c", "task": ("top1_agreement", 0.9)},
        {"id": "d", "task": ("detection_recall", 0.9)},
        {"id": "e", "task": ("mask_iou", 0.8)},
    ]
    now = [
        {"id": "lm", "task": ("landmark_px_mean", 2.5)},  # more pixels off: worse
        {"id": "c", "task": ("top1_agreement", 0.95)},  # more agreement: better
        {"id": "d", "task": ("detection_recall", 0.905)},  # within 1 % of 0.9: no mark
        {"id": "e", "task": ("landmark_px_mean", 9.0)},  # another metric: not compared
    ]
    assert report.regressions(now, base) == {"lm": {"task": "regression"}, "c": {"task": "improvement"}}


@pytest.mark.parametrize(
    ("op", "reason", "expected"),
    [
        ("QUANTIZE", "Operation has tensor with unsupported DataType Float32 (input_1)", "io: int8"),
        ("DEPTH_TO_SPACE", "Unsupported opType", "TRANSPOSE_CONV"),
        ("RESHAPE", "Op has dynamic tensor(s)", "fixed batch"),
        ("GATHER", "Unsupported opType", "supported-ops-report"),
    ],
)
def test_remedies(op, reason, expected):
    assert expected in analysis.remedy(op, reason)
