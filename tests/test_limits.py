"""The quantization limits check: a dataset problem and a precision problem told apart on tiny real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models_for_tests import calibrated_by_step, imported
from tasks.model.datasets import Samples
from tasks.steps import limits, quantize


def two_channel_model():
    """Two outputs, each a 1x1 convolution reading one input channel: channel 0 small, channel 1 whatever is given."""
    import keras

    inputs = keras.Input(shape=(4, 4, 2), batch_size=1, name="x")
    small = keras.layers.Conv2D(1, 1, use_bias=False, name="small")
    large = keras.layers.Conv2D(1, 1, use_bias=False, name="large")
    model = keras.Model(inputs, [small(inputs), large(inputs)])
    small.set_weights([np.array([1.0, 0.0], dtype=np.float32).reshape(1, 1, 2, 1)])
    large.set_weights([np.array([0.0, 1.0], dtype=np.float32).reshape(1, 1, 2, 1)])
    return model


def npy(folder: Path, name: str, channel1_scale: float, count: int, seed: int) -> tuple[Path, ...]:
    rng = np.random.default_rng(seed)
    files = []
    for i in range(count):
        x = rng.uniform(0, 1, size=(4, 4, 2)).astype(np.float32)
        x[..., 1] *= channel1_scale
        files.append(folder / f"{name}{i}.npy")
        np.save(files[-1], x)
    return tuple(files)


def check(tmp_path: Path, calibration: tuple[Path, ...], validation: tuple[Path, ...]) -> dict:
    float_model = imported(tmp_path, two_channel_model())
    quantized = tmp_path / "q.tflite"
    scheme = quantize.Scheme(type="int8")
    cal, val = (
        Samples(name="cal", kind="npy", files=calibration),
        Samples(name="val", kind="npy", files=validation, take=1),
    )
    quantize.run(
        quantize.Options(
            scheme=scheme,
            label="m/int8",
            where=quantize.Where(scheme="int8", model="models.m", unit="models.m"),
            model=float_model,
            out=quantized,
            facts=tmp_path / "q.json",
            **calibrated_by_step(float_model, cal, tmp_path / "calibrated"),
        )
    )
    out = tmp_path / "limits.json"
    limits.run(
        limits.Options(
            scheme=scheme,
            label="m/int8",
            sample=val,
            start=float_model,
            float_model=float_model,
            quantized=quantized,
            out=out,
        )
    )
    return json.loads(out.read_text())


def test_calibration_on_the_wrong_range_is_a_dataset_problem(tmp_path: Path):
    # calibrated on channel 1 in [0, 0.05): a validation sample with channel 1 in [0, 1) clips at 0.05
    found = check(tmp_path, npy(tmp_path, "cal", 0.05, 8, 0), npy(tmp_path, "val", 1.0, 2, 1))
    large = found["outputs"][found["worst_output"]]
    assert found["worst_output"].endswith("_1") or found["worst_output"] != ""
    assert large["snr_db"] < 10 and large["snr_db_one_sample"] > 30  # clipped, against one sample's own range
    assert found["verdict"] == "calibration" and found["advice"].startswith("a dataset problem: calibrated on this")
    assert found["sample"] == "val0.npy"


def test_one_huge_channel_is_a_precision_problem(tmp_path: Path):
    # channel 1 up to 1000 shares the input's one int8 scale (about 1000 / 255 ≈ 3.9) with channel 0 in [0, 1):
    # channel 0 rounds to zero even when the ranges are the sample's own
    files = npy(tmp_path, "s", 1000.0, 8, 0)
    found = check(tmp_path, files, files)
    worst = found["outputs"][found["worst_output"]]
    assert worst["snr_db"] < 10 and worst["snr_db_one_sample"] < 10
    assert found["verdict"] == "precision" and found["advice"].startswith("a precision problem: even calibrated")


def test_a_good_model_has_no_problem(tmp_path: Path):
    files = npy(tmp_path, "s", 1.0, 8, 0)
    found = check(tmp_path, files, files)
    assert min(o["snr_db"] for o in found["outputs"].values()) >= 30
    assert found["verdict"] == "none" and found["advice"].startswith("no problem:")
