"""Custom operators: MediaPipe's Convolution2DTransposeBias becomes a builtin the NPU runs; others are named."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import doit, ok, reuse_fetched_wheels, write

SELFIE = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
SELFIE_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"


def test_mediapipe_selfie_segmentation_imports_quantizes_and_compiles_to_the_npu(tmp_path: Path):
    reuse_fetched_wheels(tmp_path)
    write(
        tmp_path / "project.yaml",
        f"""
        version: 1
        name: selfie
        datasets:
          noise: {{random: {{seed: 0, count: 4}}}}
        models:
          selfie:
            source: {{pip: mediapipe==0.10.14, member: {SELFIE}, sha256: {SELFIE_SHA256}}}
            calibration: noise
        quantization:
          int8_io: {{type: int8, io: int8}}
        targets:
          u55: {{compiler: vela, accelerator: ethos-u55-128, system_config: Ethos_U55_High_End_Embedded, memory_mode: Shared_Sram}}
        """,
    )
    proc = ok(doit(tmp_path))
    assert "Convolution2DTransposeBias ×1 → TRANSPOSE_CONV (builtin)" in proc.stdout
    facts = json.loads((tmp_path / "build" / "selfie" / "import.json").read_text())
    assert facts["custom_ops_rewritten"] == [
        {"name": "segment", "op": "Convolution2DTransposeBias", "done": True,
         "becomes": "TRANSPOSE_CONV (stride 2x2, SAME, bias as 4th input)"}
    ]  # fmt: skip
    assert facts["max_rel_diff"] <= 1e-5  # proven against the source, which LiteRT's XNNPACK delegate runs
    (variant,) = json.loads((tmp_path / "build" / "results.json").read_text())["variants"]
    assert variant["ops"]["cpu"] == 0 and variant["ops"]["npu"] > 0, variant["cpu_fallback"]
    assert any(
        layer["op"] == "TransposeConv2DBackpropInput" or "Transpose" in layer["op"] for layer in variant["layers"]
    )
