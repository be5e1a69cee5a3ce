"""Where the output error comes from: each layer's added noise and its share, hand-computed; the graph overlay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models_for_tests import calibrated_by_step, imported, keras_net, random_dataset
from tasks.model import quant_errors
from tasks.report import graph as report_graph
from tasks.steps import graph, quantize


def row(name: str, nsr: float, reads: list[str]) -> dict:
    import math

    return {
        "tensor": name,
        "op": "CONV_2D",
        "dtype": "int8",
        "snr_db": -10 * math.log10(nsr) if nsr else math.inf,
        "_nsr": nsr,
        "_reads": reads,
    }


def test_shares_follow_the_path_to_the_worst_output():
    # a → b → out1 (worst: noise 0.045 of its signal), and a → side → out2 (noise 0.02)
    rows = [
        row("a", 0.01, ["input"]),
        row("b", 0.03, ["a"]),
        row("out1", 0.045, ["b", "a"]),
        row("side", 0.02, ["a"]),
        row("out2", 0.02, ["side"]),
    ]
    assert quant_errors.shares(rows, ["out1", "out2"]) == "out1"
    share = {r["tensor"]: r["share"] for r in rows}
    # added: a 0.01 (its input is not in the table), b 0.03 - 0.01 = 0.02, out1 0.045 - max(0.03, 0.01) = 0.015;
    # total 0.045 → shares 2/9, 4/9, 3/9; side and out2 are not upstream of out1
    assert share == {
        "a": pytest.approx(2 / 9),
        "b": pytest.approx(4 / 9),
        "out1": pytest.approx(3 / 9),
        "side": None,
        "out2": None,
    }
    budget = quant_errors.error_budget(rows, count=2)
    # SNR of out1: -10 log10(0.045) = 13.468 dB
    assert budget["output"] == "out1" and budget["snr_db"] == pytest.approx(13.468, abs=1e-3)
    assert [(x["tensor"], x["share"]) for x in budget["layers"]] == [("b", 0.4444), ("out1", 0.3333)]


def test_a_layer_that_removes_noise_adds_nothing():
    # a RELU-like layer whose output is cleaner than its input: added is clipped at 0, not negative
    rows = [row("a", 0.05, []), row("b", 0.01, ["a"])]
    quant_errors.shares(rows, ["b"])
    assert [r["share"] for r in rows] == [1.0, 0.0]


def test_real_model_budget_and_the_graph_overlay(tmp_path: Path):
    float_model = imported(tmp_path, keras_net(batch=1))
    out, data = tmp_path / "q.tflite", random_dataset(8)
    errors = tmp_path / "quant_errors.csv"
    scheme = quantize.Scheme(type="int8")
    quantize.run(
        quantize.Options(
            scheme=scheme,
            label="net/int8",
            where=quantize.Where(scheme="int8", model="models.net", unit="models.net"),
            model=float_model,
            out=out,
            facts=tmp_path / "q.json",
            **calibrated_by_step(float_model, data, tmp_path / "calibrated"),
            errors_dataset=data,
            errors_csv=errors,
        )
    )
    facts = json.loads((tmp_path / "q.json").read_text())
    budget = facts["error_budget"]
    shares = [layer["share"] for layer in budget["layers"]]
    assert budget["output"] and shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1.0 + 1e-6
    graph.run(graph.Options(model=out, out=tmp_path / "graph.json", errors=errors))
    described = json.loads((tmp_path / "graph.json").read_text())
    with_error = [t for t in described["tensors"] if "error" in t]
    assert with_error and all(set(t["error"]) == {"snr_db", "rel_rmse", "share"} for t in with_error)
    variant = {"id": "net/int8@cpu", "target": "cpu", "layers": None}
    nodes = report_graph.place(described, variant, lambda op, reason: "")
    svg, details = report_graph.svg(described, nodes, report_graph.edges(described), "full")
    # every operator whose output has an error is coloured by it and says it
    coloured = [d for d in details.values() if d["error"]]
    assert coloured and all("SNR" in d["error"] or "exact" in d["error"] for d in coloured)
    assert any(f" {cls}'" in svg or f" {cls} " in svg for _, cls in report_graph.ERROR_CLASSES)


@pytest.mark.parametrize(
    ("snr", "cls"), [(None, "e0"), (45.0, "e0"), (30.0, "e1"), (25.0, "e2"), (10.0, "e3"), (9.9, "e4")]
)
def test_error_classes(snr, cls):
    assert report_graph.error_class({"snr_db": snr}) == cls


def test_a_dequantized_output_names_the_op_that_made_it():
    rows = [row("a", 0.01, []), {**row("out", 0.03, ["out_int16"]), "op": "DEQUANTIZE", "via": "CONV_2D"}]
    quant_errors.shares(rows, ["out"], {"out_int16": ["a"]})  # out_int16 has no float twin: it stands for what it reads
    budget = quant_errors.error_budget(rows)
    # out adds 0.03 - 0.01 = 0.02 of the 0.03 in all: 2/3, and it is the convolution behind the DEQUANTIZE
    assert budget["layers"] == [
        {"tensor": "out", "op": "CONV_2D + DEQUANTIZE", "dtype": "int8", "share": 0.6667},
        {"tensor": "a", "op": "CONV_2D", "dtype": "int8", "share": 0.3333},
    ]
