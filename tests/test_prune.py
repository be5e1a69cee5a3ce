"""prune: a real multi-head model cut at named tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models_for_tests import run_tflite
from tasks.errors import StepError
from tasks.steps import import_model, prune
from tasks.tflite import flatbuffer, opcodes


def three_heads():
    import keras

    keras.utils.set_random_seed(2)
    x_in = keras.Input(shape=(8, 8, 3), batch_size=1, name="image")
    pre = keras.layers.Conv2D(4, 1, name="pre")(x_in)
    body = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="body")(pre)
    flat = keras.layers.Flatten()(body)
    a = keras.layers.Dense(3, name="a")(flat)
    b = keras.layers.Dense(2, activation="softmax", name="b")(flat)
    c = keras.layers.Conv2D(1, 1, activation="sigmoid", name="c")(body)
    return keras.Model(x_in, [a, b, c])


@pytest.fixture(scope="module")
def float_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("heads")
    builder = folder / "heads.py"
    builder.write_text("from test_prune import three_heads\n\ndef build():\n    return three_heads()\n")
    out = folder / "heads_float.tflite"
    import_model.run(
        import_model.Options(
            source=builder,
            kind="builder",
            function="build",
            args_json="{}",
            input_shape=None,
            label="models.heads",
            source_files=(builder,),
            out=out,
            facts=folder / "i.json",
        )
    )
    return out


def outputs_by_name(content: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=content).get_signature_runner()
    (name,) = runner.get_input_details()
    return runner(**{name: x})


def do_prune(float_model: Path, tmp_path: Path, outputs, inputs=None) -> bytes:
    out = tmp_path / "p.tflite"
    prune.run(
        prune.Options(
            outputs=tuple(outputs),
            inputs=tuple(inputs) if inputs else None,
            label="models.heads.prune.x",
            model=float_model,
            out=out,
            facts=tmp_path / "p.json",
        )
    )
    return out.read_bytes()


def test_kept_outputs_identical_and_in_order(float_model: Path, tmp_path: Path):
    x = np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32)
    full = outputs_by_name(float_model.read_bytes(), x)
    assert sorted(full) == ["a", "b", "c"]
    content = do_prune(float_model, tmp_path, ["c", "a"])
    kept = outputs_by_name(content, x)
    assert sorted(kept) == ["a", "c"]
    np.testing.assert_array_equal(kept["a"], full["a"])
    np.testing.assert_array_equal(kept["c"], full["c"])
    model = flatbuffer.read_bytes(content, "p")
    sg = model.subgraphs[0]
    sig = model.signatureDefs[0]
    assert [flatbuffer.tensor_name(sg.tensors[i]) for i in sg.outputs] == [
        flatbuffer.tensor_name(sg.tensors[t.tensorIndex]) for t in sig.outputs
    ]
    assert [t.name.decode() for t in sig.outputs] == ["c", "a"]  # the given order


def test_unused_opcodes_and_buffers_are_collected(float_model: Path, tmp_path: Path):
    before = flatbuffer.read(float_model)
    content = do_prune(float_model, tmp_path, ["a"])
    after = flatbuffer.read_bytes(content, "p")
    assert "SOFTMAX" in opcodes.op_histogram(before) and "LOGISTIC" in opcodes.op_histogram(before)
    assert set(opcodes.op_histogram(after)) == {"CONV_2D", "RESHAPE", "FULLY_CONNECTED"}
    assert len(after.operatorCodes) == 3
    assert len(after.buffers) < len(before.buffers)
    sg = after.subgraphs[0]
    referenced = {t.buffer for t in sg.tensors} | {m.buffer for m in after.metadata or []} | {0}
    assert referenced == set(range(len(after.buffers)))
    assert len(content) < float_model.stat().st_size


def test_unknown_tensor_lists_closest_names(float_model: Path, tmp_path: Path):
    with pytest.raises(StepError) as info:
        do_prune(float_model, tmp_path, ["bb"])
    message = str(info.value)
    assert message.startswith("models.heads.prune.x.outputs: no tensor named 'bb' in the model; closest: ")
    assert "b" in message.split("closest: ")[1].split(", ")


def test_inputs_cut_off_leading_layers(float_model: Path, tmp_path: Path):
    model = flatbuffer.read(float_model)
    sg = model.subgraphs[0]
    pre = next(
        flatbuffer.tensor_name(sg.tensors[op.outputs[0]])
        for op in sg.operators
        if "pre" in flatbuffer.tensor_name(sg.tensors[op.outputs[0]])
    )
    content = do_prune(float_model, tmp_path, ["a"], inputs=[pre])
    cut = flatbuffer.read_bytes(content, "p")
    assert [int(d) for d in cut.subgraphs[0].tensors[cut.subgraphs[0].inputs[0]].shape] == [1, 8, 8, 4]
    assert opcodes.op_histogram(cut)["CONV_2D"] == 1
    # the same numbers as the full model fed through the cut-off layer
    from ai_edge_litert.interpreter import Interpreter

    x = np.random.default_rng(1).random((1, 8, 8, 3), dtype=np.float32)
    full = Interpreter(model_content=float_model.read_bytes(), experimental_preserve_all_tensors=True)
    full.allocate_tensors()
    full.set_tensor(full.get_input_details()[0]["index"], x)
    full.invoke()
    pre_value = full.get_tensor(next(i for i, t in enumerate(sg.tensors) if flatbuffer.tensor_name(t) == pre))
    np.testing.assert_array_equal(run_tflite(content, pre_value)[0], outputs_by_name(float_model.read_bytes(), x)["a"])


def test_constant_output_is_refused(float_model: Path, tmp_path: Path):
    model = flatbuffer.read(float_model)
    sg = model.subgraphs[0]
    weights = next(
        flatbuffer.tensor_name(t) for t in sg.tensors if t.buffer and model.buffers[t.buffer].data is not None
    )
    with pytest.raises(StepError, match=f"'{weights}' is not computed from the model's inputs"):
        do_prune(float_model, tmp_path, [weights])
