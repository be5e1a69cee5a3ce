"""Mixed precision overrides and the per-layer quantization error table, on a tiny real model."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from models_for_tests import calibrated_by_step, identity_conv, imported, keras_net, random_dataset
from tasks.errors import StepError
from tasks.model import quant_errors
from tasks.model.datasets import Samples
from tasks.steps import quantize
from tasks.tflite import flatbuffer, opcodes
from tasks.toolchains.vela import compile as compile_step
from tasks.toolchains.vela.settings import VelaSettings

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
    model = flatbuffer.read(float_model)
    sg = model.subgraphs[0]
    return [(opcodes.op_name(model, op), flatbuffer.tensor_name(sg.tensors[op.outputs[0]])) for op in sg.operators]


def only(name: str) -> str:
    """A regex for exactly one layer (ai-edge-quantizer scopes end in ';')."""
    return "^" + re.escape(name) + ";$"


def quantize_with(
    float_model: Path, folder: Path, overrides: list[dict], dataset: Samples = NOISE, **scheme
) -> tuple[bytes, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    full = quantize.Scheme(
        **{"type": "int8", "io": "float32", "per_channel": True, **scheme}, overrides=tuple(overrides)
    )
    out, facts = folder / "q.tflite", folder / "q.json"
    quantize.run(
        quantize.Options(
            scheme=full,
            label="net/mixed",
            where=quantize.Where(scheme="mixed", model="models.net", unit="models.net"),
            model=float_model,
            out=out,
            facts=facts,
            **calibrated_by_step(float_model, dataset, folder / "calibrated"),
            errors_dataset=dataset,
            errors_csv=folder / "quant_errors.csv",
        )
    )
    return out.read_bytes(), json.loads(facts.read_text())


def test_from_override_makes_the_tail_int16_and_vela_keeps_it_on_the_npu(float_model: Path, tmp_path: Path):
    names = [name for _, name in layers(float_model)]
    content, facts = quantize_with(float_model, tmp_path / "q", [{"from": names[0], "type": "int16x8"}])
    # everything downstream of the first conv's output: the second conv, reshape and dense
    model = flatbuffer.read_bytes(content, "q")
    sg = model.subgraphs[0]
    types = {flatbuffer.tensor_name(sg.tensors[op.outputs[0]]): sg.tensors[op.outputs[0]].type for op in sg.operators}
    assert types[names[0]] == flatbuffer.schema.TensorType.INT8
    assert [types[n] for n in names[1:3]] == [flatbuffer.schema.TensorType.INT16] * 2
    assert types[names[3] + "_int"] == flatbuffer.schema.TensorType.INT16  # the output, before float I/O's DEQUANTIZE
    assert facts["precision"] == {"int16": 3, "int8": 1}
    assert facts["inputs"][0]["dtype"] == "float32" and facts["outputs"][0]["dtype"] == "float32"
    # Vela: every op on the NPU but the float I/O conversions
    (tmp_path / "q" / "q.tflite").write_bytes(content)
    v = tmp_path / "v"
    compile_step.run(
        compile_step.Options(
            settings=VelaSettings(**U65),
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
    model = flatbuffer.read_bytes(content, "q")
    sg = model.subgraphs[0]
    fc = next(op for op in sg.operators if opcodes.op_name(model, op) == "FULLY_CONNECTED")
    assert flatbuffer.tensor_name(sg.tensors[fc.outputs[0]]) == dense
    assert sg.tensors[fc.outputs[0]].type == flatbuffer.schema.TensorType.FLOAT32
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
    scheme = quantize.Scheme(type="int8", io="float32", per_channel=True)
    quantize.run(
        quantize.Options(
            scheme=scheme,
            label="id/int8",
            where=quantize.Where(scheme="int8", model="models.id", unit="models.id"),
            model=float_out,
            out=out,
            facts=tmp_path / "q.json",
            **calibrated_by_step(float_out, NOISE, tmp_path / "calibrated"),
        )
    )
    rows = {r["tensor"]: r for r in quant_errors.layer_errors(float_out.read_bytes(), out.read_bytes(), samples)}
    (layer,) = rows.values()  # the conv's output, read through the float output's DEQUANTIZE
    assert layer["op"] == "DEQUANTIZE" and layer["scale"] > 0
    signal = float(np.mean(np.concatenate([s.ravel() for s in samples]) ** 2))
    theory = 10 * math.log10(signal / (layer["scale"] ** 2 / 12))  # rounding noise of a uniform quantizer
    assert abs(layer["snr_db"] - theory) < 1.0, (layer["snr_db"], theory)


def growing_dataset(folder: Path) -> Samples:
    """Eight samples whose range grows from [0, 1/8) to [0, 1): a calibration that keeps about the
    first sample's range (ai-edge-quantizer's moving average) clips the later ones."""
    import numpy as np

    rng = np.random.default_rng(0)
    stack = np.stack([rng.uniform(0, (i + 1) / 8, size=(12, 12, 3)) for i in range(8)]).astype(np.float32)
    np.save(folder / "growing.npy", stack)
    return Samples(name="growing", kind="npy", files=(folder / "growing.npy",))


def activations(content: bytes) -> dict[str, tuple[int, float, int]]:
    """(type, scale, zero point) of every integer op output, by name (float I/O's ``_int`` suffix dropped)."""
    model = flatbuffer.read_bytes(content, "q")
    sg = model.subgraphs[0]
    found = {}
    for op in sg.operators:
        t = sg.tensors[op.outputs[0]]
        if t.type in (flatbuffer.schema.TensorType.INT8, flatbuffer.schema.TensorType.INT16):
            q = t.quantization
            found[flatbuffer.tensor_name(t).removesuffix("_int")] = (t.type, float(q.scale[0]), int(q.zeroPoint[0]))
    return found


def signature_outputs(content: bytes, xs: list) -> dict[str, list]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    runner = interpreter.get_signature_runner(flatbuffer.SIGNATURE_KEY)
    (name,) = runner.get_input_details()
    results = [runner(**{name: x}) for x in xs]
    return {key: [r[key] for r in results] for key in results[0]}


def snr_db(reference: list, values: list) -> float:
    """Over all samples: signal power / error power."""
    import numpy as np

    ref, got = np.concatenate([r.ravel() for r in reference]), np.concatenate([v.ravel() for v in values])
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((got - ref).astype(np.float64) ** 2)))


def test_the_mixed_path_calibrates_like_the_int8_scheme(float_model: Path, tmp_path: Path):
    """An override that changes nothing gives TensorFlow Lite's int8 scales, zero points and error."""
    from tasks.model import datasets

    growing = growing_dataset(tmp_path)
    first = layers(float_model)[0][1]
    mixed, _ = quantize_with(float_model, tmp_path / "m", [{"match": only(first), "type": "int8"}], growing)
    plain, _ = quantize_with(float_model, tmp_path / "p", [], growing)
    ours, theirs = activations(mixed), activations(plain)
    shared = sorted(set(ours) & set(theirs))
    assert len(shared) >= 3, (sorted(ours), sorted(theirs))
    for name in shared:
        (kind, scale, zero), (kind2, scale2, zero2) = ours[name], theirs[name]
        assert (kind, zero) == (kind2, zero2) and math.isclose(scale, scale2, rel_tol=1e-6), (
            name,
            ours[name],
            theirs[name],
        )
    xs = list(datasets.samples(growing, [1, 12, 12, 3]))
    expected = signature_outputs(float_model.read_bytes(), xs)
    got, got_int8 = signature_outputs(mixed, xs), signature_outputs(plain, xs)
    for key in expected:  # the same ranges: within 0.1 dB of the int8 scheme (weights round ties differently)
        assert snr_db(expected[key], got[key]) > snr_db(expected[key], got_int8[key]) - 0.1


def two_heads():
    """A trunk and two heads: 'fine' (a conv, then a dense) and 'coarse' (a pooled dense)."""
    import keras

    keras.utils.set_random_seed(2)
    inputs = keras.Input(shape=(12, 12, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="trunk")(inputs)
    fine = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="tail")(x)
    fine = keras.layers.Dense(4, name="fine")(keras.layers.Flatten()(fine))
    coarse = keras.layers.Dense(3, name="coarse")(keras.layers.Flatten()(keras.layers.MaxPooling2D(4)(x)))
    return keras.Model(inputs, [fine, coarse])


def test_an_int16_tail_stays_int16_up_to_its_output_beside_an_int8_one(tmp_path: Path):
    """ai-edge-quantizer gives all outputs of a graph one config; the int16 head must not come out as int8."""
    from tasks.model import datasets

    float_model = imported(tmp_path, two_heads())
    start = next(name for op, name in layers(float_model) if op == "CONV_2D" and "tail" in name)  # 'fine' after it
    content, facts = quantize_with(float_model, tmp_path / "m", [{"from": start, "type": "int16x8"}])
    plain, _ = quantize_with(float_model, tmp_path / "p", [])
    model, original = flatbuffer.read_bytes(content, "q"), flatbuffer.read(float_model)
    sg = model.subgraphs[0]
    names = lambda m: sorted(flatbuffer.tensor_name(m.subgraphs[0].tensors[i]) for i in m.subgraphs[0].outputs)  # noqa: E731
    assert names(model) == names(original)  # float outputs under the float model's names
    assert [o["dtype"] for o in facts["outputs"]] == ["float32", "float32"]
    made_by = {o: op for op in sg.operators for o in op.outputs}
    signature = {m.tensorIndex: m.name.decode() for m in model.signatureDefs[0].outputs}
    fed_by = {}  # signature output name: the type its DEQUANTIZE reads
    for index in sg.outputs:
        op = made_by[index]
        assert opcodes.op_name(model, op) == "DEQUANTIZE"
        fed_by[signature[index]] = sg.tensors[op.inputs[0]].type
    assert sorted(fed_by.values()) == sorted([flatbuffer.schema.TensorType.INT8, flatbuffer.schema.TensorType.INT16])
    assert not any(
        opcodes.op_name(model, op) == "QUANTIZE"
        and sg.tensors[op.outputs[0]].type == flatbuffer.schema.TensorType.INT8
        and sg.tensors[op.inputs[0]].type == flatbuffer.schema.TensorType.INT16
        for op in sg.operators
    )
    xs = list(datasets.samples(NOISE, [1, 12, 12, 3]))
    expected, got, got_int8 = (signature_outputs(c, xs) for c in (float_model.read_bytes(), content, plain))
    for key in expected:  # each head as good as in the int8 model; the int16 one better
        mixed_snr, int8_snr = snr_db(expected[key], got[key]), snr_db(expected[key], got_int8[key])
        assert mixed_snr > int8_snr - 0.1, (key, mixed_snr, int8_snr)
    int16_head = next(n for n, kind in fed_by.items() if kind == flatbuffer.schema.TensorType.INT16)
    # its error is mostly the int8 conv before the boundary's; requantized to int8 it would gain nothing
    assert snr_db(expected[int16_head], got[int16_head]) > snr_db(expected[int16_head], got_int8[int16_head]) + 0.5
