"""project.yaml settings that are valid but would do nothing: a warning naming file:line and YAML path, the
project loads all the same (tasks/config/rules.py CAUTIONS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import doit, ok, write
from tasks import config
from tasks.config.quality_gates import KNOWN

PROJECT = """
version: 1
name: demo
datasets:
  pics: {images: "data/*.png"}
models:
  net:
    source: net.tflite
    calibration: pics
  other:
    source: net.tflite
    calibration: pics
quantization:
  int8: {type: int8}
  a16w8: {type: int16x8}
targets:
  imx93: {compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}
  cpu: {compiler: none}
"""


@pytest.fixture
def warnings_of(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")
    (tmp_path / "m.py").write_text("def score(reference, quantized):\n    return {'score': 1.0}\n")

    def load(*edits: tuple[str, str], extra: str = "") -> list[str]:
        text = PROJECT
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        said: list[str] = []
        config.load(write(tmp_path / "project.yaml", text + extra), said)
        return [line.replace(str(tmp_path) + "/", "") for line in said]

    return load


NET = "  net:\n    source: net.tflite\n    calibration: pics\n"


def task(*lines: str) -> tuple[str, str]:
    """An edit giving model net these lines."""
    return NET, NET + "".join(f"    {line}\n" for line in lines)


def gate(rule: str) -> str:
    return f"gates:\n  - {rule}\n"


def test_a_task_without_a_validation_dataset_is_never_evaluated(warnings_of):
    assert warnings_of(task("task: classification")) == [
        "project.yaml:9: models.net.task: the model has no validation dataset, so its task is never evaluated (no "
        "task metric, no gate on one); add validation: DATASET to models.net (datasets: pics)"
    ]
    assert warnings_of(task("task: classification", "validation: pics")) == []
    assert warnings_of(task('task: {metric: "m.py:score"}'))[0].startswith("project.yaml:9: models.net.task: ")


def test_a_gate_whose_globs_select_no_variant(warnings_of):
    assert warnings_of(extra=gate("{models: nett, metric: snr_db, min: 10}")) == [
        "project.yaml:19: gates[0].models: 'nett' matches none of the built models (net, other), so gates[0] checks "
        "no variant; change the glob"
    ]
    builds = "builds:\n  - {models: [net], quantization: [int8], targets: [imx93]}\n"
    builds += "  - {models: [net], quantization: [a16w8], targets: [cpu]}\n"
    assert warnings_of(extra=builds + gate("{quantization: int8, targets: cpu, metric: size_bytes, max: 1000}")) == [
        "project.yaml:22: gates[0]: its models, quantization and targets globs match no variant together (the "
        "builds make net/int8@imx93, net/a16w8@cpu), so gates[0] checks no variant; change a glob"
    ]


def test_metrics_of_the_build_itself_need_only_a_variant(warnings_of):
    rules = [f"{{metric: {m}, min: 0}}" for m in ("snr_db", "npu_op_ratio", "est_inference_ms", "board_agreement")]
    assert warnings_of(extra="gates:\n" + "".join(f"  - {r}\n" for r in rules)) == []


def test_a_gate_on_a_task_metric_no_selected_model_gives(warnings_of):
    rule = gate("{models: net, metric: top1_agreement, min: 0.99}")
    expected = (
        "project.yaml:19: gates[0].metric: top1_agreement comes from a classification task on a model with a "
        "validation dataset, and none of the selected models (net) has both, so gates[0] checks no variant; give one "
        "that task and validation: DATASET, or select other models"
    )
    assert warnings_of(extra=rule) == [expected]
    keypoints = task("task: {type: keypoints, layout: mediapipe_hand}", "validation: pics")
    assert warnings_of(keypoints, extra=rule) == [expected.replace(":19:", ":21:")]  # another type's metric
    assert warnings_of(task("task: classification", "validation: pics"), extra=rule) == []
    # a task on a model the gate does not select
    other = "  other:\n    source: net.tflite\n    calibration: pics\n"
    evaluated = (other, other + "    validation: pics\n    task: classification\n")
    assert warnings_of(evaluated, extra=rule) == [expected.replace(":19:", ":21:")]


def test_a_custom_task_may_give_any_name_only_on_the_models_it_is_on(warnings_of):
    custom = task('task: {metric: "m.py:score"}', "validation: pics")
    assert warnings_of(custom, extra=gate("{metric: score, min: 0.5}")) == []
    assert warnings_of(custom, extra=gate("{models: net, metric: top1_agreement, min: 0.5}")) == []
    assert warnings_of(custom, extra=gate("{models: other, metric: score, min: 0.5}")) == [
        "project.yaml:21: gates[0].metric: score comes from a custom task (the only kind that gives other names) on "
        "a model with a validation dataset, and none of the selected models (other) has both, so gates[0] checks no "
        "variant; give one that task and validation: DATASET, or select other models"
    ]


@pytest.mark.skipif("top1_accuracy" not in KNOWN, reason="no label metrics among the metrics gates take")
def test_a_label_metric_needs_a_task_and_a_validation_dataset(warnings_of):
    for metric in ("top1_accuracy", "map50_drop", "miou"):
        rule = gate(f"{{models: net, metric: {metric}, min: 0.5}}")
        assert warnings_of(task("task: classification", "validation: pics"), extra=rule) == []
        (said,) = warnings_of(task("task: classification"), extra=rule)[1:]
        assert said.startswith(f"project.yaml:20: gates[0].metric: {metric} comes from a task (measured against ")


def test_load_prints_them_and_doit_shows_them_every_time(tmp_path: Path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")
    path = write(tmp_path / "project.yaml", PROJECT.replace(NET, NET + "    task: classification\n"))
    config.load(path)
    line = f"WARNING: {path}:9: models.net.task: the model has no validation dataset"
    assert capsys.readouterr().err.startswith(line)
    env = {"NPUFORGE_PLANS": str(tmp_path / "plans")}
    first, again = ok(doit(tmp_path, "list", env=env)), ok(doit(tmp_path, "list", env=env))  # again: a kept plan
    assert "WARNING: project.yaml:9: models.net.task: the model has no validation dataset" in first.stderr
    assert first.stderr == again.stderr and (tmp_path / "plans").is_dir()
