"""evaluate and gates: metrics right on a model whose error is known; gates pass and fail as declared."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from models_for_tests import calibrated_by_step, identity_conv, imported, random_dataset
from support import doit, ok, ran
from tasks.config import quality_gates as gates
from tasks.model import accuracy
from tasks.steps import evaluate, quantize

UNIFORM = random_dataset(16, "u")

WHERE = quantize.Where(scheme="q", model="models.net", unit="models.net")


def test_compare_on_known_signals():
    ref = np.array([1.0, -1.0, 2.0, 0.0])
    m = accuracy.compare(ref, ref + np.array([0.1, 0.0, 0.0, -0.1]))
    assert m["max_abs"] == pytest.approx(0.1)
    assert m["rmse"] == pytest.approx(math.sqrt(0.02 / 4))
    assert m["snr_db"] == pytest.approx(10 * math.log10(6.0 / 0.02))
    assert accuracy.compare(ref, ref)["snr_db"] == accuracy.SNR_CAP_DB
    assert accuracy.compare(ref, -ref)["cosine"] == pytest.approx(-1.0)


@pytest.mark.parametrize("io", ["float32", "int8"])
def test_identity_model_snr_matches_rounding_theory(tmp_path: Path, io: str):
    float_model = imported(tmp_path, identity_conv())
    quantized = tmp_path / "q.tflite"
    scheme = quantize.Scheme(type="int8", io=io, per_channel=True)
    quantize.run(
        quantize.Options(
            scheme=scheme,
            label="id/int8",
            where=WHERE,
            model=float_model,
            out=quantized,
            facts=tmp_path / "q.json",
            **calibrated_by_step(float_model, UNIFORM, tmp_path / "calibrated"),
        )
    )
    out = tmp_path / "accuracy.json"
    evaluate.run(
        evaluate.Options(
            float_model=float_model,
            quantized=quantized,
            dataset=UNIFORM,
            tasks=(),
            in_sample=False,
            label="id/int8",
            out=out,
        )
    )
    acc = json.loads(out.read_text())
    (metrics,) = acc["outputs"].values()
    # uniform [0, 1) data on 256 levels: rounding noise scale^2 / 12 against a signal power of 1/3
    scale = 1.0 / 255
    theory = 10 * math.log10((1 / 3) / (scale**2 / 12))
    assert abs(metrics["snr_db"] - theory) < 1.0, (metrics["snr_db"], theory)
    assert metrics["max_abs"] <= scale  # at most one step (input and output rounding)
    assert metrics["cosine"] > 0.9999
    assert acc["samples"] == 16 and metrics["worst"]["snr_db"] <= metrics["snr_db"] + 1e-9


def test_gate_checks_and_table():
    variants = [
        {
            "id": "m/int8@u65",
            "model": "m",
            "prune": None,
            "quantization": "int8",
            "target": "u65",
            "size_bytes": 100,
            "ops": {"npu": 9, "cpu": 1},
            "estimate": {"inference_ms": 3.0, "sram_kib": 10.0},
            "benchmark": None,
            "accuracy": {"outputs": {"a": {"snr_db": 30.0, "cosine": 0.99}, "b": {"snr_db": 12.0, "cosine": 0.9}}},
        },
        {
            "id": "m/int8@cpu",
            "model": "m",
            "prune": None,
            "quantization": "int8",
            "target": "cpu",
            "size_bytes": 90,
            "ops": None,
            "estimate": None,
            "benchmark": None,
            "accuracy": None,
        },
    ]
    rules = [
        {"metric": "snr_db", "min": 20},  # the worst output (b) decides
        {"metric": "npu_op_ratio", "min": 0.8, "targets": "u*"},
        {"metric": "est_inference_ms", "max": 1.0, "targets": "u65"},
        {"metric": "size_bytes", "max": 95},
        {"metric": "latency_ms", "max": 5},
    ]
    checks, warnings = gates.check(rules, variants)
    result = {(c["gate"], c["variant"]): c["passed"] for c in checks}
    assert result == {
        (0, "m/int8@u65"): False,
        (1, "m/int8@u65"): True,
        (2, "m/int8@u65"): False,
        (3, "m/int8@u65"): False,
        (3, "m/int8@cpu"): True,
        (4, None): False,
    }
    assert (
        "gates[0]: m/int8@cpu has no snr_db: no accuracy (the model has no validation dataset); not checked" in warnings
    )
    assert gates.table(checks).splitlines() == [
        "gate      variant         metric            value  bound",
        "gates[0]  m/int8@u65      snr_db (b)        12     >= 20",
        "gates[2]  m/int8@u65      est_inference_ms  3      <= 1.0",
        "gates[3]  m/int8@u65      size_bytes        100    <= 95",
        "gates[4]  (none matched)  latency_ms        -      checks no variant",
    ]


def test_failing_gate_fails_doit_and_keeps_every_artifact(tiny: Path):
    text = (tiny / "project.yaml").read_text()
    (tiny / "project.yaml").write_text(
        text
        + "gates:\n"
        + "  - {targets: u65, metric: est_inference_ms, max: 0.000001}\n"
        + "  - {metric: snr_db, min: 5}\n"
    )
    proc = doit(tiny)
    assert proc.returncode != 0
    assert ran(proc) == {"gates", "report"}  # the report shows the verdicts
    out = proc.stdout + proc.stderr
    assert "2 gate check(s) failed, 6 passed:" in out
    assert "gates[0]  tiny/int8@u65" in out and "gates[0]  tiny/a16w8@u65" in out and "<= 1e-06" in out
    assert "report: Gates: 6 check(s) pass, 2 fail" in out
    assert all((tiny / "build" / "tiny" / q / "u55" / f"tiny_{q}_vela.tflite").exists() for q in ("int8", "a16w8"))
    page = (tiny / "build" / "report" / "index.html").read_text()
    assert "<div class='verdict fail' id='gates'><strong>Gates: 6 check(s) pass, 2 fail</strong>" in page
    assert "tiny/int8@u65</a></td><td class='l'>est_inference_ms</td>" in page and "&lt;= 1e-06" in page
    assert page.count("class='fail'") == 2  # the two rows of u65
    markdown = (tiny / "build" / "report" / "report.md").read_text()
    assert "**Gates: 6 check(s) pass, 2 fail**" in markdown and "| tiny/a16w8@u65 | est_inference_ms |" in markdown
    again = doit(tiny)  # a failed gate is no failed build: results and report stay up to date
    assert again.returncode != 0 and ran(again) == {"gates"} and "writing results.json" not in again.stderr
    # fixed: only the gate and the report run again, and pass
    (tiny / "project.yaml").write_text(text + "gates:\n  - {targets: u65, metric: est_inference_ms, max: 1000}\n")
    proc = ok(doit(tiny))
    assert ran(proc) == {"gates", "report"} and "2 gate check(s) passed" in proc.stdout
    page = (tiny / "build" / "report" / "index.html").read_text()
    assert "<div class='verdict pass' id='gates'><strong>Gates: 2 check(s) pass, 0 fail</strong>" in page
    assert ran(ok(doit(tiny, "gates"))) == set()


def test_delegated_ratio_gate_catches_runtime_cpu_fallback():
    variant = {
        "id": "m/int8@imx8mp",
        "model": "m",
        "prune": None,
        "quantization": "int8",
        "target": "imx8mp",
        "size_bytes": 1,
        "benchmark": {
            "board": "evk",
            "latency_ms": {"avg": 3.0},
            "delegated": {"nodes": 12, "total": 14, "complete": False},
        },
    }
    checks, _ = gates.check([{"metric": "delegated_ratio", "min": 1.0}], [variant])
    assert [(c["passed"], round(c["value"], 4), c["output"]) for c in checks] == [(False, 0.8571, "evk")]
