"""Custom operators: MediaPipe's Convolution2DTransposeBias becomes a builtin the NPU runs; others are named."""

from __future__ import annotations

import json
from pathlib import Path

from support import doit, ok, reuse_fetched_wheels, write

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
          u55:
            compiler: vela
            accelerator: ethos-u55-128
            system_config: Ethos_U55_High_End_Embedded
            memory_mode: Shared_Sram
        """,
    )
    proc = ok(doit(tmp_path))
    assert "Convolution2DTransposeBias ×1 → TRANSPOSE_CONV (builtin)" in proc.stdout
    facts = json.loads((tmp_path / "build" / "selfie" / "import.json").read_text())
    assert facts["custom_ops_rewritten"] == [
        {
            "name": "segment",
            "op": "Convolution2DTransposeBias",
            "done": True,
            "becomes": "TRANSPOSE_CONV (stride 2x2, SAME, bias as 4th input)",
        }
    ]
    assert facts["max_rel_diff"] <= 1e-5  # proven against the source, which LiteRT's XNNPACK delegate runs
    (variant,) = json.loads((tmp_path / "build" / "results.json").read_text())["variants"]
    assert variant["ops"]["cpu"] == 0 and variant["ops"]["npu"] > 0, variant["cpu_fallback"]
    assert any(
        layer["op"] == "TransposeConv2DBackpropInput" or "Transpose" in layer["op"] for layer in variant["layers"]
    )


def two_heads_with_a_custom_op() -> bytes:
    """A trunk feeding a builtin head ('heatmap') and a head through a custom operator ('warped'),
    as MediaPipe's face landmarks with attention has its mesh beside its attention heads."""
    import keras

    from models_for_tests import tflite_of
    from tasks.tflite import flatbuffer

    keras.utils.set_random_seed(1)
    image = keras.Input(shape=(12, 12, 3), batch_size=1, name="image")
    trunk = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="trunk")(image)
    heatmap = keras.layers.Conv2D(4, 3, padding="same", name="head")(trunk)
    warped = keras.layers.Conv2D(2, 1, name="after")(keras.layers.Conv2D(4, 1, name="warp")(trunk))
    model = flatbuffer.read_bytes(tflite_of(keras.Model(image, {"heatmap": heatmap, "warped": warped})), "m")
    sg = model.subgraphs[0]
    (op,) = [op for op in sg.operators if "warp" in flatbuffer.tensor_name(sg.tensors[op.outputs[0]])]
    opcode = flatbuffer.schema.OperatorCodeT()
    opcode.builtinCode = opcode.deprecatedBuiltinCode = flatbuffer.schema.BuiltinOperator.CUSTOM
    opcode.customCode, opcode.version = "TransformTensorBilinear", 1
    model.operatorCodes.append(opcode)
    op.opcodeIndex, op.builtinOptionsType, op.builtinOptions = len(model.operatorCodes) - 1, 0, None
    return flatbuffer.to_bytes(model)


def test_a_custom_op_without_rewrite_is_refused_with_the_prune_that_cuts_it_off(tmp_path: Path):
    import pytest

    from tasks.errors import StepError
    from tasks.steps import import_model

    source = tmp_path / "m.tflite"
    source.write_bytes(two_heads_with_a_custom_op())
    out = tmp_path / "out" / "m_float.tflite"
    options = import_model.Options(
        source=source,
        kind="file",
        function=None,
        args_json="{}",
        input_shape=None,
        label="models.m",
        source_files=(source,),
        out=out,
        facts=out.with_name("i.json"),
    )
    with pytest.raises(StepError) as info:
        import_model.run(options)
    message = str(info.value)
    assert message.startswith(
        "models.m.source: the model has custom operators that neither LiteRT's builtin kernels nor Vela run: "
        "TransformTensorBilinear ×1 (nodes: functional_"
    ), message
    assert "/warp_1/convolution" in message.split("(nodes: ")[1].split(")")[0]
    assert "keep the outputs that need none of them (models.m.prune.NAME.outputs: [heatmap])" in message
    assert "cut the model before them and run the rest in the application (models.m.prune.NAME.outputs: " in message
    assert "trunk" in message.split("cut the model before them")[1]
    assert not out.exists()


def test_prune_variants_build_the_part_without_custom_ops_and_the_whole_model_fails_clearly(tmp_path: Path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.tflite").write_bytes(two_heads_with_a_custom_op())
    write(
        tmp_path / "project.yaml",
        """
        version: 1
        name: heads
        datasets:
          noise: {random: {seed: 0, count: 4}}
        models:
          m:
            source: models/m.tflite
            calibration: noise
            prune:
              builtin: {outputs: [heatmap]}
        quantization:
          int8: {type: int8}
        targets:
          u55:
            compiler: vela
            accelerator: ethos-u55-128
            system_config: Ethos_U55_High_End_Embedded
            memory_mode: Shared_Sram
        """,
    )
    proc = doit(tmp_path, "--continue")
    assert proc.returncode != 0
    assert "kept custom operators TransformTensorBilinear ×1 for the prune variants to cut off" in proc.stdout
    facts = json.loads((tmp_path / "build" / "m" / "import.json").read_text())
    (node,) = facts["custom_ops"]["TransformTensorBilinear"]
    assert list(facts["custom_ops"]) == ["TransformTensorBilinear"] and "/warp_1/" in node
    assert facts["max_rel_diff"] <= 1e-5  # the outputs that need no custom op, against the source
    variants = {v["id"]: v for v in json.loads((tmp_path / "build" / "results.json").read_text())["variants"]}
    whole, pruned = variants["m/int8@u55"], variants["m.builtin/int8@u55"]
    assert whole["error"]["step"] == "calibrate:m"  # the first step that reads the whole model
    assert whole["error"]["message"].startswith("models.m: the model has custom operators")
    assert "models.m.prune.NAME.outputs: [heatmap]" in whole["error"]["message"]
    assert "error" not in pruned or pruned["error"] is None
    assert pruned["ops"]["npu"] > 0 and [o["shape"] for o in pruned["outputs"]] == [[1, 12, 12, 4]]  # heatmap only
