"""The toolchain registry: every key a variant's toolchain does not use is an error naming the YAML path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import write
from tasks import config
from tasks.errors import ConfigError
from tasks.steps import BY_NAME
from tasks.toolchains import registry as toolchains

BASE = """
version: 1
name: keys
datasets:
  pics: {images: "data/*.png"}
models:
  net:
    source: net.tflite
    calibration: pics
quantization:
  q: {type: int8}
targets:
  u55:
    compiler: vela
    accelerator: ethos-u55-128
    system_config: Ethos_U55_High_End_Embedded
    memory_mode: Shared_Sram
  vs680: {compiler: synap, soc: VS680}
  cpu: {compiler: none}
  npu: {compiler: none, delegate: vx}
builds:
  - {models: [net], quantization: [q], targets: [TARGET]}
"""


def load(tmp_path: Path, target: str, scheme: str = "{type: int8}", model_extra: str = "") -> config.Project:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")
    text = BASE.replace("TARGET", target).replace("q: {type: int8}", f"q: {scheme}")
    text = text.replace("    calibration: pics\n", "    calibration: pics\n" + model_extra)
    return config.load(write(tmp_path / "project.yaml", text))


def error(tmp_path: Path, *args: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, *args)
    return str(info.value).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize(
    ("target", "scheme", "message"),
    [
        (
            "vs680",
            "{type: int8, per_channel: false}",
            "project.yaml:10: quantization.q.per_channel: per_channel is a TensorFlow Lite setting; variant "
            "net/q@vs680 is quantized by SyNAP, which would drop it: use scheme: perchannel_symmetric_affine for "
            "SyNAP, or build this scheme for TensorFlow Lite targets only",
        ),
        (
            "vs680",
            "{type: int8, io: int8}",
            "project.yaml:10: quantization.q.io: io is a TensorFlow Lite setting; for variant net/q@vs680 say "
            "dequantize: per output under the model's synap: outputs",
        ),
        (
            "vs680",
            "{type: dynamic}",
            "project.yaml:10: quantization.q.type: SyNAP has no dynamic-range quantization (variant net/q@vs680); use "
            "uint8, int8, int16 or float16",
        ),
        (
            "vs680",
            "{type: int8, overrides: [{match: conv, type: int16}]}",
            "project.yaml:10: quantization.q.overrides[0].match: SyNAP picks layers by name, not by pattern (variant "
            "net/q@vs680); use from: LAYER (that layer and every layer after it)",
        ),
        (
            "u55",
            "{type: int8, scheme: asymmetric_affine}",
            "project.yaml:10: quantization.q.scheme: scheme is a SyNAP setting; variant net/q@u55 is quantized by "
            "TensorFlow Lite (use per_channel there), so build this scheme for synap targets only",
        ),
        (
            "cpu",
            "{type: int8, algorithm: kl_divergence}",
            "project.yaml:10: quantization.q.algorithm: algorithm is a SyNAP setting; variant net/q@cpu is quantized "
            "by TensorFlow Lite (use per_channel there), so build this scheme for synap targets only",
        ),
        (
            "npu",
            "{type: uint8}",
            "project.yaml:10: quantization.q.type: uint8 is a SyNAP data type; variant net/q@npu is quantized by "
            "TensorFlow Lite, which takes int8, int16x8, auto, float16 or dynamic",
        ),
        (
            "u55",
            "{type: int8, overrides: [{from: x, type: int16}]}",
            "project.yaml:10: quantization.q.overrides[0].type: int16 is a SyNAP data type; for variant net/q@u55 use "
            "int8, int16x8 or float",
        ),
    ],
)
def test_scheme_keys_of_another_toolchain(tmp_path: Path, target: str, scheme: str, message: str):
    assert error(tmp_path, target, scheme) == message


def test_model_and_prune_keys_of_another_toolchain(tmp_path: Path):
    synap = "    synap: {outputs: [{dequantize: true}]}\n"
    assert error(tmp_path, "u55", "{type: int8}", synap) == (
        "project.yaml:9: models.net.synap: synap is used only by the synap toolchain(s); model net is built only "
        "with vela (1 variant(s)): remove it, or build it for such a target"
    )
    rewrites = "    rewrites: []\n"
    assert error(tmp_path, "vs680", "{type: int8}", rewrites) == (
        "project.yaml:9: models.net.rewrites: rewrites is used only by the vela, delegate, cpu toolchain(s); "
        "model net is built only with synap (1 variant(s)): remove it, or build it for such a target"
    )


def test_prune_keys_follow_the_prune_variants_toolchain(tmp_path: Path):
    cut = "    prune:\n      head: {outputs: [y], inputs: [x]}\n"
    text = BASE.replace("    calibration: pics\n", "    calibration: pics\n" + cut).replace("[net]", "[net.head]")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path / "project.yaml", text.replace("TARGET", "vs680")))
    assert str(info.value).endswith(
        "project.yaml:10: models.net.prune.head.inputs: inputs is used only by the vela, delegate, cpu "
        "toolchain(s); prune variant net.head is built only with synap (1 variant(s)): remove it, or build it for "
        "such a target"
    )
    project = config.load(write(tmp_path / "project.yaml", text.replace("TARGET", "u55")))
    assert project.models["net"].prune["head"].inputs == ("x",)


def test_a_scheme_shared_by_two_toolchains_is_held_to_each(tmp_path: Path):
    message = error(tmp_path, "u55, vs680", "{type: int8, per_channel: false}")
    assert "variant net/q@vs680" in message and "net/q@u55" not in message
    assert load(tmp_path, "u55, cpu", "{type: int8, per_channel: false}").quantization["q"].per_channel is False


def test_delegate_options_without_a_delegate(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")
    text = BASE.replace("TARGET", "cpu").replace(
        "cpu: {compiler: none}", "cpu: {compiler: none, delegate_options: {a: 1}}"
    )
    with pytest.raises(
        ConfigError, match=r"targets.cpu.delegate_options: delegate_options need a delegate: name it too"
    ):
        config.load(write(tmp_path / "project.yaml", text))


def test_each_target_gets_its_toolchain(tmp_path: Path):
    project = load(tmp_path, "u55, vs680, cpu, npu")
    assert {n: t.toolchain.name for n, t in project.targets.items()} == {
        "u55": "vela",
        "vs680": "synap",
        "cpu": "cpu",
        "npu": "delegate",
    }


def test_registry_agrees_with_the_step_table_and_the_schema():
    schema = json.loads(config.SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    by_compiler: dict[str, set[str]] = {}
    for branch in defs["target"]["allOf"]:
        compiler = branch["if"]["properties"]["compiler"]["const"]
        by_compiler[compiler] = set(branch["then"]["properties"]) - {"memory"}  # every target's (the part's memory)
    quant_keys = set(defs["quantization"]["properties"])
    for t in toolchains.TOOLCHAINS:
        assert all(kind in BY_NAME for kind in t.steps), t.name
        assert t.reads.target_keys <= by_compiler[t.compiler], t.name
        assert t.reads.quantization_keys <= quant_keys, t.name
    assert by_compiler["vela"] == toolchains.BY_NAME["vela"].reads.target_keys
    assert by_compiler["synap"] == toolchains.BY_NAME["synap"].reads.target_keys
    assert (
        by_compiler["none"]
        == toolchains.BY_NAME["delegate"].reads.target_keys | toolchains.BY_NAME["cpu"].reads.target_keys
    )
    assert quant_keys == set().union(*(t.reads.quantization_keys for t in toolchains.TOOLCHAINS))
