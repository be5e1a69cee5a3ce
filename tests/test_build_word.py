"""The build's word: results.json, the report and the exit code tell the truth after any failure.

Each trial breaks a built project as a user would (a model that raises, a step stopped early,
Ctrl-C, kill -9), mends it, builds again, and compares results.json with the clean build's,
field by field.  The tiny project has no board: no measured field to set aside.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from engine_trials import run_and_stop
from support import doit, ok, ran
from tasks.engine import commands as engine

BROKEN = "models:\n  broken:\n    source: models/broken.tflite\n    calibration: pics\n    validation: pics\n"


@pytest.fixture(scope="module")
def built_two(built_tiny: Path, tmp_path_factory) -> Path:
    """The tiny project cut to two variants (int8 for the Ethos-U55 and the CPU), built once.

    Cut from the built tiny project: its steps for the two variants stay up to date (same inputs, same
    options), so the build remakes results and the report; the folders of the variants cut go first.
    """
    root = tmp_path_factory.mktemp("two-built") / "tiny"
    shutil.copytree(built_tiny, root)
    project = root / "project.yaml"
    text = project.read_text().replace("  a16w8: {type: int16x8}\n", "")
    project.write_text("\n".join(line for line in text.splitlines() if not line.startswith("  u65:")) + "\n")
    for cut in ("a16w8", "int8/u65"):
        shutil.rmtree(root / "build" / "tiny" / cut)
    ok(doit(root))
    return root


@pytest.fixture
def tiny(built_two: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tiny"
    shutil.copytree(built_two, copy)
    return copy


def results(root: Path) -> dict:
    return json.loads((root / "build" / "results.json").read_text())


def rows(root: Path) -> dict[str, dict]:
    return {v["id"]: v for v in results(root)["variants"]}


def same_as_clean(root: Path, clean: dict) -> None:
    got = results(root)
    assert [v["id"] for v in got["variants"]] == [v["id"] for v in clean["variants"]]
    for mine, theirs in zip(got["variants"], clean["variants"], strict=True):
        for key in theirs:
            assert mine.get(key) == theirs[key], f"{mine['id']}: {key} differs from a clean build's"
        assert set(mine) == set(theirs), mine["id"]


def break_builder(root: Path) -> str:
    builder = root / "models" / "tiny.py"
    good = builder.read_text()
    builder.write_text(
        good.replace(
            "def build(channels=8, size=16):",
            "def build(channels=8, size=16):\n    raise RuntimeError('broken on purpose')",
        )
    )
    return good


@pytest.fixture(scope="module")
def failed_two(built_two: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """built_two with a builder that raises, built again one step at a time (it fails at import:tiny)."""
    root = tmp_path_factory.mktemp("two-failed") / "tiny"
    shutil.copytree(built_two, root)
    break_builder(root)
    return root, doit(root, "-n", "1")


@pytest.fixture
def broken_tiny(
    failed_two: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of failed_two's project, and the output of its failed build."""
    copy = tmp_path / "tiny"
    shutil.copytree(failed_two[0], copy)
    return copy, failed_two[1]


def targets(root: Path, step: str) -> set[Path]:
    """The files ``step`` makes, as `doit info` lists them."""
    listed = ok(doit(root, "info", step)).stdout.split("targets    :", 1)[1].split("\n\n", 1)[0]
    return {root / line.strip()[2:] for line in listed.splitlines() if line.strip().startswith("- ")}


def test_a_fixed_failure_gives_the_clean_results_and_report(built_two: Path, broken_tiny):
    clean = results(built_two)
    tiny, failed = broken_tiny
    good = (built_two / "models" / "tiny.py").read_text()
    assert failed.returncode != 0
    assert all(v["error"]["step"] == "import:tiny" for v in results(tiny)["variants"])
    assert failed.stdout.count("FAILED at import:tiny") == 1 and "(and tiny/int8@cpu)" in failed.stdout  # said once
    assert "The error is in the project's own code" in failed.stdout + failed.stderr
    assert "tiny.py:" in failed.stdout + failed.stderr and "report the log" not in failed.stdout + failed.stderr

    (tiny / "models" / "tiny.py").write_text(good)
    fixed = ok(doit(tiny))
    assert {"import:tiny", "results", "report"} <= ran(fixed)
    same_as_clean(tiny, clean)
    page = (tiny / "build" / "report" / "index.html").read_text()
    assert "failed at" not in page
    assert not list((tiny / "build" / "failures").glob("*.json"))
    again = ok(doit(tiny))  # and the build is a no-op again
    assert ran(again) == set()

    pages = tiny / "build" / "report" / "variants"  # a variant the project no longer has loses its page
    project = tiny / "project.yaml"
    project.write_text(project.read_text().replace("  cpu: {compiler: none}\n", ""))
    ok(doit(tiny))
    assert sorted(p.name for p in pages.glob("*.html")) == ["tiny_int8@u55.html"]


def test_fixing_one_variant_while_another_still_fails(tiny: Path):
    """A failure record of a step whose inputs changed since says nothing: the step has not run on them yet."""
    clean = rows(tiny)
    project = tiny / "project.yaml"
    good = project.read_text()
    model = tiny / "models" / "broken.tflite"
    model.write_bytes(b"not a model")
    project.write_text(good.replace("models:\n", BROKEN).replace("channels: 8", "channels: eight"))
    assert doit(tiny, "--continue").returncode != 0
    assert "not a TFLite flatbuffer" in rows(tiny)["broken/int8@u55"]["error"]["message"]

    shutil.copyfile(tiny / "build" / "tiny" / "tiny_float.tflite", model)  # broken fixed, tiny still fails
    stopped = doit(tiny, "-n", "1")  # stops at import:tiny: before or after import:broken (doit's order varies)
    assert stopped.returncode != 0 and "import:tiny" in ran(stopped)
    error = rows(tiny)["broken/int8@u55"]["error"]  # not built; never the failure its old model had
    assert error["message"].startswith("not built: ") and "(the build stopped at a failure" in error["message"], error
    if "import:broken" not in ran(stopped):
        assert error["step"] == "import:broken"
    assert "rejected the arguments" in rows(tiny)["tiny/int8@u55"]["error"]["message"]

    project.write_text(good.replace("models:\n", BROKEN))
    ok(doit(tiny))
    got = rows(tiny)
    assert "error" not in got["broken/int8@u55"]
    for vid, row in clean.items():
        assert got[vid] == row, vid
    assert not list((tiny / "build" / "failures").glob("*.json"))


def test_a_build_stopped_at_its_first_failure_marks_what_it_did_not_finish(tiny: Path):
    """A variant compiled but not analysed is 'not built' at the analyse step: no traceback."""
    clean = rows(tiny)
    made = ("import:tiny", "rewrite:tiny", "calibrate:tiny", "quantize:tiny/int8", "compile:tiny/int8@u55")
    kept = set().union(*(targets(tiny, step) for step in made))
    for path in (tiny / "build" / "tiny").rglob("*"):  # as a build that stopped after the compile leaves it
        if path.is_file() and path not in kept:
            path.unlink()
    project = tiny / "project.yaml"
    project.write_text(project.read_text().replace("models:\n", BROKEN))
    (tiny / "models" / "broken.tflite").write_bytes(b"not a model")
    proc = doit(tiny, "-n", "1", "results")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    got = rows(tiny)
    assert got["broken/int8@u55"]["error"]["step"] == "import:broken"
    compiled = got["tiny/int8@u55"]
    step = compiled["error"]["step"]
    assert step.split(":")[0] in ("evaluate", "limits", "analyse", "graph"), step  # compiled, not yet analysed
    assert compiled["error"]["message"].startswith(f"not built: {step} has not run (the build stopped at a failure")

    (tiny / "models" / "broken.tflite").unlink()
    project.write_text(project.read_text().replace(BROKEN[len("models:\n") :], ""))
    ok(doit(tiny))
    assert rows(tiny) == clean


def test_ctrl_c_writes_the_results_of_what_finished_and_a_rebuild_completes_them(tiny: Path):
    clean = results(tiny)
    (tiny / "project.yaml").write_text((tiny / "project.yaml").read_text().replace("channels: 8", "channels: 6"))
    trial = run_and_stop(tiny, finished=2, delay=0.3, how="int")
    assert trial.returncode == engine.INTERRUPTED_EXIT, trial.errors
    assert "Traceback" not in trial.errors
    assert "writing results.json and the report for what built" in trial.errors
    interrupted = rows(tiny)
    assert interrupted and all(
        v.get("error", {}).get("message", "").startswith("not built: ") for v in interrupted.values()
    )
    assert "the build was interrupted" in next(iter(interrupted.values()))["error"]["message"]
    (tiny / "project.yaml").write_text((tiny / "project.yaml").read_text().replace("channels: 6", "channels: 8"))
    ok(doit(tiny))
    same_as_clean(tiny, clean)


def test_kill_9_mid_step_then_a_rebuild_gives_the_clean_results(tiny: Path):
    clean = results(tiny)
    shutil.rmtree(tiny / "build" / "tiny")
    trial = run_and_stop(tiny, finished=3, delay=0.3, how="kill")
    assert trial.returncode == -9
    ok(doit(tiny))
    same_as_clean(tiny, clean)


def test_doit_clean_removes_failure_records(broken_tiny):
    tiny, proc = broken_tiny
    assert proc.returncode != 0
    assert list((tiny / "build" / "failures").glob("*.json"))
    cleaned = ok(doit(tiny, "clean"))
    assert "removed 1 failure record(s)" in cleaned.stderr
    assert not list((tiny / "build" / "failures").glob("*.json"))


def test_an_output_a_stopped_run_left_under_an_older_record_is_remade(tiny: Path):
    """A step stopped after it renamed a new output into place, but before doit recorded its success, leaves that
    output under the record of its last success (Ctrl-C, then the change undone): the next build remakes it."""
    clean = results(tiny)
    variants = rows(tiny)
    artifact = tiny / variants["tiny/int8@u55"]["artifact"]
    good = artifact.read_bytes()
    artifact.write_bytes((tiny / variants["tiny/int8@cpu"]["artifact"]).read_bytes())  # another run's output
    explained = doit(tiny, "explain", "compile:tiny/int8@u55")
    assert f"output changed since the step last succeeded: {variants['tiny/int8@u55']['artifact']}" in explained.stdout
    rebuilt = ok(doit(tiny))
    assert "compile:tiny/int8@u55" in ran(rebuilt)
    assert artifact.read_bytes() == good
    same_as_clean(tiny, clean)
