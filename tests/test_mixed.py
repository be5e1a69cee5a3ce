"""Mixed precision overrides and the per-layer quantization error table, on a tiny real model."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from models_for_tests import identity_conv, imported, keras_net, random_dataset
from tasks import quant_errors, tflite
from tasks.errors import StepError
from tasks.steps import compile as compile_step
from tasks.steps import quantize

NOISE = random_dataset()
U65 = {
    "accelerator": "ethos-u65-256",
    "system_config": "Ethos_U65_High_End",
    "memory_mode": "Dedicated_Sram",
    "optimise": "Performance",
    "arena_cache_size": None,
    "config": None,  # Vela's own Arm/vela.ini
}


@pytest.fixture(scope="module")
def float_model(tmp_path_factory) -> Path:
    return imported(tmp_path_factory.mktemp("mixed"), keras_net(batch=1))


def layers(float_model: Path) -> list[tuple[str, str]]:
    """(op, output tensor name) of every layer: CONV_2D, CONV_2D, RESHAPE, FULLY_CONNECTED."""
    model = tflite.read(float_model)
    sg = model.subgraphs[0]
    return [(tflite.op_name(model, op), tflite.tensor_name(sg.tensors[op.outputs[0]])) for op in sg.operators]


def only(name: str) -> str:
    """A regex for exactly one layer (ai-edge-quantizer scopes end in ';')."""
    return "^" + re.escape(name) + ";$"


def quantize_with(float_model: Path, folder: Path, overrides: list[dict], **scheme) -> tuple[bytes, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    full = quantize.Scheme(
        **{"type": "int8", "io": "float32", "per_channel": True, **scheme}, overrides=tuple(overrides)
    )
    out, facts = folder / "q.tflite", folder / "q.json"
    quantize.run(
        quantize.Options(full, "net/mixed", float_model, out, facts, NOISE, NOISE, folder / "quant_errors.csv")
    )
    return out.read_bytes(), json.loads(facts.read_text())


def test_from_override_makes_the_tail_int16_and_vela_keeps_it_on_the_npu(float_model: Path, tmp_path: Path):
    names = [name for _, name in layers(float_model)]
    content, facts = quantize_with(float_model, tmp_path / "q", [{"from": names[0], "type": "int16x8"}])
    # everything downstream of the first conv's output: the second conv, reshape and dense
    model = tflite.read_bytes(content, "q")
    sg = model.subgraphs[0]
    types = {tflite.tensor_name(sg.tensors[op.outputs[0]]): sg.tensors[op.outputs[0]].type for op in sg.operators}
    assert types[names[0]] == tflite.schema.TensorType.INT8
    assert [types[n] for n in names[1:3]] == [tflite.schema.TensorType.INT16] * 2
    assert types[names[3] + "_int"] == tflite.schema.TensorType.INT16  # the output, before float I/O's DEQUANTIZE
    assert facts["precision"] == {"int16": 3, "int8": 1}
    assert facts["inputs"][0]["dtype"] == "float32" and facts["outputs"][0]["dtype"] == "float32"
    # Vela: every op on the NPU but the float I/O conversions
    (tmp_path / "q" / "q.tflite").write_bytes(content)
    v = tmp_path / "v"
    compile_step.run(
        compile_step.Options(
            **U65,
            label="x",
            model=tmp_path / "q" / "q.tflite",
            out=v / "q_vela.tflite",
            facts=v / "c.json",
            summary=v / "summary.csv",
            per_layer=v / "per-layer.csv",
            log=v / "vela.log",
        )
    )
    compiled = json.loads((tmp_path / "v" / "c.json").read_text())
    assert sorted(f["op"] for f in compiled["cpu_fallback"]) == ["DEQUANTIZE", "QUANTIZE"]
    assert compiled["ops"]["npu"] > 0


def test_match_override_to_float_keeps_that_layer_float(float_model: Path, tmp_path: Path):
    dense = next(name for op, name in layers(float_model) if op == "FULLY_CONNECTED")
    content, facts = quantize_with(float_model, tmp_path, [{"match": only(dense), "type": "float"}])
    model = tflite.read_bytes(content, "q")
    sg = model.subgraphs[0]
    fc = next(op for op in sg.operators if tflite.op_name(model, op) == "FULLY_CONNECTED")
    assert tflite.tensor_name(sg.tensors[fc.outputs[0]]) == dense
    assert sg.tensors[fc.outputs[0]].type == tflite.schema.TensorType.FLOAT32
    assert "float32" in facts["precision"]


def test_override_matching_nothing_is_an_error(float_model: Path, tmp_path: Path):
    with pytest.raises(StepError, match=r"net/mixed: overrides\[0\].match: 'no_such_layer' matches no layer output"):
        quantize_with(float_model, tmp_path, [{"match": "no_such_layer", "type": "int16x8"}])
    with pytest.raises(StepError, match=r"net/mixed: overrides\[0\].from: no tensor named 'conv9' in the model"):
        quantize_with(float_model, tmp_path, [{"from": "conv9", "type": "int16x8"}])


def test_error_table_worst_layer_improves_in_int16(float_model: Path, tmp_path: Path):
    # an ai-edge-quantizer int8 baseline (an override that changes nothing), then the worst layer in int16
    first = layers(float_model)[0][1]
    _, facts = quantize_with(float_model, tmp_path / "a", [{"match": only(first), "type": "int8"}])
    table = (tmp_path / "a" / "quant_errors.csv").read_text().splitlines()
    assert table[0] == ",".join(quant_errors.COLUMNS)
    rows = facts["quant_errors"]
    assert rows == sorted(rows, key=lambda r: -r["rel_rmse"])  # worst first
    worst = next(r for r in rows if r["op"] not in ("DEQUANTIZE", "QUANTIZE", "RESHAPE"))
    assert worst["rmse"] > 0 and worst["scale"] > 0 and worst["dtype"] == "int8"
    _, facts16 = quantize_with(float_model, tmp_path / "b", [{"match": only(worst["tensor"]), "type": "int16x8"}])
    again = next(r for r in facts16["quant_errors"] if r["tensor"] == worst["tensor"])
    assert again["dtype"] == "int16"
    assert again["rmse"] < worst["rmse"]
    assert again["snr_db"] > worst["snr_db"]


def test_snr_matches_theory_for_a_quantized_identity_like_layer(tmp_path: Path):
    """A layer whose only error is rounding: SNR within 1 dB of the uniform-noise prediction."""
    import numpy as np

    rng = np.random.default_rng(0)
    samples = [rng.uniform(0, 1, size=(1, 4, 4, 8)).astype(np.float32) for _ in range(8)]

    float_out = imported(tmp_path, identity_conv())
    out = tmp_path / "q.tflite"
    scheme = quantize.Scheme("int8", "float32", per_channel=True)
    quantize.run(quantize.Options(scheme, "id/int8", float_out, out, tmp_path / "q.json", NOISE))
    rows = {r["tensor"]: r for r in quant_errors.layer_errors(float_out.read_bytes(), out.read_bytes(), samples)}
    (layer,) = rows.values()  # the conv's output, read through the float output's DEQUANTIZE
    assert layer["op"] == "DEQUANTIZE" and layer["scale"] > 0
    signal = float(np.mean(np.concatenate([s.ravel() for s in samples]) ** 2))
    theory = 10 * math.log10(signal / (layer["scale"] ** 2 / 12))  # rounding noise of a uniform quantizer
    assert abs(layer["snr_db"] - theory) < 1.0, (layer["snr_db"], theory)
