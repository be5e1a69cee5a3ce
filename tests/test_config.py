"""project.yaml validation: every bad input gets one exact line naming file:line, YAML path and fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, write
from tasks import config
from tasks.errors import ConfigError

GOOD = """
version: 1
name: demo
datasets:
  pics: {images: "data/*.png"}
  noise: {random: {seed: 1, count: 4}}
models:
  net:
    source: net.tflite
    calibration: pics
quantization:
  int8: {type: int8}
targets:
  imx93: {compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}
  cpu: {compiler: none}
"""


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")

    def make(text: str = GOOD, replace: tuple[str, str] | None = None) -> Path:
        if replace:
            assert replace[0] in text, replace[0]
            text = text.replace(*replace)
        return write(tmp_path / "project.yaml", text)

    return make


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(path)
    return str(info.value).replace(str(path.parent) + "/", "")


def test_good_project_loads(project):
    p = config.load(project())
    assert [v.id for v in p.variants] == ["net/int8@imx93", "net/int8@cpu"]
    assert p.models["net"].source.path == p.root / "net.tflite"
    assert p.datasets["pics"].files == (p.root / "data" / "a.png",)
    assert p.datasets["noise"].count == 4
    assert p.targets["imx93"].settings.config is None and p.targets["imx93"].settings.optimise == "Performance"
    assert p.build_dir == p.root / "build"


def test_bad_accelerator_names_line_path_and_choices(project):
    path = project(replace=("ethos-u65-256", "ethos-u65-128"))
    assert error_of(path) == (
        f"{path}:13: targets.imx93.accelerator: 'ethos-u65-128' is not one of ethos-u55-32, ethos-u55-64, "
        "ethos-u55-128, ethos-u55-256, ethos-u65-256, ethos-u65-512, ethos-u85-128, ethos-u85-256, "
        "ethos-u85-512, ethos-u85-1024, ethos-u85-2048"
    ).replace(str(path.parent) + "/", "")


def test_unknown_key_is_an_error(project):
    path = project(replace=("    calibration: pics", "    calibration: pics\n    calibraton: pics"))
    assert error_of(path).endswith(
        ":10: models.net.calibraton: unknown key 'calibraton'; allowed keys: "
        "calibration, input_shape, onnx2tf, prune, reference, rewrites, source, synap, task, validation"
    )


def test_unknown_top_level_key(project):
    path = project(GOOD + "extra: 1\n")
    assert error_of(path).endswith(
        ":15: extra: unknown key 'extra'; allowed keys: "
        "boards, build_dir, builds, cache, datasets, gates, models, name, pipelines, quantization, release, targets, "
        "version"
    )


def test_bad_memory_mode_type(project):
    path = project(replace=("memory_mode: Dedicated_Sram", "memory_mode: 3"))
    assert error_of(path).endswith(":13: targets.imx93.memory_mode: 3 is not of type string")


def test_vela_target_missing_required_key(project):
    path = project(replace=(", memory_mode: Dedicated_Sram", ""))
    assert error_of(path).endswith(":13: targets.imx93: missing required key 'memory_mode'")


def test_none_target_rejects_vela_keys(project):
    path = project(replace=("cpu: {compiler: none}", "cpu: {compiler: none, accelerator: ethos-u55-128}"))
    assert error_of(path).endswith(
        ":14: targets.cpu.accelerator: unknown key 'accelerator'; allowed keys: compiler, delegate, delegate_options, "
        "memory"
    )


def test_undefined_dataset(project):
    path = project(replace=("calibration: pics", "calibration: people"))
    assert error_of(path).endswith(
        ":9: models.net.calibration: dataset 'people' is not defined under datasets (defined: noise, pics)"
    )


def test_build_names_undefined_model(project):
    path = project(GOOD + "builds:\n  - {models: [nett], quantization: [int8], targets: [cpu]}\n")
    assert error_of(path).endswith(
        ":16: builds[0].models[0]: 'nett' is not defined under models (or MODEL.PRUNE) (defined: net)"
    )


def test_missing_source_file(project):
    path = project(replace=("source: net.tflite", "source: missing.tflite"))
    assert error_of(path).startswith("project.yaml:8: models.net.source: source 'missing.tflite' does not exist")


def test_glob_matching_nothing(project):
    path = project(replace=('images: "data/*.png"', 'images: "photos/*.jpg"'))
    assert error_of(path).startswith("project.yaml:4: datasets.pics.images: 'photos/*.jpg' matches no file")


def test_bad_sha256(project):
    path = project(replace=("source: net.tflite", "source: {pip: mediapipe==0.10.14, member: a.tflite, sha256: abc}"))
    assert error_of(path).endswith(
        ":8: models.net.source.sha256: 'abc' is not valid: expected a 64-digit lowercase hex sha256"
    )


def test_unpinned_pip_requirement(project):
    sha = "ab" * 32
    path = project(replace=("source: net.tflite", f"source: {{pip: mediapipe, member: a.tflite, sha256: {sha}}}"))
    assert error_of(path).endswith(
        ":8: models.net.source.pip: 'mediapipe' is not valid: expected a pinned requirement such as mediapipe==0.10.14"
    )


def test_integer_scheme_needs_calibration(project):
    path = project(replace=("    calibration: pics\n", ""))
    assert error_of(path).endswith(
        ":7: models.net: quantization 'int8' (int8) needs calibration data; add 'calibration: DATASET' to this model"
    )


def test_io_type_must_fit_scheme(project):
    path = project(replace=("int8: {type: int8}", "int8: {type: int8, io: int16}"))
    assert error_of(path).endswith(
        ":11: quantization.int8.io: io: int16 does not fit type int8; use float32, int8 or uint8"
    )


def test_duplicate_key(project):
    path = project(replace=("  cpu: {compiler: none}", "  cpu: {compiler: none}\n  cpu: {compiler: none}"))
    assert error_of(path).endswith(":15: targets.cpu: duplicate key 'cpu'; keep only one")


def test_yaml_syntax_error(project):
    path = project(replace=("name: demo", "name: [demo"))
    assert error_of(path).startswith("project.yaml:")
    assert "YAML syntax error" in error_of(path)


def test_several_errors_each_on_its_line(project):
    path = project(replace=("version: 1", "version: 2"))
    path.write_text(path.read_text().replace("type: int8", "type: int9"))
    lines = error_of(path).splitlines()
    assert lines == [
        "project.yaml:1: version: 2 must be 1",
        "project.yaml:11: quantization.int8.type: 'int9' "
        "is not one of int8, int16x8, auto, float16, dynamic, uint8, int16",
    ]


def test_missing_project_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such file; create it or pass project=PATH/project.yaml"):
        config.load(tmp_path / "project.yaml")


def test_doit_prints_one_error_line_and_no_traceback(project):
    path = project(replace=("ethos-u65-256", "ethos-u65-128"))
    proc = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), f"project={path}", "list"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"ERROR: {path}:13: targets.imx93.accelerator: 'ethos-u65-128' is not one of")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_repo_example_is_valid():
    p = config.load(REPO / "project.yaml")
    assert {"pose_detection", "pose_landmark", "classifier_c90", "classifier_c96", "text_direction", "digits"} == set(
        p.models
    )
    # 4 models and a prune variant; mixed for the landmark pair; auto for the landmark model; the pose pair's int8
    # schemes on the i.MX8M Plus; the ONNX text-direction classifier's two int8 schemes on the three targets
    assert len(p.variants) == 5 * 3 * 3 + 2 * 3 + 3 + 2 * 2 + 2 * 3 + 3 * 3
    assert p.models["text_direction"].onnx
    assert "pose_landmark.fitness/int8@imx93" in [v.id for v in p.variants]


def test_unknown_system_config_lists_those_of_vela_ini(project):
    path = project(replace=("system_config: Ethos_U65_High_End", "system_config: Ethos_U65_Highend"))
    assert error_of(path).endswith(
        ":13: targets.imx93.system_config: 'Ethos_U65_Highend' is not a System_Config of Arm/vela.ini; one of "
        "Ethos_U55_Deep_Embedded, Ethos_U55_High_End_Embedded, Ethos_U65_Embedded, Ethos_U65_Mid_End, "
        "Ethos_U65_High_End, Ethos_U65_Client_Server, Ethos_U85_SYS_Flash_Low, Ethos_U85_SYS_Flash_High, "
        "Ethos_U85_SYS_DRAM_Low, Ethos_U85_SYS_DRAM_Mid, Ethos_U85_SYS_DRAM_High"
    )


def test_memory_mode_checked_against_the_projects_vela_ini(project, tmp_path: Path):
    (tmp_path / "my.ini").write_text("[System_Config.Board]\ncore_clock=1e9\n[Memory_Mode.Fast]\nconst_mem_area=Axi1\n")
    path = project(replace=("memory_mode: Dedicated_Sram}", "memory_mode: Dedicated_Sram, config: my.ini}"))
    lines = error_of(path).splitlines()
    assert lines == [
        "project.yaml:13: targets.imx93.system_config: 'Ethos_U65_High_End' "
        "is not a System_Config of my.ini; one of Board",
        "project.yaml:13: targets.imx93.memory_mode: 'Dedicated_Sram' is not a Memory_Mode of my.ini; one of Fast",
    ]


def test_prune_variants_expand_and_are_referenced_by_builds(project):
    path = project(
        replace=("    calibration: pics\n", "    calibration: pics\n    prune:\n      head: {outputs: [out]}\n")
    )
    assert [v.id for v in config.load(path).variants] == [
        "net/int8@imx93",
        "net/int8@cpu",
        "net.head/int8@imx93",
        "net.head/int8@cpu",
    ]
    path.write_text(path.read_text() + "builds:\n  - {models: [net.tail], quantization: [int8], targets: [cpu]}\n")
    assert error_of(path).endswith(
        ":18: builds[0].models[0]: 'net.tail' is not defined under models (or MODEL.PRUNE) (defined: net, net.head)"
    )


def test_override_needs_exactly_one_selector(project):
    path = project(
        replace=("int8: {type: int8}", "int8: {type: int8, overrides: [{match: a, from: b, type: int16x8}]}")
    )
    assert error_of(path).endswith(
        ":11: quantization.int8.overrides[0]: give exactly one of "
        "match (a regex on layer output names) or from (a tensor name)"
    )


def test_override_regex_must_compile(project):
    path = project(replace=("int8: {type: int8}", "int8: {type: int8, overrides: [{match: 'conv(', type: float}]}"))
    assert "quantization.int8.overrides[0].match: 'conv(' is not a valid regular expression" in error_of(path)


def test_board_names_undefined_target_and_needs_command(project):
    path = project(GOOD + "boards:\n  b: {host: 10.0.0.2, targets: [imx94], benchmark: {runner: benchmark_model}}\n")
    assert error_of(path).splitlines() == [
        "project.yaml:16: boards.b.targets[0]: 'imx94' is not defined under targets (defined: cpu, imx93)",
        "project.yaml:16: boards.b.benchmark: runner benchmark_model "
        "needs command: the path of benchmark_model on the board",
    ]


def test_a_board_measures_for_at_most_max_seconds_and_unset_it_is_not_part_of_the_settings(project):
    board = "boards:\n  b: {host: 10.0.0.2, targets: [cpu], benchmark: {runs: 20%s}}\n"
    plain = config.load(project(GOOD + board % "")).boards["b"].settings()
    capped = config.load(project(GOOD + board % ", max_seconds: 2")).boards["b"].settings()
    assert "max_seconds" not in plain and capped == {**plain, "max_seconds": 2.0}
    assert "boards.b.benchmark.max_seconds: 0 is out of range (exclusiveMinimum 0)" in error_of(
        project(GOOD + board % ", max_seconds: 0")
    )


def test_release_glob_matching_no_variant(project):
    path = project(GOOD + 'release: {version: "1.0", variants: ["net/int16*"]}\n')
    assert error_of(path).endswith(
        ":15: release.variants[0]: 'net/int16*' matches no variant (ids look like net/int8@imx93, net/int8@cpu)"
    )


def test_cache_folder_url_and_environment(project, monkeypatch):
    monkeypatch.delenv("NPUFORGE_CACHE", raising=False)
    assert config.load(project()).cache is None
    folder = config.load(project(GOOD + "cache: {dir: ../shared, max_size_gb: 0.5}\n")).cache
    assert folder.dir == project().parent / ".." / "shared" and folder.max_bytes == 2**29
    remote = config.load(project(GOOD + "cache: {url: s3://team-cache/npuforge/, read_only: true}\n")).cache
    assert (remote.url, remote.dir, remote.read_only) == ("s3://team-cache/npuforge", None, True)
    assert "cache.url: 'ftp://host/x' is not a store NPUForge knows" in error_of(
        project(GOOD + "cache: {url: ftp://host/x}\n")
    )
    assert "cache" in error_of(project(GOOD + "cache: {dir: a, url: s3://b/c}\n"))  # one or the other
    monkeypatch.setenv("NPUFORGE_CACHE", "s3://team-cache/ci")
    assert config.load(project()).cache.url == "s3://team-cache/ci"
    monkeypatch.setenv("NPUFORGE_CACHE", "nosuch://x/y")
    assert error_of(project()).startswith("NPUFORGE_CACHE=nosuch://x/y: 'nosuch://x/y' is not a store")


def test_tasks_short_long_and_listed_forms(project):
    p = config.load(project(replace=("    calibration: pics\n", "    calibration: pics\n    task: classification\n")))
    assert p.models["net"].tasks == (config.Task(type="classification"),)
    listed = """    calibration: pics
    task:
      - {type: keypoints, output: lm, layout: mediapipe_hand}
      - {metric: "net.py:score"}
"""
    path = project(replace=("    calibration: pics\n", listed))
    (path.parent / "net.py").write_text("def score(r, q):\n    return {'s': 1.0}\n")
    tasks = config.load(path).models["net"].tasks
    assert tasks[0] == config.Task(type="keypoints", settings={"output": "lm", "layout": "mediapipe_hand"})
    assert (tasks[1].type, tasks[1].metric_file, tasks[1].function) == ("custom", path.parent / "net.py", "score")


def test_task_settings_are_checked_against_their_type(project):
    bad = """    calibration: pics
    task:
      - {type: keypoints, anchors: pose_detection}
      - {type: detection}
      - {type: segmentation, layout: boxes}
      - {type: keypoints}
"""
    assert error_of(project(replace=("    calibration: pics\n", bad))).splitlines() == [
        "project.yaml:11: models.net.task[0].anchors: a keypoints task takes no anchors (it takes output, layout, "
        "values, points, coordinates, pck)",
        "project.yaml:12: models.net.task[1]: a mediapipe_ssd detection task needs anchors: pose_detection, "
        "face_detection_short_range or palm_detection (or layout: boxes)",
        "project.yaml:13: models.net.task[2].layout: a segmentation task takes no layout (it takes output, activation, "
        "threshold)",
        "project.yaml:14: models.net.task[3]: a second keypoints task; give a model one task of each type",
    ]


def test_custom_metric_needs_its_file_and_a_type_custom(project):
    text = '    calibration: pics\n    task: {type: keypoints, metric: "m.py:f"}\n'
    assert error_of(project(replace=("    calibration: pics\n", text))) == (
        "project.yaml:10: models.net.task.metric: metric: is for type custom, not keypoints; remove one of them"
    )
    text = '    calibration: pics\n    task: {metric: "missing.py:f"}\n'
    assert error_of(project(replace=("    calibration: pics\n", text))).startswith(
        "project.yaml:10: models.net.task.metric: metric file 'missing.py' does not exist"
    )


def test_split_parts_are_disjoint_fixed_and_checked(project, tmp_path: Path):
    for i in range(10):
        (tmp_path / "data" / f"p{i}.png").write_bytes(b"")
    text = GOOD.replace(
        'pics: {images: "data/*.png"}', 'pics: {images: "data/*.png", split: {calibration: 0.7, validation: 0.3}}'
    )
    text = text.replace("    calibration: pics\n", "    calibration: pics\n    validation: pics\n")
    from tasks.engine import plan

    planning = plan.planning(config.load(project(text)))
    model = planning.project.models["net"]
    calibration = planning.samples("pics", model, "calibration")
    validation, in_sample = planning.validation_samples(model)
    # 11 files: round(7.7) = 8 calibrate, round(3.3) = 3 are held out, none in both
    assert (len(calibration.files), len(validation.files), in_sample) == (8, 3, False)
    assert not set(calibration.files) & set(validation.files) and validation.part == "validation"
    assert planning.samples("pics", model, "validation") == validation  # fixed: the same parts every time
    unsplit = plan.planning(
        config.load(project(GOOD.replace("    calibration: pics\n", "    calibration: pics\n    validation: pics\n")))
    )
    assert unsplit.validation_samples(unsplit.project.models["net"])[1] is True  # in-sample
    too_much = text.replace("validation: 0.3", "validation: 0.5")
    assert (
        error_of(project(too_much))
        == "project.yaml:4: datasets.pics.split: calibration 0.7 + validation 0.5 is more than 1"
    )
    few = text.replace('images: "data/*.png"', 'images: "data/a.png"')
    assert error_of(project(few)) == (
        "project.yaml:4: datasets.pics.split: 1 sample(s) give 1 for calibration and 0 for validation; "
        "add samples or change the shares"
    )


def test_random_data_splits_by_index(project):
    text = GOOD.replace(
        "noise: {random: {seed: 1, count: 4}}",
        "noise: {random: {seed: 1, count: 10}, split: {calibration: 0.5, validation: 0.5}}",
    )
    text = text.replace("    calibration: pics\n", "    calibration: noise\n    validation: noise\n")
    from tasks.engine import plan

    planning = plan.planning(config.load(project(text)))
    model = planning.project.models["net"]
    calibration = planning.samples("noise", model, "calibration")
    validation, in_sample = planning.validation_samples(model)
    assert (calibration.skip, calibration.count, validation.skip, validation.count, in_sample) == (0, 5, 5, 5, False)


def test_gate_metric_must_be_known(project):
    text = GOOD + "gates:\n  - {metric: landmark_px_mea, max: 2}\n"
    assert error_of(project(text)).startswith(
        "project.yaml:16: gates[0].metric: 'landmark_px_mea' is not a metric; one of snr_db, cosine, board_agreement,"
    )
