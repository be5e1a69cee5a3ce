"""The MediaPipe example end to end (models fetched by `make`/`doit fetch` from the pinned wheel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import needs_example
from support import FETCHED, PHOTOS, REPO, doit, ok, ran, write

pytestmark = needs_example


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("example")
    write(
        root / "project.yaml",
        f"""
        version: 1
        name: pose
        datasets:
          signed: {{images: "{PHOTOS}/*.png", preprocess: {{mean: 127.5, scale: 127.5}}}}
          unit: {{images: "{PHOTOS}/*.png", preprocess: {{mean: 0, scale: 255}}}}
        models:
          pose_detection: {{source: "{FETCHED}/pose_detection.tflite", calibration: signed}}
          pose_landmark:
            source: "{FETCHED}/pose_landmark_full.tflite"
            calibration: unit
            prune: {{fitness: {{outputs: [Identity, Identity_1, Identity_4]}}}}
        quantization:
          int8: {{type: int8}}
          int8_io: {{type: int8, io: int8}}
        targets:
          imx93:
            compiler: vela
            accelerator: ethos-u65-256
            system_config: Ethos_U65_High_End
            memory_mode: Dedicated_Sram
        builds:
          - {{models: [pose_detection, pose_landmark, pose_landmark.fitness], quantization: [int8], targets: [imx93]}}
          - {{models: [pose_detection], quantization: [int8_io], targets: [imx93]}}
        """,
    )
    proc = ok(doit(root))
    assert ran(proc) == {
        "import:pose_detection",
        "import:pose_landmark",
        "rewrite:pose_detection",
        "rewrite:pose_landmark",
        "rewrite:pose_landmark.fitness",
        "calibrate:pose_detection",
        "calibrate:pose_landmark",
        "calibrate:pose_landmark.fitness",
        "quantize:pose_detection/int8",
        "quantize:pose_landmark/int8",
        "quantize:pose_detection/int8_io",
        "compile:pose_detection/int8@imx93",
        "compile:pose_landmark/int8@imx93",
        "compile:pose_detection/int8_io@imx93",
        "results",
        "prune:pose_landmark.fitness",
        "quantize:pose_landmark.fitness/int8",
        "compile:pose_landmark.fitness/int8@imx93",
        "analyse:pose_detection/int8@imx93",
        "analyse:pose_detection/int8_io@imx93",
        "analyse:pose_landmark/int8@imx93",
        "analyse:pose_landmark.fitness/int8@imx93",
        "report",
        "graph:pose_detection/int8",
        "graph:pose_landmark/int8",
        "graph:pose_detection/int8_io",
        "graph:pose_landmark.fitness/int8",
    }
    assert "calibration 6/6 samples (signed)" in proc.stdout
    assert (
        "quantize:pose_detection/int8: worst layers (RMSE / float range, SNR, share of the worst output's error):"
        in proc.stdout
    )
    return root


def variant(root: Path, vid: str) -> dict:
    results = json.loads((root / "build" / "results.json").read_text())
    return next(v for v in results["variants"] if v["id"] == vid)


def test_fetched_models_match_the_pinned_hashes():
    import hashlib

    text = (REPO / "project.yaml").read_text()
    for name in ("pose_detection.tflite", "pose_landmark_full.tflite"):
        assert hashlib.sha256((FETCHED / name).read_bytes()).hexdigest() in text


def test_import_folds_fp16_and_sparse_weights_and_matches_source(example: Path):
    facts = json.loads((example / "build" / "pose_detection" / "import.json").read_text())
    assert facts["folded"] == {"DENSIFY": 38, "DEQUANTIZE": 144}
    assert facts["max_rel_diff"] <= 1e-5
    assert "DEQUANTIZE" not in facts["ops"] and "DENSIFY" not in facts["ops"]
    landmark = json.loads((example / "build" / "pose_landmark" / "import.json").read_text())
    assert landmark["folded"] == {"DEQUANTIZE": 192}
    assert [o["name"] for o in landmark["outputs"]] == [
        "Identity",
        "Identity_1",
        "Identity_2",
        "Identity_3",
        "Identity_4",
    ]


def test_pose_detection_on_imx93_gets_depth_to_space_onto_the_npu(example: Path):
    v = variant(example, "pose_detection/int8@imx93")
    assert [r["name"].split("/")[-1] for r in v["rewrites"] if r["done"]] == [
        "d2sp_person_32",
        "d2sp_person_16",
        "d2sp_person_8",
    ]
    assert {f["op"] for f in v["cpu_fallback"]} == {"QUANTIZE", "DEQUANTIZE"}  # only the float I/O
    assert v["ops"]["cpu"] == 3 and v["ops"]["npu"] > 100
    rewritten = [f for f in v["findings"] if f["kind"] == "rewritten"]
    assert len(rewritten) == 3 and all(
        "by the depth_to_space rewrite, now on the NPU" in f["detail"] for f in rewritten
    )
    assert 1 < v["estimate"]["inference_ms"] < 100
    assert v["size_bytes"] == (example / v["artifact"]).stat().st_size


def test_integer_io_removes_the_io_conversions_from_the_cpu(example: Path):
    float_io = variant(example, "pose_detection/int8@imx93")
    int_io = variant(example, "pose_detection/int8_io@imx93")
    assert {f["op"] for f in float_io["cpu_fallback"]} == {"QUANTIZE", "DEQUANTIZE"}
    assert int_io["cpu_fallback"] == [] and int_io["ops"]["cpu"] == 0  # the whole detector on the NPU
    assert int_io["inputs"][0]["dtype"] == "int8"


def test_pose_landmark_fully_on_npu_but_io(example: Path):
    v = variant(example, "pose_landmark/int8@imx93")
    assert {f["op"] for f in v["cpu_fallback"]} <= {"QUANTIZE", "DEQUANTIZE"}
    assert v["estimate"]["inference_ms"] > 0
    assert any(layer["out_channels"] for layer in v["layers"])


def test_pruned_landmark_drops_two_heads_and_runs_faster(example: Path):
    full = variant(example, "pose_landmark/int8@imx93")
    fitness = variant(example, "pose_landmark.fitness/int8@imx93")
    assert fitness["prune"] == "fitness" and fitness["model"] == "pose_landmark"
    assert [o["name"] for o in fitness["outputs"]] == ["Identity", "Identity_1", "Identity_4"]
    assert fitness["estimate"]["macs"] < full["estimate"]["macs"]
    assert fitness["estimate"]["inference_ms"] < full["estimate"]["inference_ms"]


def test_quantization_error_table(example: Path):
    v = variant(example, "pose_detection/int8@imx93")
    rows = v["quant_errors"]
    assert len(rows) == 20 and rows == sorted(rows, key=lambda r: -r["rel_rmse"])
    table = (example / "build" / "pose_detection" / "int8" / "quant_errors.csv").read_text().splitlines()
    assert len(table) > 100  # every layer, not only the 20 worst
    # the detector's box regressors share one scale with the concatenated output, far wider than
    # their own range: their values all round to zero, which the table shows as ~0 dB
    worst = rows[0]
    assert "regressor" in worst["tensor"] and worst["snr_db"] < 1.0
