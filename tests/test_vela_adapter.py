"""The Vela output adapter, on saved real output of ethos-u-vela 5.2 (pose_detection int8, Ethos-U65-256)."""

from __future__ import annotations

from pathlib import Path

from support import DATA
from tasks.toolchains.vela import adapter as vela

VELA = DATA / "vela"
SUMMARY = VELA / "pose_detection_int8_summary_Ethos_U65_High_End.csv"
PER_LAYER = VELA / "pose_detection_int8_per-layer.csv"
LOG = VELA / "pose_detection_int8_u65.log"


def test_summary_numbers_are_numbers():
    s = vela.parse_summary(SUMMARY)
    assert s["accelerator_configuration"] == "Ethos_U65_256"
    assert s["inference_time"] == 0.007048528
    assert s["cycles_total"] == 7048528
    assert s["nn_macs"] == 435385622
    assert s["sram_memory_used"] == 984.359375


def test_per_layer_rows_and_columns():
    rows = vela.parse_per_layer(PER_LAYER)
    assert len(rows) == 158
    first_conv = rows[1]
    assert first_conv["Original Operator"] == "Conv2D" and first_conv["Target"] == "NPU"
    assert first_conv["Op Cycles"] == 850632
    assert first_conv["Network% (cycles)"] == 12.068221903920932
    assert first_conv["Network% (MAC)"] == 1.8669684043907173
    assert first_conv["MAC Count"] == 8128512
    assert sum(r["Target"] == "CPU" for r in rows) == 6


def test_repeated_header_per_subgraph_is_skipped(tmp_path: Path):
    # Vela writes the header again before each subgraph's rows.
    lines = PER_LAYER.read_text().splitlines()
    doubled = tmp_path / "per-layer.csv"
    doubled.write_text("\n".join(lines + lines) + "\n")
    rows = vela.parse_per_layer(doubled)
    assert len(rows) == 2 * 158
    assert all(r["Original Operator"] != "Original Operator" for r in rows)


def test_two_network_percent_columns_of_older_vela(tmp_path: Path):
    lines = PER_LAYER.read_text().splitlines()
    old = tmp_path / "per-layer.csv"
    old.write_text(
        "\n".join([lines[0].replace("Network% (cycles)", "Network%").replace("Network% (MAC)", "Network%")] + lines[1:])
    )
    row = vela.parse_per_layer(old)[1]
    assert row["Network% (cycles)"] == 12.068221903920932
    assert row["Network% (MAC)"] == 1.8669684043907173


def test_cpu_reasons_including_multi_line():
    reasons = vela.parse_cpu_reasons(LOG.read_text())
    assert reasons["model_1/model/d2sp_person_32/d2sp_person_32"] == {
        "op": "DEPTH_TO_SPACE",
        "reason": "Unsupported opType",
    }
    assert reasons["tfl.quantize"]["op"] == "QUANTIZE"
    assert reasons["tfl.quantize"]["reason"] == (
        "Operation has tensor with unsupported DataType Float32 (input_1) "
        'Feature-map dataTypes must be one of {"INT16", "INT32", "INT64", "INT8", "UINT8"}'
    )
    assert len(reasons) == 6


def test_facts_for_results_json():
    facts = vela.facts(
        vela.parse_summary(SUMMARY),
        vela.parse_per_layer(PER_LAYER),
        vela.parse_cpu_reasons(LOG.read_text()),
        {"model_1/model/batch_normalization_2/FusedBatchNormV3;model_1/model/conv2d_1/Conv2D1": 16},
    )
    assert facts["ops"] == {"npu": 152, "cpu": 6}
    assert facts["estimate"]["inference_ms"] == 7.0485
    assert facts["estimate"]["cycles"] == 7048528
    assert facts["estimate"]["sram_kib"] == 984.36 and facts["estimate"]["dram_kib"] == 2185.09
    assert [f["op"] for f in facts["cpu_fallback"]] == [
        "QUANTIZE",
        "DEPTH_TO_SPACE",
        "DEPTH_TO_SPACE",
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "DEQUANTIZE",
    ]
    layers = {layer["name"]: layer for layer in facts["layers"]}
    conv = layers["model_1/model/batch_normalization_2/FusedBatchNormV3;model_1/model/conv2d_1/Conv2D1"]
    assert conv["cycles"] == 50996 and conv["macs"] == 4816896 and conv["mac_util_pct"] == 36.9
    assert conv["out_channels"] == 16
    # fused activations (0 cycles on the NPU) are not layers of their own
    assert all(layer["cycles"] > 0 or layer["target"] == "CPU" for layer in facts["layers"])
    assert all(isinstance(layer["cycles"], int) for layer in facts["layers"])
