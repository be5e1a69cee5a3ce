"""Incremental semantics on a real doit database: exactly the steps downstream of a change re-run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from support import doit, ok, ran, write

ALL_COMPILES = {"compile:tiny/int8@u65", "compile:tiny/int8@u55", "compile:tiny/a16w8@u65", "compile:tiny/a16w8@u55"}
ALL_ANALYSES = {name.replace("compile:", "analyse:") for name in ALL_COMPILES}
SUMMARY = {"results", "report"}


def edit(project: Path, old: str, new: str) -> None:
    path = project / "project.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_first_build_writes_results(built_tiny: Path):
    results = json.loads((built_tiny / "build" / "results.json").read_text())
    ids = [v["id"] for v in results["variants"]]
    assert ids == [
        "tiny/int8@u65",
        "tiny/int8@u55",
        "tiny/int8@cpu",
        "tiny/a16w8@u65",
        "tiny/a16w8@u55",
        "tiny/a16w8@cpu",
    ]
    by_id = {v["id"]: v for v in results["variants"]}
    u65 = by_id["tiny/int8@u65"]
    assert u65["artifact"] == "build/tiny/int8/u65/tiny_int8_vela.tflite"
    assert u65["size_bytes"] == (built_tiny / u65["artifact"]).stat().st_size
    assert u65["ops"]["npu"] > 0 and u65["estimate"]["inference_ms"] > 0 and u65["estimate"]["macs"] > 0
    # float I/O leaves exactly the input QUANTIZE and output DEQUANTIZE on the CPU
    assert sorted(f["op"] for f in u65["cpu_fallback"]) == ["DEQUANTIZE", "QUANTIZE"]
    assert by_id["tiny/int8@cpu"]["artifact"] == "build/tiny/int8/tiny_int8.tflite"
    assert by_id["tiny/int8@cpu"]["estimate"] is None and by_id["tiny/int8@cpu"]["ops"] is None
    # accuracy is the quantized model's, for the Vela artifact too
    assert u65["accuracy"]["outputs"] == by_id["tiny/int8@cpu"]["accuracy"]["outputs"]
    assert u65["accuracy"]["samples"] == 3 and "Vela does not change the arithmetic" in u65["accuracy"]["measured_on"]
    assert u65["accuracy"]["outputs"]["logits"]["snr_db"] > 10


def test_second_run_runs_nothing(tiny: Path):
    assert ran(ok(doit(tiny))) == set()


def test_touch_without_change_runs_nothing(tiny: Path):
    later = time.time() + 100
    for p in [tiny / "project.yaml", tiny / "models" / "tiny.py", *sorted((tiny / "data").glob("*.png"))]:
        os.utime(p, (later, later))
    os.utime(tiny / "build" / "tiny" / "tiny_float.tflite", (later, later))
    assert ran(ok(doit(tiny))) == set()


def test_scheme_parameter_reruns_only_that_scheme(tiny: Path):
    edit(tiny, "int8: {type: int8}", "int8: {type: int8, per_channel: false}")
    # per-tensor weights change no per-layer cycle count, so compile.json and the analyses stay
    rerun = {
        "quantize:tiny/int8",
        "evaluate:tiny/int8",
        "limits:tiny/int8",
        "compile:tiny/int8@u65",
        "compile:tiny/int8@u55",
        "graph:tiny/int8",
    }
    assert ran(ok(doit(tiny))) == rerun | SUMMARY


def test_memory_mode_reruns_only_that_targets_compiles(tiny: Path):
    edit(tiny, "memory_mode: Shared_Sram", "memory_mode: Sram_Only")
    rerun = {
        "compile:tiny/int8@u55",
        "compile:tiny/a16w8@u55",
        "analyse:tiny/int8@u55",
        "analyse:tiny/a16w8@u55",
    }
    assert ran(ok(doit(tiny))) == rerun | SUMMARY


def test_calibration_image_reruns_quantize(tiny: Path):
    from PIL import Image

    Image.new("RGB", (20, 20), (200, 10, 10)).save(tiny / "data" / "img1.png")
    steps = ran(ok(doit(tiny)))
    assert {"calibrate:tiny", "quantize:tiny/int8", "quantize:tiny/a16w8"} <= steps
    assert not any(s.startswith(("import:", "fetch:")) for s in steps)


def test_vela_upgrade_reruns_compiles(tiny: Path, tmp_path: Path):
    # Package metadata is what the fingerprint reads: a newer ethos-u-vela
    # dist-info first on the path is what an upgrade looks like to it.
    site = tmp_path / "site"
    write(
        site / "ethos_u_vela-99.0.0.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: ethos-u-vela\nVersion: 99.0.0\n",
    )
    env = {"PYTHONPATH": f"{site}{os.pathsep}{Path(__file__).resolve().parent.parent}"}
    # Same Vela code, so the same bytes: results.json's inputs are unchanged and it stays.
    assert ran(ok(doit(tiny, env=env))) == ALL_COMPILES


def test_builder_argument_reruns_from_import(tiny: Path):
    edit(tiny, "args: {channels: 8}", "args: {channels: 16}")
    steps = ran(ok(doit(tiny)))
    rerun = {
        "import:tiny",
        "rewrite:tiny",
        "calibrate:tiny",
        "quantize:tiny/int8",
        "quantize:tiny/a16w8",
        "evaluate:tiny/int8",
        "evaluate:tiny/a16w8",
        "limits:tiny/int8",
        "limits:tiny/a16w8",
        "graph:tiny/int8",
        "graph:tiny/a16w8",
    }
    assert steps == rerun | ALL_COMPILES | ALL_ANALYSES | SUMMARY


def test_deleted_artifact_is_rebuilt_alone(tiny: Path):
    artifact = tiny / "build" / "tiny" / "int8" / "u65" / "tiny_int8_vela.tflite"
    before = artifact.read_bytes()
    artifact.unlink()
    assert ran(ok(doit(tiny))) == {"compile:tiny/int8@u65"}
    assert artifact.read_bytes() == before  # deterministic: results.json needs no update


def test_no_temporary_files_left(built_tiny: Path):
    leftovers = [p for p in (built_tiny / "build").rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".vela-")]
    assert leftovers == []


def test_other_project_from_repo_dodo_gets_its_own_build(tmp_path: Path):
    import subprocess
    import sys

    from support import REPO, TINY_BUILDER

    project = tmp_path / "elsewhere"
    write(project / "nets" / "tiny.py", TINY_BUILDER)
    write(
        project / "project.yaml",
        """
        version: 1
        name: other
        models:
          tiny: {source: {builder: "nets/tiny.py:build"}}
        quantization:
          fp16: {type: float16}
        targets:
          cpu: {compiler: none}
        """,
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "project=../elsewhere/project.yaml"],
        cwd=elsewhere,
        env={**os.environ, "PWD": str(elsewhere)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ran(proc) == {"import:tiny", "quantize:tiny/fp16", "graph:tiny/fp16", "results", "report"}
    results = json.loads((project / "build" / "results.json").read_text())
    assert [v["id"] for v in results["variants"]] == ["tiny/fp16@cpu"]
    assert results["variants"][0]["artifact"] == "build/tiny/fp16/tiny_fp16.tflite"
    assert (project / "build" / ".doit.db").exists() and not (REPO / "build" / "tiny").exists()


def test_project_vela_ini_is_used_and_tracked(tiny: Path):
    import re

    from tasks.toolchains.vela.rules import vela_default_config

    ini = tiny / "vela.ini"
    ini.write_text(vela_default_config().read_text())
    edit(tiny, "memory_mode: Dedicated_Sram}", "memory_mode: Dedicated_Sram, config: vela.ini}")
    assert ran(ok(doit(tiny))) == {"compile:tiny/int8@u65", "compile:tiny/a16w8@u65"}  # same bytes: results stay

    def u65_ms() -> float:
        results = json.loads((tiny / "build" / "results.json").read_text())
        return next(v for v in results["variants"] if v["id"] == "tiny/int8@u65")["estimate"]["inference_ms"]

    before = u65_ms()
    text = ini.read_text()
    section = text.index("[System_Config.Ethos_U65_High_End]")
    clock = re.compile(r"core_clock=([0-9.e]+)")
    match = clock.search(text, section)
    ini.write_text(text[: match.start()] + f"core_clock={float(match[1]) / 2:.0f}" + text[match.end() :])
    rerun = {
        "compile:tiny/int8@u65",
        "compile:tiny/a16w8@u65",
        "analyse:tiny/int8@u65",
        "analyse:tiny/a16w8@u65",
    }
    assert ran(ok(doit(tiny))) == rerun | SUMMARY
    assert u65_ms() > before  # half the clock: a slower estimate, so Vela read this file


def test_local_board_benchmarks_cpu_variants_and_reruns_on_settings(tiny: Path):
    text = (tiny / "project.yaml").read_text()
    (tiny / "project.yaml").write_text(text + "boards:\n  here: {host: local, targets: [cpu], benchmark: {runs: 3}}\n")
    assert ran(ok(doit(tiny))) == {"benchmark:here:tiny/int8@cpu", "benchmark:here:tiny/a16w8@cpu"} | SUMMARY
    results = json.loads((tiny / "build" / "results.json").read_text())
    by_id = {v["id"]: v for v in results["variants"]}
    assert by_id["tiny/int8@cpu"]["benchmark"]["board"] == "here"
    assert by_id["tiny/int8@cpu"]["benchmark"]["latency_ms"]["avg"] > 0
    assert by_id["tiny/int8@u65"]["benchmark"] is None  # no board serves u65
    assert ran(ok(doit(tiny))) == set()
    edit(tiny, "benchmark: {runs: 3}", "benchmark: {runs: 4}")
    assert ran(ok(doit(tiny))) == {"benchmark:here:tiny/int8@cpu", "benchmark:here:tiny/a16w8@cpu"} | SUMMARY


def test_restored_build_at_another_path_with_new_mtimes_runs_nothing(tiny: Path, tmp_path: Path):
    import shutil

    moved = tmp_path / "ci" / "checkout"
    shutil.copytree(tiny, moved)  # like a CI cache restored into a fresh clone elsewhere
    later = time.time() + 1000
    for p in moved.rglob("*"):
        if p.is_file():
            os.utime(p, (later, later))
    assert ran(ok(doit(moved))) == set()
    # the new mtimes are recorded, so later runs compare mtimes instead of hashing again
    import sqlite3

    from tasks.engine import doit_db

    with sqlite3.connect(moved / "build" / ".doit.db") as db:
        states = [json.loads(raw) for (raw,) in db.execute("SELECT task_data FROM doit")]
    files = [(dep, st[dep]) for st in states for dep in st.get("deps:", [])]
    assert files and all(state[0] == later for _, state in files)
    cwd = os.getcwd()
    os.chdir(moved)
    try:
        assert doit_db.refresh_mtimes(Path("build/.doit.db")) == 0
    finally:
        os.chdir(cwd)


WEIGHTED_BUILDER = """
import json
from pathlib import Path

import keras


def build():
    scale = json.loads((Path(__file__).parent / "weights" / "scale.json").read_text())["scale"]
    inputs = keras.Input(shape=(8,), name="x")
    dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.Constant(scale), name="y")
    return keras.Model(inputs, dense(inputs))
"""


def test_a_file_the_builder_reads_reruns_the_import_when_it_changes(tmp_path: Path):
    """A builder that loads its weights from a file: listed in ``files``, a change to it re-runs the import."""
    write(tmp_path / "nets" / "net.py", WEIGHTED_BUILDER)
    write(tmp_path / "nets" / "weights" / "scale.json", '{"scale": 0.5}')
    write(
        tmp_path / "project.yaml",
        """
        version: 1
        name: weighted
        models:
          net: {source: {builder: "nets/net.py:build", files: [nets/weights]}}
        quantization:
          fp16: {type: float16}
        targets:
          cpu: {compiler: none}
        """,
    )
    assert "import:net" in ran(ok(doit(tmp_path)))
    float_model = tmp_path / "build" / "net" / "net_float.tflite"
    before = float_model.read_bytes()
    assert ran(ok(doit(tmp_path))) == set()

    write(tmp_path / "nets" / "weights" / "scale.json", '{"scale": 0.25}')  # a file in the listed folder
    assert {"import:net", "quantize:net/fp16"} <= ran(ok(doit(tmp_path)))
    assert float_model.read_bytes() != before

    (tmp_path / "nets" / "weights" / "scale.json").unlink()
    (tmp_path / "nets" / "weights").rmdir()
    proc = doit(tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "ERROR: project.yaml:4: models.net.source.files[0]: builder's file 'nets/weights' does not exist"
    )
