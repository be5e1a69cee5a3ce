"""The depth_to_space rewrite: exact in float, within one step in int8, 100 % NPU in Vela, named by analyse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models_for_tests import calibrated_by_step, imported, run_tflite
from support import doit, ok, ran, write
from tasks.errors import StepError
from tasks.model.datasets import Preprocess, Samples
from tasks.model.rewrites import depth_to_space
from tasks.steps import quantize, rewrite
from tasks.tflite import flatbuffer, opcodes
from tasks.toolchains.vela import compile as compile_step
from tasks.toolchains.vela.settings import VelaSettings

U65 = {
    "accelerator": "ethos-u65-256",
    "system_config": "Ethos_U65_High_End",
    "memory_mode": "Dedicated_Sram",
    "optimise": "Performance",
    "arena_cache_size": None,
    "config": None,  # None: Vela's own Arm/vela.ini
}


def d2s_net(block: int = 2, depth: int = 4):
    """conv → DEPTH_TO_SPACE(block) → conv, as MediaPipe's detector upsamples."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(6, 6, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(block * block * depth, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: tf.nn.depth_to_space(t, block), name="d2s")(x)
    outputs = keras.layers.Conv2D(3, 3, padding="same", name="head")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def nets(tmp_path_factory) -> dict[int, Path]:
    out = {}
    for block in (2, 3, 4):
        folder = tmp_path_factory.mktemp(f"d2s{block}")
        out[block] = imported(folder, d2s_net(block))
    return out


def rewritten(model: Path, tmp_path: Path, names=("depth_to_space",)) -> tuple[Path, dict]:
    out = tmp_path / f"{model.stem}_rewritten.tflite"
    rewrite.run(
        rewrite.Options(
            rewrites=tuple(names), label="rewrite:net", model=model, out=out, facts=tmp_path / "rewrite.json"
        )
    )
    return out, json.loads((tmp_path / "rewrite.json").read_text())


@pytest.mark.parametrize("block", [2, 4])
def test_the_rewritten_float_model_gives_identical_outputs(nets, tmp_path, block):
    model = nets[block]
    out, facts = rewritten(model, tmp_path)
    ops = opcodes.op_histogram(flatbuffer.read(out))
    assert "DEPTH_TO_SPACE" not in ops and ops["TRANSPOSE_CONV"] == {2: 1, 4: 2}[block]
    assert facts["records"][0]["done"] and facts["max_abs_diff_of_range"] == 0.0
    x = np.random.default_rng(7).uniform(-1, 1, (1, 6, 6, 3)).astype(np.float32)
    (a,), (b,) = run_tflite(model.read_bytes(), x), run_tflite(out.read_bytes(), x)
    assert np.array_equal(a, b)  # max diff 0.0: the same products, summed with zeros


def test_a_block_that_does_not_fit_is_left_with_the_reason(nets, tmp_path):
    out, facts = rewritten(nets[3], tmp_path)
    assert facts["records"] == [
        {
            "rewrite": "depth_to_space",
            "op": "DEPTH_TO_SPACE",
            "name": facts["records"][0]["name"],
            "block": 3,
            "done": False,
            "reason": "block size 3 is not a power of two; Vela's TRANSPOSE_CONV takes stride 2x2 only",
        }
    ]
    assert out.read_bytes() == nets[3].read_bytes()  # untouched, byte for byte


def test_a_rewrite_that_changed_the_arithmetic_fails_naming_itself(nets, tmp_path, monkeypatch):
    right = depth_to_space.stage_weights
    monkeypatch.setattr(depth_to_space, "stage_weights", lambda *a: np.roll(right(*a), 1, axis=0))
    with pytest.raises(StepError) as err:
        rewritten(nets[2], tmp_path)
    assert str(err.value).startswith("rewrite:net: the depth_to_space rewrite changed the outputs (max abs difference ")
    assert "switch it off with rewrites: [] and report the model" in str(err.value)
    assert not (tmp_path / "net_float_rewritten.tflite").exists()


def _int8(model: Path, out: Path) -> Path:
    """The real quantize step, integer I/O, calibrated on 16 uniform samples in [-1, 1)."""
    quantize.run(
        quantize.Options(
            scheme=quantize.Scheme(type="int8", io="int8", per_channel=True, overrides=()),
            label="net/int8",
            where=quantize.Where(scheme="int8", model="models.net", unit="models.net"),
            model=model,
            out=out,
            facts=out.with_suffix(".json"),
            **calibrated_by_step(model, UNIFORM_16, out.with_name(f"{out.stem}_calibrated")),
        )
    )
    return out


UNIFORM_16 = Samples(
    name="random",
    kind="random",
    preprocess=Preprocess(size=None, resize="letterbox", mean=(0.0,), scale=(1.0,), color="rgb"),
    seed=0,
    count=16,
    low=-1.0,
    high=1.0,
    limit=None,
    files=(),
)


def test_int8_of_the_rewritten_model_is_within_one_step_of_int8_of_the_original(nets, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    before = _int8(nets[2], tmp_path / "before.tflite")
    after = _int8(rewritten(nets[2], tmp_path)[0], tmp_path / "after.tflite")
    outputs = []
    for path in (before, after):
        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        detail, result = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        xs = np.random.default_rng(11).uniform(-1, 1, (8, 1, 6, 6, 3)).astype(np.float32)
        scale, zero = detail["quantization"]
        got = []
        for x in xs:
            interpreter.set_tensor(detail["index"], np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8))
            interpreter.invoke()
            got.append(interpreter.get_tensor(result["index"]).astype(np.int32))
        outputs.append((np.stack(got), result["quantization"]))
    (a, qa), (b, qb) = outputs
    assert qa == pytest.approx(qb, rel=1e-6)  # the same output scale and zero point
    assert np.abs(a - b).max() <= 1  # within one quantization step, on the same inputs


def test_vela_puts_the_rewritten_model_entirely_on_the_npu(nets, tmp_path):
    counts = {}
    for label, model in (("before", nets[2]), ("after", rewritten(nets[2], tmp_path)[0])):
        q = _int8(model, tmp_path / f"{label}_int8.tflite")
        folder = tmp_path / label
        compile_step.run(
            compile_step.Options(
                settings=VelaSettings(**U65),
                label=f"net@{label}",
                model=q,
                out=folder / "net_vela.tflite",
                facts=folder / "compile.json",
                summary=folder / "summary.csv",
                per_layer=folder / "per-layer.csv",
                log=folder / "vela.log",
            )
        )
        facts = json.loads((folder / "compile.json").read_text())
        counts[label] = (facts["ops"], [f["op"] for f in facts["cpu_fallback"]])
    assert counts["before"][0]["cpu"] == 1 and counts["before"][1] == ["DEPTH_TO_SPACE"]
    assert counts["after"][0]["cpu"] == 0 and counts["after"][1] == []
    assert counts["after"][0]["npu"] >= counts["before"][0]["npu"]


PROJECT = """
version: 1
name: d2s
datasets:
  noise: {{random: {{seed: 0, count: 8, low: -1, high: 1}}}}
models:
  net:
    source: {source}
    calibration: noise
{rewrites}
quantization:
  int8_io: {{type: int8, io: int8}}
targets:
  u65: {{compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}}
"""


def test_the_build_rewrites_by_default_and_analyse_names_the_rewrite(nets, tmp_path):
    (tmp_path / "net.tflite").write_bytes(nets[2].read_bytes())
    write(tmp_path / "project.yaml", PROJECT.format(source="net.tflite", rewrites=""))
    proc = ok(doit(tmp_path))
    assert "rewrite:net" in ran(proc)
    assert "depth_to_space: 1 of 1 DEPTH_TO_SPACE rewritten" in proc.stdout
    results = json.loads((tmp_path / "build" / "results.json").read_text())["variants"][0]
    assert results["ops"]["cpu"] == 0 and results["cpu_fallback"] == []
    assert [r["rewrite"] for r in results["rewrites"]] == ["depth_to_space"]
    (rewritten_finding,) = [f for f in results["findings"] if f["kind"] == "rewritten"]
    assert rewritten_finding["detail"].startswith(
        "DEPTH_TO_SPACE (left on the CPU by Vela) became 1 x TRANSPOSE_CONV (stride 2, 2x2 one-hot kernel) "
        "by the depth_to_space rewrite, now on the NPU"
    )
    layer = next(x for x in results["layers"] if x["name"] == rewritten_finding["layer"])
    assert layer["op"].startswith("TransposeConv") and rewritten_finding["cycles_pct"] == layer["cycles_pct"]

    # switched off: the op is back on the CPU, and the finding suggests the rewrite
    write(tmp_path / "project.yaml", PROJECT.format(source="net.tflite", rewrites="    rewrites: []"))
    proc = ok(doit(tmp_path))
    assert not any(s.startswith("rewrite:") for s in ran(proc))
    results = json.loads((tmp_path / "build" / "results.json").read_text())["variants"][0]
    assert results["ops"]["cpu"] == 1 and results["rewrites"] is None
    (fallback,) = [f for f in results["findings"] if f["kind"] == "cpu_fallback"]
    assert fallback["action"].startswith(
        "switch on the depth_to_space rewrite (the model's rewrites: [depth_to_space]): no NPU kernel"
    )
