"""Steps in a child process: a crash in native code fails one step with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from doit.exceptions import TaskError, TaskFailed

from support import REPO
from tasks.engine import worker
from tasks.planning import options
from tasks.steps import fetch

TARGETS = "worker_targets"


@pytest.fixture(autouse=True)
def _tests_importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))


def test_native_crash_becomes_task_error(tmp_path: Path):
    log = tmp_path / "logs" / "crash.log"
    result = worker.run(f"{TARGETS}:abort", f"{TARGETS}:Nothing", {}, log, "quantize:net/int8")
    assert isinstance(result, TaskError)
    message = result.get_msg()
    assert "quantize:net/int8: the step crashed (killed by SIGABRT)" in message
    assert f"Full log: {log}" in message


def test_step_error_becomes_task_failed_with_its_message(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    o = fetch.Options(requirement="x==1", member="m", sha256="0" * 64, out=tmp_path / "o", cache=tmp_path)
    result = worker.run(
        "tasks.steps.fetch:run", "tasks.steps.fetch:Options", options.to_json(o), tmp_path / "f.log", "fetch:x"
    )
    # no index and an empty cache: pip cannot find x==1
    assert isinstance(result, TaskFailed)
    assert result.get_msg().startswith("pip download x==1 failed; check the name, version and network")


def test_success_returns_none(tmp_path: Path):
    assert worker.run(f"{TARGETS}:succeed", f"{TARGETS}:Nothing", {}, tmp_path / "ok.log", "x") is None


def _pid(tmp_path: Path, name: str) -> tuple[int, str]:
    out = tmp_path / f"{name}.txt"
    result = worker.run(
        f"{TARGETS}:pid", f"{TARGETS}:Report", {"out": str(out)}, tmp_path / f"{name}.log", name, "family"
    )
    assert result is None
    pid, tmp = out.read_text().split()
    return int(pid), tmp


def test_a_warm_worker_runs_step_after_step_each_in_its_own_scratch_folder(tmp_path: Path):
    try:
        (first, tmp1), (second, tmp2) = _pid(tmp_path, "one"), _pid(tmp_path, "two")
        assert first == second  # the same process
        assert tmp1 != tmp2 and not Path(tmp1).exists()  # each step's scratch folder, removed after it
    finally:
        worker.stop_workers()


def test_a_crash_in_a_warm_worker_fails_that_step_only_and_the_next_gets_a_fresh_worker(tmp_path: Path):
    try:
        before, _ = _pid(tmp_path, "before")
        log = tmp_path / "crash.log"
        result = worker.run(f"{TARGETS}:abort", f"{TARGETS}:Nothing", {}, log, "quantize:net/int8", "family")
        assert isinstance(result, TaskError)
        assert "quantize:net/int8: the step crashed (killed by SIGABRT)" in result.get_msg()
        after, _ = _pid(tmp_path, "after")
        assert after != before
    finally:
        worker.stop_workers()


def test_a_step_gives_the_same_bytes_in_a_fresh_worker_and_in_one_that_ran_other_steps(tmp_path: Path, monkeypatch):
    """Keras numbers its models and layers per session, and the numbers end up in the model: a warm
    worker starts every step from a clean session."""
    from support import write
    from tasks.steps import import_model

    write(
        tmp_path / "net.py",
        """
        import keras

        def build(channels=8):
            inputs = keras.Input(shape=(16, 16, 3), batch_size=1, name="image")
            x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(inputs)
            return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)))
        """,
    )

    def imported(channels: int, out: Path, family: str | None) -> bytes:
        o = import_model.Options(
            source=tmp_path / "net.py",
            kind="builder",
            function="build",
            args_json=f'{{"channels": {channels}}}',
            input_shape=None,
            label="models.m",
            source_files=(tmp_path / "net.py",),
            out=out,
            facts=out.with_name(out.stem + ".json"),
        )
        function, kind = "tasks.steps.import_model:run", "tasks.steps.import_model:Options"
        assert worker.run(function, kind, options.to_json(o), out.with_suffix(".log"), "import", family) is None
        return out.read_bytes()

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    try:
        imported(12, tmp_path / "other.tflite", "tensorflow")  # the warm worker's first step
        imported(16, tmp_path / "another.tflite", "tensorflow")
        warm = imported(8, tmp_path / "warm.tflite", "tensorflow")
    finally:
        worker.stop_workers()
    fresh = imported(8, tmp_path / "fresh.tflite", None)
    assert warm == fresh
