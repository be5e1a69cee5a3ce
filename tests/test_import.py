"""import: every source kind → canonical float32 .tflite that computes what the source computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models_for_tests import keras_net, run_tflite, tflite_of
from tasks.errors import StepError
from tasks.model import importers
from tasks.steps import import_model
from tasks.tflite import flatbuffer, opcodes

X = np.random.default_rng(3).random((1, 12, 12, 3), dtype=np.float32)


def do_import(tmp_path: Path, source: Path, kind: str = "file", input_shape=None, **kw) -> tuple[bytes, dict]:
    out, facts = tmp_path / "out" / "m_float.tflite", tmp_path / "out" / "import.json"
    import_model.run(
        import_model.Options(
            source=source,
            kind=kind,
            function=kw.get("function"),
            args_json=kw.get("args_json", "{}"),
            input_shape=tuple(input_shape) if input_shape else None,
            label="models.m",
            source_files=tuple(sorted(p for p in source.rglob("*") if p.is_file())) if source.is_dir() else (source,),
            out=out,
            facts=facts,
        )
    )
    return out.read_bytes(), json.loads(facts.read_text())


def assert_canonical(content: bytes) -> None:
    from ai_edge_litert.interpreter import Interpreter

    model = flatbuffer.read_bytes(content, "m")
    sg = model.subgraphs[0]
    assert [int(d) for d in sg.tensors[sg.inputs[0]].shape][0] == 1
    assert all(t.shapeSignature is None or -1 not in list(t.shapeSignature) for t in sg.tensors)
    assert list(Interpreter(model_content=content).get_signature_list()) == ["serving_default"]
    # garbage collected: every opcode used, every non-empty buffer referenced
    used_codes = {op.opcodeIndex for op in sg.operators}
    assert used_codes == set(range(len(model.operatorCodes)))
    referenced = {t.buffer for t in sg.tensors} | {m.buffer for m in model.metadata or []} | {0}
    assert referenced == set(range(len(model.buffers)))
    assert not {"SHAPE", "PACK", "STRIDED_SLICE", "DEQUANTIZE", "DENSIFY"} & set(opcodes.op_histogram(model))


def test_fp16_weights_are_folded_to_float32(tmp_path: Path):
    model = keras_net()
    source = tmp_path / "fp16.tflite"
    source.write_bytes(tflite_of(model, float16=True))
    assert "DEQUANTIZE" in opcodes.op_histogram(flatbuffer.read(source))
    content, facts = do_import(tmp_path, source)
    assert_canonical(content)
    assert facts["folded"]["DEQUANTIZE"] == opcodes.op_histogram(flatbuffer.read(source))["DEQUANTIZE"]
    expected, got = run_tflite(source.read_bytes(), X)[0], run_tflite(content, X)[0]
    np.testing.assert_array_equal(got, expected)
    # the DEQUANTIZE opcode and the fp16 buffers are gone, float32 ones took their place
    src, out = flatbuffer.read(source), flatbuffer.read_bytes(content, "m")
    assert len(out.operatorCodes) < len(src.operatorCodes)
    fp16 = [t for t in src.subgraphs[0].tensors if t.type == flatbuffer.schema.TensorType.FLOAT16]
    assert fp16 and not [t for t in out.subgraphs[0].tensors if t.type == flatbuffer.schema.TensorType.FLOAT16]


def test_sparse_weights_are_densified(tmp_path: Path):
    source = tmp_path / "sparse.tflite"
    source.write_bytes(tflite_of(keras_net(sparse=True), sparse=True))
    assert "DENSIFY" in opcodes.op_histogram(flatbuffer.read(source))
    content, facts = do_import(tmp_path, source)
    assert_canonical(content)
    assert facts["folded"]["DENSIFY"] == opcodes.op_histogram(flatbuffer.read(source))["DENSIFY"]
    np.testing.assert_allclose(run_tflite(content, X)[0], run_tflite(source.read_bytes(), X)[0], rtol=0, atol=1e-6)


def test_keras_file_with_dynamic_batch_gets_batch_one(tmp_path: Path):
    model = keras_net(batch=None)
    source = tmp_path / "net.keras"
    model.save(source)
    content, facts = do_import(tmp_path, source)
    assert_canonical(content)
    assert facts["inputs"][0]["shape"] == [1, 12, 12, 3]
    np.testing.assert_allclose(run_tflite(content, X)[0], np.asarray(model(X)), rtol=0, atol=1e-5)


def test_dynamic_batch_tflite_is_fixed(tmp_path: Path):
    source = tmp_path / "dyn.tflite"
    source.write_bytes(tflite_of(keras_net(batch=None)))
    sg = flatbuffer.read(source).subgraphs[0]
    assert list(sg.tensors[sg.inputs[0]].shapeSignature)[0] == -1
    content, facts = do_import(tmp_path, source)
    assert facts["inputs"][0]["shape"] == [1, 12, 12, 3]
    model = flatbuffer.read_bytes(content, "m")
    assert all(t.shapeSignature is None for t in model.subgraphs[0].tensors)
    # the dynamic-batch shape arithmetic is folded away; only the reshape stays
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= set(facts["folded"])
    assert opcodes.op_histogram(model) == {"CONV_2D": 2, "FULLY_CONNECTED": 1, "RESHAPE": 1}
    np.testing.assert_allclose(run_tflite(content, X)[0], run_tflite(source.read_bytes(), X)[0], rtol=0, atol=1e-6)


def test_saved_model_source(tmp_path: Path):
    import tensorflow as tf

    model = keras_net(batch=None)
    folder = tmp_path / "saved"
    model.export(str(folder), format="tf_saved_model", verbose=False)
    content, facts = do_import(tmp_path, folder)
    assert_canonical(content)
    np.testing.assert_allclose(run_tflite(content, X)[0], np.asarray(model(tf.constant(X))), rtol=0, atol=1e-5)


def test_builder_source(tmp_path: Path):
    builder = tmp_path / "b.py"
    builder.write_text(
        "from models_for_tests import keras_net\n\ndef build(batch=None):\n    return keras_net(batch)\n"
    )
    content, facts = do_import(tmp_path, builder, kind="builder", function="build", args_json='{"batch": null}')
    assert_canonical(content)
    assert facts["max_rel_diff"] <= importers.TOLERANCE


def test_builder_without_function(tmp_path: Path):
    builder = tmp_path / "b.py"
    builder.write_text("x = 1\n")
    with pytest.raises(StepError, match=r"models.m.source.builder: .*b.py has no function 'build'"):
        do_import(tmp_path, builder, kind="builder", function="build")


def test_input_shape_that_does_not_fit(tmp_path: Path):
    source = tmp_path / "dyn.tflite"
    source.write_bytes(tflite_of(keras_net(batch=None)))
    with pytest.raises(
        StepError,
        match=r"input_shape \[1, 10, 10, 3\] does not fit input 'serving_default_image:0' of shape \[-1, 12, 12, 3\]",
    ):
        do_import(tmp_path, source, input_shape=[1, 10, 10, 3])


def test_corrupt_tflite(tmp_path: Path):
    source = tmp_path / "bad.tflite"
    source.write_bytes(b"\x00" * 64)
    with pytest.raises(StepError, match="not a TFLite flatbuffer"):
        do_import(tmp_path, source)
    assert not (tmp_path / "out" / "m_float.tflite").exists()


def with_custom_ops(content: bytes, codes: list[str]) -> bytes:
    """The model with its first ops turned into custom operators named ``codes`` (as MediaPipe's models carry)."""
    model = flatbuffer.read_bytes(content, "m")
    sg = model.subgraphs[0]
    for op, code in zip(sg.operators, codes, strict=False):
        opcode = flatbuffer.schema.OperatorCodeT()
        opcode.builtinCode = opcode.deprecatedBuiltinCode = flatbuffer.schema.BuiltinOperator.CUSTOM
        opcode.customCode = code
        opcode.version = 1
        model.operatorCodes.append(opcode)
        op.opcodeIndex = len(model.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = 0, None
    return flatbuffer.to_bytes(model)


def test_custom_ops_are_named_before_anything_runs(tmp_path: Path):
    source = tmp_path / "custom.tflite"
    source.write_bytes(
        with_custom_ops(tflite_of(keras_net()), ["Landmarks2TransformMatrix", "Landmarks2TransformMatrix"])
    )
    with pytest.raises(StepError) as info:
        do_import(tmp_path, source)
    message = str(info.value)
    assert message.startswith(
        "models.m.source: the model has custom operators that neither LiteRT's builtin kernels nor Vela run: "
        "Landmarks2TransformMatrix ×2 (nodes: "
    )
    assert message.endswith(  # every output needs them, and they start at the input: no cut to propose
        "NPUForge has no rewrite for them; build prune variants without them: prune the model's inputs or outputs so "
        "that no custom operator is left, and list those variants in builds:"
    )
    assert "Traceback" not in message and not (tmp_path / "out" / "m_float.tflite").exists()
    found = opcodes.custom_ops(flatbuffer.read(source))
    assert list(found) == ["Landmarks2TransformMatrix"] and len(found["Landmarks2TransformMatrix"]) == 2
