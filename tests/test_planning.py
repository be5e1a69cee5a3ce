"""Planning is pure and light: no TensorFlow, Vela or fabric; predictable task names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, tiny_project
from tasks import config
from tasks.engine import plan
from tasks.errors import ConfigError

HEAVY = (
    "tensorflow",
    "keras",
    "ethosu",
    "fabric",
    "paramiko",
    "ai_edge_litert",
    "ai_edge_quantizer",
    "numpy",
    "fsspec",
    "s3fs",
    "botocore",
    "aiobotocore",
)


def test_loading_dodo_imports_no_heavy_module():
    """`doit list` on the example: dodo.py, loading, validation and planning of every step, nothing heavy."""
    code = (
        "import sys, atexit; "
        f"atexit.register(lambda: print('heavy:', *[m for m in {HEAVY!r} if m in sys.modules])); "
        "from doit.doit_cmd import DoitMain; sys.exit(DoitMain(config_filenames=()).run(['list']))"
    )
    env = {**os.environ, "NPUFORGE_CACHE": "s3://team-cache/npuforge", "NPUFORGE_PLANS": "off"}  # plan it all
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "compile:pose_detection/int8@imx93" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "heavy:"


def test_task_names_and_dependencies(tmp_path: Path):
    project = config.load(tiny_project(tmp_path))
    planning = plan.planning(project)
    steps = planning.steps
    names = [s.task_name for s in steps]
    assert names == [
        "import:tiny",
        "rewrite:tiny",
        "calibrate:tiny",
        "quantize:tiny/int8",
        "quantize:tiny/a16w8",
        "evaluate:tiny/int8",
        "evaluate:tiny/a16w8",
        "limits:tiny/int8",
        "limits:tiny/a16w8",
        "compile:tiny/int8@u65",
        "compile:tiny/int8@u55",
        "compile:tiny/a16w8@u65",
        "compile:tiny/a16w8@u55",
        "analyse:tiny/int8@u65",
        "analyse:tiny/int8@u55",
        "analyse:tiny/a16w8@u65",
        "analyse:tiny/a16w8@u55",
        "results",
        "graph:tiny/int8",
        "graph:tiny/a16w8",
        "report",
    ]
    by_name = {s.task_name: s for s in steps}
    quant = by_name["quantize:tiny/int8"]  # starts from the rewritten float model (a Vela target uses it)
    assert by_name["rewrite:tiny"].file_dep == (project.build_dir / "tiny" / "tiny_float.tflite",)
    assert quant.file_dep[0] == project.build_dir / "tiny" / "tiny_rewritten.tflite"
    # calibrated once for both schemes, on the calibration images, from the same start
    calibrate = by_name["calibrate:tiny"]
    assert sorted(p.name for p in calibrate.file_dep) == ["img0.png", "img1.png", "img2.png", "tiny_rewritten.tflite"]
    assert quant.file_dep[0] in calibrate.file_dep
    assert set(calibrate.targets) <= set(quant.file_dep) and set(calibrate.targets) <= set(
        by_name["quantize:tiny/a16w8"].file_dep
    )
    evaluate = by_name["evaluate:tiny/int8"]
    assert evaluate.file_dep[:2] == (project.build_dir / "tiny" / "tiny_float.tflite", quant.targets[0])
    limits = by_name["limits:tiny/int8"]  # the same start as quantize, one validation sample, the quantized model
    assert quant.file_dep[0] in limits.file_dep and quant.targets[0] in limits.file_dep
    assert [p.name for p in limits.file_dep if p.suffix == ".png"] == ["img0.png"]
    compile_ = by_name["compile:tiny/int8@u65"]
    assert compile_.file_dep == (project.build_dir / "tiny" / "int8" / "tiny_int8.tflite",)
    params = planning.fingerprint(compile_)
    assert params["settings"]["memory_mode"] == "Dedicated_Sram" and "ethos-u-vela" in params["tools"]
    assert compile_.targets == tuple(
        project.build_dir / "tiny" / "int8" / "u65" / name
        for name in ("tiny_int8_vela.tflite", "compile.json", "summary.csv", "per-layer.csv", "vela.log")
    )
    # fingerprints hold no absolute paths, so a moved project stays up to date
    for step in steps:
        assert str(tmp_path) not in repr(planning.fingerprint(step)), step.task_name


def test_doit_list_shows_every_step(tmp_path: Path):
    tiny_project(tmp_path)
    env = {**os.environ, "PWD": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "project=project.yaml", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert "compile:tiny/a16w8@u55" in listed and "quantize:tiny/int8" in listed and "results" in listed
    assert "Ethos_U55_High_End_Embedded" in listed["compile:tiny/a16w8@u55"]


def test_two_models_fetching_the_same_file_name_are_refused(tmp_path: Path):
    sha = "ab" * 32
    (tmp_path / "project.yaml").write_text(
        "version: 1\nname: x\nmodels:\n"
        f"  a: {{source: {{pip: p==1, member: x/net.tflite, sha256: {sha}}}}}\n"
        f"  b: {{source: {{pip: p==1, member: y/net.tflite, sha256: {sha}}}}}\n"
        "quantization: {fp16: {type: float16}}\ntargets: {cpu: {compiler: none}}\n"
    )
    with pytest.raises(ConfigError, match=r"fetch:b and fetch:a both write .*net.tflite"):
        plan.plan(config.load(tmp_path / "project.yaml"))


def test_an_added_option_keeps_the_fingerprints_of_steps_that_do_not_use_it(tmp_path):
    """Samples.labels came after projects were built: a dataset without labels fingerprints as before (its steps do
    not re-run), one with labels fingerprints them."""
    from tasks.model.datasets import Samples
    from tasks.model.labels import Labels
    from tasks.planning.options import fingerprint

    plain = Samples(name="pics", kind="images", files=(tmp_path / "a.png",))
    assert "labels" not in fingerprint(plain, tmp_path)
    labelled = Samples(name="pics", kind="images", files=(tmp_path / "a.png",), labels=Labels(format="folders"))
    assert fingerprint(labelled, tmp_path)["labels"]["format"] == "folders"
