"""Task metrics end to end: a tiny landmark model quantized for real, its metric recomputed from the raw outputs;
a gate on a task metric failing the build with its table; held-out samples and the in-sample mark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models_for_tests import calibrated_by_step, imported, random_dataset, run_tflite
from support import doit, ok, ran, write
from tasks.model import datasets
from tasks.steps import evaluate, quantize

LANDMARKS_BUILDER = """
import keras


def build(points=5):
    # 5 landmarks (x, y) in pixels of the 8x8 input: a sigmoid in [0, 1], times 8
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(8, 8, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(points * 2, activation="sigmoid", name="dense")(x)
    outputs = keras.layers.Rescaling(8.0, name="landmarks")(x)
    return keras.Model(inputs, outputs)
"""


def landmark_model():
    namespace: dict = {}
    exec(LANDMARKS_BUILDER, namespace)
    return namespace["build"]()


def test_keypoint_metrics_of_a_quantized_model_match_its_raw_outputs(tmp_path: Path):
    float_model = imported(tmp_path, landmark_model())
    quantized = tmp_path / "q.tflite"
    data = random_dataset(12, "noise")
    quantize.run(
        quantize.Options(
            scheme=quantize.Scheme(type="int8"),
            label="lm/int8",
            where=quantize.Where(scheme="int8", model="models.lm", unit="models.lm"),
            model=float_model,
            out=quantized,
            facts=tmp_path / "q.json",
            **calibrated_by_step(float_model, data, tmp_path / "calibrated"),
        )
    )
    out = tmp_path / "accuracy.json"
    task = evaluate.TaskOptions(type="keypoints", settings={"pck": 0.002})
    evaluate.run(
        evaluate.Options(
            float_model=float_model,
            quantized=quantized,
            dataset=data,
            tasks=(task,),
            in_sample=False,
            label="lm/int8",
            out=out,
        )
    )
    found = json.loads(out.read_text())
    # the same numbers from the raw outputs: both models on the same samples, the distance of each (x, y)
    distances = []
    for x in datasets.samples(data, [1, 8, 8, 3]):
        (ref,) = run_tflite(float_model.read_bytes(), x, builtin=True)
        (got,) = run_tflite(quantized.read_bytes(), x, builtin=True)
        distances += list(np.hypot(*(got.reshape(5, 2) - ref.reshape(5, 2)).T))
    px = np.array(distances, dtype=np.float64)
    assert px.size == 12 * 5 and px.max() > 0  # int8 moved the landmarks, a little
    metrics = found["metrics"]
    assert abs(metrics["landmark_px_mean"] - px.mean()) < 1e-5
    assert abs(metrics["landmark_px_p95"] - np.percentile(px, 95)) < 1e-5
    assert abs(metrics["landmark_rel_mean"] - px.mean() / 8) < 1e-5
    assert abs(metrics["landmark_pck"] - np.mean(px <= 0.016)) < 1e-6 and 0 < metrics["landmark_pck"] < 1
    assert found["tasks"] == [{"type": "keypoints", "metrics": metrics}]
    assert found["worst_output"] == "output_0" and found["in_sample"] is False


PROJECT = """
version: 1
name: lm
datasets:
  noise: {random: {seed: 0, count: 20}, split: {calibration: 0.6, validation: 0.4}}
models:
  lm:
    source: {builder: "models/lm.py:build"}
    task: {type: keypoints, output: landmarks}
    calibration: noise
    validation: noise
quantization:
  int8: {type: int8}
targets:
  cpu: {compiler: none}
gates:
  - {metric: landmark_px_mean, max: 0.000001}
  - {metric: landmark_pck, min: 0}
"""


def test_gate_on_a_task_metric_fails_the_build_with_its_table(tmp_path: Path):
    write(tmp_path / "models" / "lm.py", LANDMARKS_BUILDER)
    project = write(tmp_path / "project.yaml", PROJECT)
    proc = doit(tmp_path)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "1 gate check(s) failed, 1 passed:" in out
    table = out[out.index("gate  ") :].splitlines()
    assert table[0].split() == ["gate", "variant", "metric", "value", "bound"]
    assert table[1].split()[:3] == ["gates[0]", "lm/int8@cpu", "landmark_px_mean"] and table[1].endswith("<= 1e-06")
    results = json.loads((tmp_path / "build" / "results.json").read_text())
    (variant,) = results["variants"]
    acc = variant["accuracy"]
    # 20 random samples: 12 calibrate, 8 are held out, so the accuracy is not in-sample
    assert (acc["samples"], acc["part"], acc["in_sample"]) == (8, "validation", False)
    assert float(table[1].split()[3]) == float(f"{acc['metrics']['landmark_px_mean']:.4g}") > 0
    assert (
        "evaluate:lm/int8" in ran(proc)
        and "validation set 'noise (validation part)'" in ok(doit(tmp_path, "list")).stdout
    )
    # a loose bound: the gates run again, and pass (the report too, if the failed gate stopped the build before it)
    project.write_text(PROJECT.replace("max: 0.000001", "max: 8"))
    proc = ok(doit(tmp_path))
    assert ran(proc) - {"report"} == {"gates"} and "2 gate check(s) passed" in proc.stdout
    page = (tmp_path / "build" / "report" / "variants" / "lm_int8@cpu.html").read_text()
    assert "Task metrics" in page and "landmark_px_mean" in page and "In-sample" not in page


def test_in_sample_accuracy_is_marked(tmp_path: Path):
    write(tmp_path / "models" / "lm.py", LANDMARKS_BUILDER)
    text = PROJECT.replace(", split: {calibration: 0.6, validation: 0.4}", "").split("gates:")[0]
    write(tmp_path / "project.yaml", text)
    ok(doit(tmp_path))
    acc = json.loads((tmp_path / "build" / "results.json").read_text())["variants"][0]["accuracy"]
    assert (acc["samples"], acc["in_sample"]) == (20, True)
    page = (tmp_path / "build" / "report" / "variants" / "lm_int8@cpu.html").read_text()
    assert "In-sample: these samples are calibration samples too" in page
    assert "(in-sample)" in (tmp_path / "build" / "report" / "index.html").read_text()
    assert "(in-sample)" in (tmp_path / "build" / "report" / "report.md").read_text()


def test_a_task_output_the_model_lacks_is_an_error_unless_pruned_away(tmp_path: Path):
    import pytest

    from tasks.errors import StepError

    float_model = imported(tmp_path, landmark_model())
    data = random_dataset(2, "noise")
    task = evaluate.TaskOptions(type="segmentation", settings={"output": "mask"})
    out = tmp_path / "accuracy.json"
    with pytest.raises(StepError) as err:  # a whole model: a misspelt output is a mistake, said at once
        evaluate.run(
            evaluate.Options(
                float_model=float_model,
                quantized=float_model,
                dataset=data,
                tasks=(task,),
                in_sample=False,
                label="lm/int8",
                out=out,
            )
        )
    assert str(err.value) == (
        "lm/int8: task segmentation reads output mask, which the model does not have (outputs: output_0); "
        "fix models.lm.task"
    )
    assert not out.exists()
    # a prune variant that cut that head away: the task is skipped, and says why
    evaluate.run(
        evaluate.Options(
            float_model=float_model,
            quantized=float_model,
            dataset=data,
            tasks=(task,),
            in_sample=False,
            label="lm.cut/int8",
            out=out,
            pruned=True,
        )
    )
    assert json.loads(out.read_text())["tasks"] == [{"type": "segmentation", "skipped": "output mask is pruned away"}]


def _tflite(model) -> bytes:
    from models_for_tests import tflite_of

    return tflite_of(model)


def _mask_model(bias: float):
    """logit = x0 - x1 + bias per pixel: a 1x1 convolution with weights (1, -1)."""
    import keras

    inputs = keras.Input(shape=(2, 2, 2), batch_size=1)
    conv = keras.layers.Conv2D(1, 1)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.array([1.0, -1.0], dtype=np.float32).reshape(1, 1, 2, 1), np.array([bias], np.float32)])
    return model


def _class_model(order: list[int]):
    """scores = the 4 input values in ``order``: a dense layer with a permutation matrix, no bias."""
    import keras

    inputs = keras.Input(shape=(4,), batch_size=1)
    dense = keras.layers.Dense(4, use_bias=False)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.eye(4, dtype=np.float32)[:, order]])
    return model


def test_segmentation_and_classification_decoders_on_tiny_models(tmp_path: Path):
    # two real models stand for the float and the quantized one, so the answers are known exactly
    (tmp_path / "ref.tflite").write_bytes(_tflite(_mask_model(0.0)))
    (tmp_path / "shifted.tflite").write_bytes(_tflite(_mask_model(-0.5)))
    # x0 - x1 per pixel: 1, 0.25, -1, 1 → the reference's mask (> 0) is 3 pixels, the shifted one's (> 0.5) 2
    x = np.array([[[1, 0], [0.5, 0.25]], [[0, 1], [1, 0]]], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    data = datasets.Samples(name="x", kind="npy", files=(tmp_path / "x.npy",))
    out = tmp_path / "seg.json"
    task = evaluate.TaskOptions(type="segmentation", settings={"activation": "none", "threshold": 0.0})
    evaluate.run(
        evaluate.Options(
            float_model=tmp_path / "ref.tflite",
            quantized=tmp_path / "shifted.tflite",
            dataset=data,
            tasks=(task,),
            in_sample=False,
            label="m/q",
            out=out,
        )
    )
    # masks: the reference's the pixels with 1, 0.25 and 1; the shifted one's (x0 - x1 - 0.5 > 0) the two with 1:
    # intersection 2, union 3
    assert json.loads(out.read_text())["metrics"] == {"mask_iou": round(2 / 3, 6), "mask_iou_min": round(2 / 3, 6)}

    (tmp_path / "cls.tflite").write_bytes(_tflite(_class_model([0, 1, 2, 3])))
    (tmp_path / "swapped.tflite").write_bytes(_tflite(_class_model([1, 0, 2, 3])))  # classes 0 and 1 swapped
    for i, v in enumerate(([5, 1, 0, 0], [0, 0, 5, 1], [1, 5, 0, 0])):
        np.save(tmp_path / f"c{i}.npy", np.array(v, dtype=np.float32))
    data = datasets.Samples(name="c", kind="npy", files=tuple(tmp_path / f"c{i}.npy" for i in range(3)))
    task = evaluate.TaskOptions(type="classification")
    evaluate.run(
        evaluate.Options(
            float_model=tmp_path / "cls.tflite",
            quantized=tmp_path / "swapped.tflite",
            dataset=data,
            tasks=(task,),
            in_sample=False,
            label="c/q",
            out=out,
        )
    )
    # top-1: class 0 → 1 (differs), class 2 → 2 (same), class 1 → 0 (differs): 1 of 3; 4 classes: no top-5
    assert json.loads(out.read_text())["metrics"] == {"top1_agreement": round(1 / 3, 6), "top5_agreement": None}
