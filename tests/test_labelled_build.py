"""A labelled dataset in a real build: a classifier quantized to int8 and two models that arrive quantized (int8 with
float I/O, and uint8 I/O, made here by TensorFlow's converter), compiled by Vela and evaluated against the labels of
class folders; then a gate on the drop fails the build with its table, and a project that asks to quantize a
quantized model is told which keys to drop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.models_for_tests import keras_net, run_tflite
from tests.support import TINY_BUILDER, U55, doit, ok, ran, write

CLASSES = ("circle", "square", "stripe")


def _quantized(folder: Path, io: str) -> Path:
    """keras_net (12x12x3 → 5 scores) quantized by TensorFlow's converter: int8 inside, float or uint8 I/O."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_net())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.random((1, 12, 12, 3), dtype=np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io == "uint8":
        converter.inference_input_type = converter.inference_output_type = tf.uint8
    path = folder / f"vendor_{io}.tflite"
    path.write_bytes(converter.convert())
    return path


def _project(root: Path, gate: str = "", quantize_vendor: bool = False, labels: str = "{format: folders}") -> Path:
    vendor_builds = (
        "{models: [vendor_f32io, vendor_u8io], quantization: [int8], targets: [u55]}"
        if quantize_vendor
        else "{models: [vendor_f32io, vendor_u8io], targets: [u55]}"
    )
    return write(
        root / "project.yaml",
        f"""
        version: 1
        name: labelled
        datasets:
          shapes:
            images: "data/shapes/*/*.png"
            preprocess: {{resize: stretch, mean: 0, scale: 255}}
            labels: {labels}
        models:
          net:
            source: {{builder: "models/tiny.py:build", args: {{channels: 8, size: 12}}}}
            task: classification
            calibration: shapes
            validation: shapes
          vendor_f32io: {{source: models/vendor_float32.tflite, task: classification, validation: shapes}}
          vendor_u8io: {{source: models/vendor_uint8.tflite, task: classification, validation: shapes}}
        quantization:
          int8: {{type: int8}}
          auto: {{type: auto, goal: {{metric: top1_accuracy_drop, max: 50}}, budget: {{target: u55, max_ms: 50}}}}
        targets:
          u55: {U55}
          cpu: {{compiler: none}}
        boards:
          here: {{host: local, targets: [cpu], benchmark: {{runs: 2, warmup: 1}}, agreement: {{samples: 6}}}}
        builds:
          - {{models: [net], quantization: [int8], targets: [u55, cpu]}}
          - {{models: [net], quantization: [auto], targets: [u55]}}
          - {vendor_builds}
        {gate}
        """,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("labelled")
    write(root / "models" / "tiny.py", TINY_BUILDER.replace("Dense(4", "Dense(3"))
    for io in ("float32", "uint8"):
        _quantized(root / "models", io)
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        for i in range(4):
            pixels = rng.integers(0, 255, size=(12 + i, 12, 3), dtype=np.uint8)
            pixels[..., c] = 255  # a class is a colour
            (root / "data" / "shapes" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / "data" / "shapes" / name / f"{i}.png")
    _project(root)
    ok(doit(root))
    return root


def _accuracy(root: Path, variant: str) -> dict:
    results = json.loads((root / "build" / "results.json").read_text())
    return next(v for v in results["variants"] if v["id"] == variant)["accuracy"]


def _by_hand(root: Path, model: Path, first: int | None = None) -> float:
    """top-1 accuracy of ``model`` on the labelled images (the ``first`` ones in path order), preprocessed here as the
    dataset says (stretch, /255)."""
    from PIL import Image

    from tasks.tflite import runtime

    hits = []
    interpreter = runtime.interpreter(model.read_bytes())
    (detail,) = interpreter.get_input_details()
    height, width = int(detail["shape"][1]), int(detail["shape"][2])
    for path in sorted((root / "data" / "shapes").glob("*/*.png"))[:first]:
        with Image.open(path) as im:
            x = np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.BILINEAR), np.float32)
        x = runtime.quantize_input((x / 255)[None], detail)
        (scores,) = run_tflite(model.read_bytes(), x, builtin=True)
        hits.append(int(np.argmax(scores)) == CLASSES.index(path.parent.name))
    return float(np.mean(hits))


def test_float_and_quantized_against_labels(built):
    acc = _accuracy(built, "net/int8@u55")
    top1 = acc["labels"]["metrics"]["top1_accuracy"]
    assert top1["float"] == pytest.approx(_by_hand(built, built / "build" / "net" / "net_float.tflite"))
    assert top1["quantized"] == pytest.approx(_by_hand(built, built / "build" / "net" / "int8" / "net_int8.tflite"))
    assert top1["drop"] == pytest.approx(100 * (top1["float"] - top1["quantized"]))
    low, high = top1["interval"]
    assert low <= high and top1["resamples"] == 1000
    assert acc["metrics"]["top1_accuracy"] == top1["quantized"]  # gates read them here
    assert acc["metrics"]["top1_accuracy_drop"] == top1["drop"]
    assert acc["labels"]["confusion"]["classes"] == list(CLASSES)
    assert sum(map(sum, acc["labels"]["confusion"]["quantized"])) == 12


@pytest.mark.parametrize("model, io", [("vendor_f32io", "float32"), ("vendor_u8io", "uint8")])
def test_a_quantized_model_is_built_as_it_arrives(built, model, io):
    variant = f"{model}/prequantized@u55"
    results = json.loads((built / "build" / "results.json").read_text())
    row = next(v for v in results["variants"] if v["id"] == variant)
    assert row.get("error") is None and row["ops"]["npu"] > 0  # Vela compiled it
    assert not (built / "build" / model / "prequantized" / "quantize.json").exists()  # no quantize step
    imported = built / "build" / model / f"{model}_prequantized.tflite"
    from tasks.tflite import flatbuffer

    source = flatbuffer.read(built / "models" / f"vendor_{io}.tflite")
    kept = flatbuffer.read(imported)
    # the same operators and the same weights: not re-quantized
    assert [o.opcodeIndex for o in kept.subgraphs[0].operators] == [
        o.opcodeIndex for o in source.subgraphs[0].operators
    ]
    top1 = row["accuracy"]["labels"]["metrics"]["top1_accuracy"]
    assert top1["quantized"] == pytest.approx(_by_hand(built, imported))
    assert top1["float"] is None and top1["drop"] is None  # no float reference given
    listed = doit(built, "list", "--all").stdout
    assert f"quantize:{model}" not in listed and f"calibrate:{model}" not in listed


def test_the_boards_outputs_against_labels(built):
    results = json.loads((built / "build" / "results.json").read_text())
    row = next(v for v in results["variants"] if v["id"] == "net/int8@cpu")
    board = row["board_agreement"]["labels"]
    assert board["samples"] == 6
    top1 = board["metrics"]["top1_accuracy"]
    assert top1["host"] == pytest.approx(_by_hand(built, built / "build" / "net" / "int8" / "net_int8.tflite", 6))
    assert top1["board"] is not None
    assert top1["drop"] == pytest.approx(100 * (top1["host"] - top1["board"]))
    page = (built / "build" / "report" / "variants" / "net_int8@cpu.html").read_text()
    shown = page.split("Against labels on here")[1].split("</table>")[0]  # the report shows both, as results.json
    assert f"{top1['host']:.1%}" in shown and f"{top1['board']:.1%}" in shown


def test_a_search_aims_at_a_label_metric(built):
    search = json.loads((built / "build" / "net" / "auto" / "search" / "search.json").read_text())
    acc = _accuracy(built, "net/auto@u55")
    assert acc["metrics"]["top1_accuracy_drop"] is not None
    values = [c["value"] for c in search["candidates"]]
    assert values and all(v is not None for v in values)  # each candidate measured against the labels
    assert acc["metrics"]["top1_accuracy_drop"] <= 50


def test_a_label_change_reruns_what_reads_labels_and_nothing_else(built):
    _project(built, labels="{format: folders, classes: [stripe, square, circle]}")
    try:
        again = ok(doit(built))
    finally:
        _project(built)
    assert "evaluate:net/int8" in ran(again) and "agreement:here:net/int8@cpu" in ran(again)
    assert not {s for s in ran(again) if s.startswith(("quantize:net/int8", "limits:", "compile:net/int8", "import:"))}
    ok(doit(built))


def test_a_gate_on_the_drop_fails_the_build_with_its_table(built):
    drop = _accuracy(built, "net/int8@u55")["metrics"]["top1_accuracy_drop"]
    _project(built, gate=f"gates: [{{models: net, metric: top1_accuracy_drop, max: {drop - 1}}}]")
    failed = doit(built)
    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "top1_accuracy_drop" in said and "net/int8@u55" in said
    _project(built, gate=f"gates: [{{models: net, metric: top1_accuracy_drop, max: {drop + 1}}}]")
    ok(doit(built))
    _project(built)


def test_quantizing_a_quantized_model_says_which_keys_to_drop(built, tmp_path):
    project = _project(tmp_path, quantize_vendor=True)
    for model in ("models/vendor_float32.tflite", "models/vendor_uint8.tflite"):
        (tmp_path / model).parent.mkdir(exist_ok=True)
        (tmp_path / model).write_bytes((built / model).read_bytes())
    (tmp_path / "models" / "tiny.py").write_text((built / "models" / "tiny.py").read_text())
    said = doit(project.parent, "list")
    assert said.returncode != 0
    assert (
        "builds[2].quantization: models.vendor_f32io arrives quantized (int8 activations)" in said.stderr + said.stdout
    )
    assert "remove quantization from this entry" in said.stderr + said.stdout


def test_a_goal_on_a_label_metric_needs_labels(built, tmp_path):
    from tasks import config
    from tasks.errors import ConfigError

    for folder in ("models", "data"):
        shutil.copytree(built / folder, tmp_path / folder)
    text = (built / "project.yaml").read_text().replace("labels: {format: folders}", "")
    (tmp_path / "project.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        config.load(tmp_path / "project.yaml")
    assert (
        "quantization.auto.goal.metric: top1_accuracy_drop is not measured on model net: its tasks give "
        "top1_agreement, top5_agreement; give the validation dataset labels (datasets.shapes.labels)"
    ) in str(error.value)
    assert (  # nothing else could judge a model that arrives quantized
        "models.vendor_f32io.validation: models.vendor_f32io arrives quantized (int8 activations) and is built as it "
        "is: with no float model to compare it with, only labels can judge it; give the dataset labels "
        "(datasets.shapes.labels) or the model a reference: FLOAT"
    ) in str(error.value)


def test_labels_a_task_cannot_read_are_named_at_load(built, tmp_path):
    from tasks import config

    for folder in ("models", "data"):
        shutil.copytree(built / folder, tmp_path / folder)
    (tmp_path / "boxes.json").write_text('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}')
    text = (built / "project.yaml").read_text().replace("{format: folders}", "{format: coco, file: boxes.json}")
    (tmp_path / "project.yaml").write_text(text)
    warnings: list[str] = []
    config.load(tmp_path / "project.yaml", warnings)
    assert any(
        "models.net.task: classification is scored against folders or csv labels, but datasets.shapes.labels is "
        "coco: this task gets no top1_accuracy, top5_accuracy" in w
        for w in warnings
    ), warnings


def test_a_reference_from_a_wheel_is_fetched_and_imported(built, tmp_path):
    from tasks import config
    from tasks.engine import plan

    for folder in ("models", "data"):
        shutil.copytree(built / folder, tmp_path / folder)
    text = (
        (built / "project.yaml")
        .read_text()
        .replace(
            "vendor_u8io: {source: models/vendor_uint8.tflite,",
            f'ref: {{source: {{pip: "mediapipe==0.10.14", member: m/ref.tflite, sha256: "{"0" * 64}"}}}}\n'
            "  vendor_u8io: {reference: ref, source: models/vendor_uint8.tflite,",
        )
    )
    (tmp_path / "project.yaml").write_text(text)
    planning = plan.planning(config.load(tmp_path / "project.yaml"))
    assert planning.step_of("fetch", "ref") is not None and planning.step_of("import", "ref") is not None
    evaluate = planning.step_of("evaluate", "vendor_u8io/prequantized")
    assert evaluate.options.float_model == planning.paths.float_model("ref")
