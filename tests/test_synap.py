"""Synaptics SyNAP targets: metafiles equal to the YOLOv5-face walkthrough's, the compile step without
the toolkit, and the parsers of model_info.txt and synap_cli on real output."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from support import DATA, doit, ok, ran, tiny_project, write
from tasks import config
from tasks.engine import plan
from tasks.errors import ConfigError
from tasks.toolchains.synap import adapter as synap_output

SAMPLES = DATA  # real SyNAP metafiles (synap/), model_info.txt and synap_cli output

ANCHORS = "[[],[],[],[4,5,8,10,13,16],[23,29,43,55,73,105],[146,217,231,300,335,433]]"

# One project whose variants are the walkthrough's seven conversions.  The ONNX file stands in for
# the YOLOv5-face export: a metafile depends on names and settings, never on the model's bytes.
FACES = f"""
version: 1
name: faces
datasets:
  qdataset: {{images: "qdataset/*.jpg", preprocess: {{mean: 0, scale: 255}}}}
  raw: {{images: "qdataset/*.jpg", preprocess: {{mean: 0, scale: 1}}}}
models:
  yolo:
    source: models/yolov5s_face_640x480.onnx
    calibration: qdataset
    synap:
      outputs:
        - {{dequantize: true, format: "yolov5 landmarks=5 anchors={ANCHORS}"}}
        - {{dequantize: true}}
        - {{dequantize: true}}
    prune:
      heads:
        outputs: ["349", "369", "389"]
        synap:
          outputs:
            - {{dequantize: true, format: "yolov5 landmarks=5 transposed=1 anchors={ANCHORS}"}}
            - {{dequantize: true}}
            - {{dequantize: true}}
      one:
        outputs: ["369"]
        synap:
          outputs:
            - {{format: "yolov5 landmarks=5 transposed=1 anchors=[[],[],[],[],[23,29,43,55,73,105]]", dequantize: true}}
  yolo_raw:
    source: models/yolov5s_face_640x480.onnx
    calibration: raw
  yolo_nv12:
    source: models/yolov5s_face_640x480.onnx
    calibration: qdataset
    synap:
      inputs: [{{preprocess: {{type: nv12, size: [1024, 768]}}}}]
quantization:
  u8: {{type: uint8, scheme: asymmetric_affine}}
  pc: {{type: int8, scheme: perchannel_symmetric_affine}}
  kl: {{type: uint8, scheme: asymmetric_affine, algorithm: kl_divergence}}
  i16: {{type: int16}}
  mixed: {{type: uint8, overrides: [{{from: Concat_155, type: int16}}]}}
  fp: {{type: float16}}
targets:
  vs680: {{compiler: synap, soc: VS680}}
builds:
  - {{models: [yolo], quantization: [u8], targets: [vs680]}}
  - {{models: [yolo.heads], quantization: [u8, i16], targets: [vs680]}}
  - {{models: [yolo_raw], quantization: [pc, kl], targets: [vs680]}}
  - {{models: [yolo.one], quantization: [mixed], targets: [vs680]}}
  - {{models: [yolo_nv12], quantization: [fp], targets: [vs680]}}
"""

GOLDEN = {
    "1-uint8-asymmetric.yaml": "yolo/u8@vs680",
    "2-pruned-outputs.yaml": "yolo.heads/u8@vs680",
    "3-perchannel.yaml": "yolo_raw/pc@vs680",
    "4-kl-divergence.yaml": "yolo_raw/kl@vs680",
    "5-int16.yaml": "yolo.heads/i16@vs680",
    "6-mixed-one-output.yaml": "yolo.one/mixed@vs680",
    "7-npu-preprocess.yaml": "yolo_nv12/fp@vs680",
}


def faces_project(root: Path) -> Path:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / "yolov5s_face_640x480.onnx").write_bytes(b"stand-in for the ONNX export")
    (root / "qdataset").mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / "qdataset" / f"face{i}.jpg")
    return write(root / "project.yaml", FACES)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    faces_project(root)
    ok(doit(root, "metafile"))
    return root


@pytest.mark.parametrize("sample", sorted(GOLDEN))
def test_the_metafile_is_the_walkthroughs(faces, sample):
    unit_quant, target = GOLDEN[sample].split("@")
    unit, quant = unit_quant.split("/")
    written = faces / "build" / unit / quant / target / "metafile.yaml"
    assert yaml.safe_load(written.read_text()) == yaml.safe_load((SAMPLES / "synap" / sample).read_text())


def test_metafile_steps_run_once_and_follow_their_settings(faces):
    assert ran(ok(doit(faces, "metafile"))) == set()
    text = (faces / "project.yaml").read_text()
    (faces / "project.yaml").write_text(text.replace("algorithm: kl_divergence", "algorithm: moving_average"))
    try:
        assert ran(ok(doit(faces, "metafile"))) == {"metafile:yolo_raw/kl@vs680"}
        meta = yaml.safe_load((faces / "build/yolo_raw/kl/vs680/metafile.yaml").read_text())
        assert meta["quantization"]["algorithm"] == "moving_average"
    finally:
        (faces / "project.yaml").write_text(text)
        ok(doit(faces, "metafile"))


def test_without_the_toolkit_compile_fails_in_one_line_and_writes_no_artifact(faces):
    proc = doit(faces, "compile:yolo/u8@vs680", env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert (
        "compile:yolo/u8@vs680: the SyNAP toolkit is not installed here (no `synap` on PATH); "
        "install it (Synaptics' SyNAP toolkit, a Docker image) and put `synap` on PATH, "
        "or set targets.vs680.toolkit to the command that runs it" in proc.stdout + proc.stderr
    )
    assert not list((faces / "build" / "yolo" / "u8" / "vs680").glob("*.synap"))
    assert (faces / "build" / "yolo" / "u8" / "vs680" / "metafile.yaml").is_file()  # still there to read


def test_a_toolkit_command_that_does_not_exist_is_named(faces, tmp_path):
    text = (faces / "project.yaml").read_text()
    project = tmp_path / "p"
    faces_project(project)
    (project / "project.yaml").write_text(
        text.replace(
            "vs680: {compiler: synap, soc: VS680}",
            "vs680: {compiler: synap, soc: VS680, toolkit: /opt/synap/bin/synap}",
        )
    )
    proc = doit(project, "compile:yolo_raw/pc@vs680")
    assert proc.returncode != 0
    assert "the SyNAP toolkit is not installed here (no /opt/synap/bin/synap)" in proc.stdout + proc.stderr


def test_an_onnx_source_goes_to_synap_as_it_is_and_through_onnx2tf_to_tflite_targets(tmp_path):
    faces_project(tmp_path)
    text = (tmp_path / "project.yaml").read_text()
    text = text.replace(
        "  vs680: {compiler: synap, soc: VS680}\n", "  vs680: {compiler: synap, soc: VS680}\n  cpu: {compiler: none}\n"
    )
    text = text.replace("  fp: {type: float16}\n", "  fp: {type: float16}\n  q8: {type: int8}\n")
    text = text.replace(
        "- {models: [yolo_raw], quantization: [pc, kl], targets: [vs680]}",
        "- {models: [yolo_raw], quantization: [q8], targets: [vs680, cpu]}",
    )
    (tmp_path / "project.yaml").write_text(
        text.replace("  yolo_raw:\n", "  yolo_raw:\n    input_shape: [1, 3, 480, 640]\n")
    )
    steps = {s.task_name: s for s in plan.plan(config.load(tmp_path / "project.yaml"))}
    onnx = tmp_path / "models" / "yolov5s_face_640x480.onnx"
    assert steps["compile:yolo_raw/q8@vs680"].options.model == onnx  # SyNAP takes the ONNX model itself
    convert = steps["convert:yolo_raw"]
    assert convert.options.source == onnx and convert.options.input_shape == (1, 3, 480, 640)
    assert steps["import:yolo_raw"].file_dep == (convert.options.out,)
    assert steps["import:yolo_raw"].options.input_shape is None  # the converted model's shape is static


def test_synap_only_settings_are_refused_for_tflite_targets(tmp_path):
    project = tiny_project(tmp_path)
    text = project.read_text().replace("a16w8: {type: int16x8}", "a16w8: {type: uint8, scheme: asymmetric_affine}")
    project.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(project)
    assert (
        "quantization.a16w8.type: uint8 is a SyNAP data type; variant tiny/a16w8@u65 is quantized by TensorFlow Lite, "
        "which takes int8, int16x8, auto, float16 or dynamic" in str(err.value)
    )


def test_the_plan_hands_synap_the_source_model_and_names_the_kept_outputs(faces):
    project = config.load(faces / "project.yaml")
    steps = {s.task_name: s for s in plan.plan(project)}
    compile_step = steps["compile:yolo.heads/u8@vs680"]
    assert compile_step.options.model == faces / "models" / "yolov5s_face_640x480.onnx"
    assert compile_step.options.soc == "VS680"
    assert not any(name.startswith(("import:", "prune:", "quantize:")) for name in steps)


def test_a_synap_variant_can_be_released(faces, tmp_path):
    shutil.copytree(faces, tmp_path / "faces")
    text = (tmp_path / "faces" / "project.yaml").read_text()
    write(tmp_path / "faces" / "project.yaml", text + 'release: {version: "1.0", variants: ["yolo/u8@vs680"]}\n')
    steps = {s.task_name: s for s in plan.plan(config.load(tmp_path / "faces" / "project.yaml"))}
    (released,) = steps["release"].options.variants
    folder = tmp_path / "faces" / "build" / "yolo" / "u8" / "vs680"
    assert released.artifact == folder / "yolo_u8.synap"
    assert released.reports == (folder / "compile.json",)
    assert tmp_path / "faces" / "models" / "yolov5s_face_640x480.onnx" in released.inputs
    assert list(released.params) == ["compile"]


# ------------------------------------------------------------------ parsers, on real output


def test_model_info_parser_reads_the_real_file():
    info = synap_output.parse_model_info((SAMPLES / "synap" / "model_info.txt").read_text())
    assert [o["name"] for o in info["outputs"]] == [
        "attach_Conv_Conv_212/out0",
        "attach_Conv_Conv_228/out0",
        "attach_Conv_Conv_244/out0",
    ]
    assert info["outputs"][0]["shape"] == [1, 48, 60, 80]
    assert {o["layout"] for o in info["outputs"]} == {"nchw"}
    assert {o["type"] for o in info["outputs"]} == {"float32"}
    assert info["outputs"][0]["format"].startswith("yolov5 landmarks=5 transposed=1 anchors=[[],[],[],[4,5")
    assert info["inputs"] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'inputs:' or 'outputs:' list"),
        ("outputs:\n- name: a\n  shape: [1, x]\n", "outputs[0].shape is not a list of integers"),
        ("outputs: [1, 2]\n", "outputs[0] is not a mapping"),
        ("outputs: [\n", "not YAML"),
    ],
)
def test_model_info_parser_says_what_is_wrong(text, message):
    with pytest.raises(synap_output.ParseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        synap_output.parse_model_info(text)


def test_synap_cli_parser_reads_the_real_output():
    result = synap_output.parse_synap_cli((SAMPLES / "synap_cli.txt").read_text())
    assert result["runs"] == 5
    assert result["first_ms"] == 43.58
    assert result["latency_ms"] == {"avg": 43.29, "min": 42.07, "max": 44.12, "std": 0.68, "median": 43.47}
    assert (result["load_ms"], result["init_ms"]) == (145.11, 28.47)


def test_synap_cli_parser_refuses_other_output():
    text = (SAMPLES / "synap_cli.txt").read_text()
    with pytest.raises(synap_output.ParseError, match="no 'Inference timings"):
        synap_output.parse_synap_cli(text.splitlines()[0])
    with pytest.raises(synap_output.ParseError, match="no 'Predict #i"):
        synap_output.parse_synap_cli(text.splitlines()[-1])


@pytest.mark.parametrize(
    ("board", "message"),
    [
        ("{transport: adb, targets: [vs680]}", "boards.evk: missing required key 'serial'"),
        (
            "{transport: adb, serial: X1, host: evk.local, targets: [vs680]}",
            "boards.evk.host: an adb board is reached by serial; remove host",
        ),
        (
            "{host: local, targets: [vs680]}",
            "boards.evk.targets[0]: 'vs680' is a SyNAP target: its models run on a SyNAP board (synap_cli)",
        ),
        ("{targets: [vs680]}", "boards.evk: missing required key 'host'"),
    ],
)
def test_board_settings_for_synap_and_adb_are_checked(tmp_path, board, message):
    faces_project(tmp_path)
    (tmp_path / "project.yaml").write_text((tmp_path / "project.yaml").read_text() + f"boards:\n  evk: {board}\n")
    with pytest.raises(ConfigError) as err:
        config.load(tmp_path / "project.yaml")
    assert message in str(err.value)
