"""quantize: every scheme on a tiny real model, real TensorFlow Lite / ai-edge-quantizer runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models_for_tests import calibrated_by_step, imported, keras_net, random_dataset, run_tflite
from tasks.model import datasets
from tasks.steps import quantize
from tasks.tflite import flatbuffer, opcodes

T = flatbuffer.schema.TensorType

WHERE = quantize.Where(scheme="q", model="models.net", unit="models.net")


@pytest.fixture(scope="module")
def float_model(tmp_path_factory) -> Path:
    return imported(tmp_path_factory.mktemp("float"), keras_net(batch=1))


def run_scheme(float_model: Path, tmp_path: Path, **scheme) -> tuple[bytes, dict]:
    full = quantize.Scheme(**{"type": "int8", "io": "float32", "per_channel": True, **scheme})
    out, facts = tmp_path / "q.tflite", tmp_path / "q.json"
    calibrated = calibrated_by_step(float_model, random_dataset(), tmp_path) if full.type in ("int8", "int16x8") else {}
    options = quantize.Options(scheme=full, label="net/q", where=WHERE, model=float_model, out=out, facts=facts)
    quantize.run(replace(options, **calibrated))
    return out.read_bytes(), json.loads(facts.read_text())


def tensor_types(content: bytes) -> dict[str, int]:
    sg = flatbuffer.read_bytes(content, "q").subgraphs[0]
    return {flatbuffer.tensor_name(t): t.type for t in sg.tensors}


def conv_weights(content: bytes) -> list:
    model = flatbuffer.read_bytes(content, "q")
    sg = model.subgraphs[0]
    return [sg.tensors[op.inputs[1]] for op in sg.operators if opcodes.op_name(model, op) == "CONV_2D"]


def test_int8_float_io(float_model: Path, tmp_path: Path):
    content, facts = run_scheme(float_model, tmp_path)
    assert facts["inputs"][0]["dtype"] == "float32" and facts["outputs"][0]["dtype"] == "float32"
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(facts["ops"])
    assert all(w.type == T.INT8 for w in conv_weights(content))
    assert facts["calibration_samples"] == 8


def test_int8_integer_io(float_model: Path, tmp_path: Path):
    content, facts = run_scheme(float_model, tmp_path, io="int8")
    assert facts["inputs"][0]["dtype"] == "int8" and facts["outputs"][0]["dtype"] == "int8"
    assert "QUANTIZE" not in facts["ops"] and "DEQUANTIZE" not in facts["ops"]


def test_int16x8(float_model: Path, tmp_path: Path):
    content, facts = run_scheme(float_model, tmp_path, type="int16x8")
    model = flatbuffer.read_bytes(content, "q")
    sg = model.subgraphs[0]
    conv = next(op for op in sg.operators if opcodes.op_name(model, op) == "CONV_2D")
    assert sg.tensors[conv.inputs[0]].type == T.INT16 and sg.tensors[conv.inputs[1]].type == T.INT8
    assert sg.tensors[conv.outputs[0]].type == T.INT16


def test_per_tensor_weights(float_model: Path, tmp_path: Path):
    per_channel, _ = run_scheme(float_model, tmp_path / "a", per_channel=True)
    per_tensor, _ = run_scheme(float_model, tmp_path / "b", per_channel=False)
    assert all(len(w.quantization.scale) > 1 for w in conv_weights(per_channel))
    assert all(len(w.quantization.scale) == 1 for w in conv_weights(per_tensor))


def test_dynamic_and_float16(float_model: Path, tmp_path: Path):
    dyn, facts = run_scheme(float_model, tmp_path / "d", type="dynamic")
    assert facts["inputs"][0]["dtype"] == "float32" and all(w.type == T.INT8 for w in conv_weights(dyn))
    fp16, facts = run_scheme(float_model, tmp_path / "h", type="float16")
    assert T.FLOAT16 in set(tensor_types(fp16).values()) and "DEQUANTIZE" in facts["ops"]
    x = np.random.default_rng(0).random((1, 12, 12, 3), dtype=np.float32)
    reference = run_tflite(float_model.read_bytes(), x)[0]
    np.testing.assert_allclose(run_tflite(fp16, x)[0], reference, atol=1e-2 * np.ptp(reference))


@pytest.mark.parametrize("kind", ["int8", "int16x8"])
def test_quantized_from_the_calibrate_steps_model_as_tflite_calibrating_itself(
    float_model: Path, tmp_path: Path, kind: str
):
    # the reference: TensorFlow Lite's own calls, calibrating inside (what TFLiteConverter does after conversion)
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    content, facts = run_scheme(float_model, tmp_path, type=kind)
    xs = list(datasets.samples(random_dataset(), [1, 12, 12, 3]))
    cal = calibrator.Calibrator(calibrator.add_intermediate_tensors(float_model.read_bytes()))
    if kind == "int8":
        calibrated = cal.calibrate(lambda: ([x] for x in xs))
        reference = convert.mlir_quantize(calibrated, False, input_data_type=tf.float32, output_data_type=tf.float32)
    else:
        reference = cal.calibrate_and_quantize(
            lambda: ([x] for x in xs), tf.float32, tf.float32, True, tf.int16, tf.int64
        )
    assert content == bytes(reference) and facts["calibration_samples"] == len(xs) == 8


def test_same_inputs_give_identical_bytes(float_model: Path, tmp_path: Path):
    first, _ = run_scheme(float_model, tmp_path / "1")
    second, _ = run_scheme(float_model, tmp_path / "2")
    assert first == second


def test_image_letterbox_keeps_aspect_and_pads(tmp_path: Path):
    from PIL import Image

    Image.new("RGB", (40, 20), (255, 255, 255)).save(tmp_path / "wide.png")
    letterbox = datasets.Preprocess(resize="letterbox", mean=(0,), scale=(255,))
    x = datasets.image(tmp_path / "wide.png", [1, 16, 16, 3], letterbox, "d")
    assert x.shape == (1, 16, 16, 3)
    assert np.all(x[0, :4] == 0) and np.all(x[0, 12:] == 0)  # 40x20 → 16x8, centred: rows 4..11 hold the image
    assert np.allclose(x[0, 4:12], 1.0)
    stretched = datasets.image(tmp_path / "wide.png", [1, 16, 16, 3], datasets.Preprocess(resize="stretch"), "d")
    assert np.allclose(stretched, 1.0)
    bgr = datasets.image(
        tmp_path / "wide.png",
        [1, 16, 16, 3],
        datasets.Preprocess(resize="crop", mean=(1, 2, 3), scale=(1,), color="bgr"),
        "d",
    )
    assert np.allclose(bgr[0, 0, 0], [254, 253, 252])


def test_npy_samples_and_shape_error(tmp_path: Path):
    from tasks.errors import StepError

    np.save(tmp_path / "stack.npy", np.zeros((3, 12, 12, 3), np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((5, 5), np.float32))
    good = datasets.Samples(name="d", kind="npy", files=(tmp_path / "stack.npy",))
    assert [s.shape for s in datasets.samples(good, [1, 12, 12, 3])] == [(1, 12, 12, 3)] * 3
    bad = datasets.Samples(name="d", kind="npy", files=(tmp_path / "bad.npy",))
    with pytest.raises(
        StepError, match=r"datasets.d: .*bad.npy has shape \[5, 5\]; the model input is \[1, 12, 12, 3\]"
    ):
        list(datasets.samples(bad, [1, 12, 12, 3]))
