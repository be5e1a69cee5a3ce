"""schema/project.schema.json is generated from the declared keys; the errors it gives still name file:line: path."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

import pytest

from support import write
from tasks import config
from tasks.config import declared
from tasks.errors import ConfigError
from tasks.keys import Keys, integer, string
from tasks.model import schemes
from tasks.model.metrics import TASKS
from tasks.toolchains.registry import TOOLCHAINS

SCHEMA = declared.project_schema()


def test_the_committed_schema_is_generated_from_the_declarations():
    committed, generated = config.SCHEMA_PATH.read_text(), declared.render()
    changed = list(difflib.unified_diff(committed.splitlines(), generated.splitlines(), "committed", "declared", n=1))
    assert committed == generated, (
        f"schema/project.schema.json differs from the keys declared in tasks/ (tasks/config/declared.py and the "
        f"scheme, task and toolchain tables it composes); run `{declared.REGENERATE}` and commit it:\n"
        + "\n".join(changed[:40])
    )


def test_scheme_types_and_their_keys_come_from_the_scheme_table():
    quantization = SCHEMA["$defs"]["quantization"]
    assert quantization["properties"]["type"]["enum"] == [s.name for s in schemes.SCHEMES if s.declared]
    assert quantization["properties"]["type"]["description"].startswith("int8: integer inside, calibrated; ")
    for s in (s for s in schemes.SCHEMES if s.declared):
        assert f"{s.name}: {s.doc}" in quantization["properties"]["type"]["description"]
        assert all(quantization["properties"][k.name] == k.schema() for k in s.keys), s.name
    assert quantization["properties"]["io"]["enum"] == ["float32", "int8", "uint8", "int16"]


def test_the_task_object_is_one_definition_composed_from_the_task_table():
    task = SCHEMA["$defs"]["model"]["properties"]["task"]
    assert task["oneOf"][1] == {"$ref": "#/$defs/task"}
    assert task["oneOf"][2]["items"] == {"$ref": "#/$defs/task"}
    properties = SCHEMA["$defs"]["task"]["properties"]
    assert properties["type"]["enum"] == [t.name for t in TASKS]
    assert set(properties) == {"type", "metric"} | {k.name for t in TASKS for k in t.keys}
    assert properties["layout"]["enum"] == [
        "mediapipe_pose",
        "mediapipe_hand",
        "mediapipe_face",
        "mediapipe_ssd",
        "boxes",
    ]
    assert properties["layout"]["description"].startswith("keypoints: mediapipe_pose (39 x 5 values")
    assert " detection: mediapipe_ssd (regressors" in properties["layout"]["description"]
    assert properties["output"]["description"].startswith("classification, keypoints, segmentation: the output ")
    assert properties["pck"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "keypoints: landmark_pck counts landmarks within this fraction of the input's longer side of "
        "the float model's.",
        "default": 0.02,
    }


def test_task_types_that_declare_one_key_differently_are_refused(monkeypatch):
    rows = (
        dataclasses.replace(TASKS[0], keys=(string("output", "one"),)),
        dataclasses.replace(TASKS[1], keys=(integer("output", "two"),)),
    )
    monkeypatch.setattr(declared, "TASKS", rows)
    with pytest.raises(ValueError, match="task key output: keypoints's declaration differs from classification's"):
        declared.task_keys()


def test_each_compiler_takes_the_target_keys_its_toolchains_declare():
    branches = {b["if"]["properties"]["compiler"]["const"]: b["then"] for b in SCHEMA["$defs"]["target"]["allOf"]}
    assert list(branches) == SCHEMA["$defs"]["target"]["properties"]["compiler"]["enum"] == ["vela", "none", "synap"]
    for t in TOOLCHAINS:
        assert t.reads.target_keys <= set(branches[t.compiler]["properties"]), t.name
        assert all(branches[t.compiler]["properties"][k.name] == k.schema() for k in t.reads.target.keys), t.name
    assert set(branches["none"]["properties"]) == {"compiler", "delegate", "delegate_options", "memory"}
    assert all(b["properties"]["memory"]["properties"].keys() == {"sram_kib", "flash_kib"} for b in branches.values())
    assert branches["vela"]["required"] == ["compiler", "accelerator", "system_config", "memory_mode"]
    assert branches["none"]["required"] == ["compiler"]  # delegate: only the delegate toolchain's targets name one
    assert branches["synap"]["required"] == ["compiler", "soc"]


def test_a_declared_default_is_read_once_and_a_missing_one_is_an_error():
    assert declared.QUANTIZATION.value({}, "io") == "float32"
    assert declared.QUANTIZATION.value({"io": "int8"}, "io") == "int8"
    with pytest.raises(KeyError, match="key 'overrides' declares no default"):
        declared.QUANTIZATION.default("overrides")
    with pytest.raises(KeyError, match="no key 'iO' declared"):
        Keys((string("io", "the io"),)).default("iO")


GOOD = """version: 1
name: demo
datasets:
  noise: {random: {seed: 1, count: 4}}
models:
  net:
    source: net.tflite
    calibration: noise
quantization:
  int8: {type: int8}
  auto: {type: auto, goal: {metric: snr_db, min: 20}, budget: {target: u55, max_ms: 5}}
targets:
  u55: {compiler: vela, accelerator: ethos-u55-128,
        system_config: Ethos_U55_High_End_Embedded, memory_mode: Shared_Sram}
boards:
  phone: {transport: adb, serial: "1", targets: [u55], benchmark: {runs: 10}}
"""


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            ("memory_mode: Shared_Sram}", "memory_mode: Shared_Sram, memry: 1}"),
            "project.yaml:14: targets.u55.memry: unknown key 'memry'; allowed keys: accelerator, arena_cache_size, "
            "compiler, config, ignore_ops, memory, memory_mode, optimise, separate_io_regions, system_config, "
            "tensor_allocator",
        ),
        (
            ("max_ms: 5}", "max_ms: 5, margin: 1}"),
            "project.yaml:11: quantization.auto.budget.margin: unknown key 'margin'; allowed keys: max_ms, target",
        ),
        (("count: 4", "count: four"), "project.yaml:4: datasets.noise.random.count: 'four' is not of type integer"),
        (("min: 20", "min: high"), "project.yaml:11: quantization.auto.goal.min: 'high' is not of type number"),
        (
            ("max_ms: 5", "max_ms: 0"),
            "project.yaml:11: quantization.auto.budget.max_ms: 0 is out of range (exclusiveMinimum 0)",
        ),
        (("runs: 10", "runs: 0"), "project.yaml:16: boards.phone.benchmark.runs: 0 is out of range (minimum 1)"),
        (
            ("type: int8}", "type: int8, io: int4}"),
            "project.yaml:10: quantization.int8.io: 'int4' is not one of float32, int8, uint8, int16",
        ),
        (
            ("ethos-u55-128", "ethos-u55-96"),
            "project.yaml:13: targets.u55.accelerator: 'ethos-u55-96' is not one of ethos-u55-32, ethos-u55-64, "
            "ethos-u55-128, ethos-u55-256, ethos-u65-256, ethos-u65-512, ethos-u85-128, ethos-u85-256, ethos-u85-512, "
            "ethos-u85-1024, ethos-u85-2048",
        ),
        (
            ("type: int8}", "type: int4}"),
            "project.yaml:10: quantization.int8.type: 'int4' is not one of int8, int16x8, auto, float16, dynamic, "
            "uint8, int16",
        ),
    ],
)
def test_config_errors_name_the_file_line_and_yaml_path(tmp_path: Path, replace, message):
    (tmp_path / "net.tflite").write_bytes(b"")
    assert replace[0] in GOOD
    path = write(tmp_path / "project.yaml", GOOD.replace(*replace))
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).replace(str(tmp_path) + "/", "") == message


def test_a_bad_task_setting_names_the_task(tmp_path: Path):
    (tmp_path / "net.tflite").write_bytes(b"")
    text = GOOD.replace("    calibration: noise\n", "    calibration: noise\n    task: {type: keypoints, pck: 0}\n")
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path / "project.yaml", text))
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith("project.yaml:9: models.net.task: ")
