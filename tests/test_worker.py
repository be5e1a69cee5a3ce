"""Steps in a child process: a crash in native code fails one step with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from doit.exceptions import TaskError, TaskFailed

from conftest import REPO
from tasks import options, worker
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
    o = fetch.Options("x==1", "m", "0" * 64, tmp_path / "o", tmp_path)
    result = worker.run("tasks.steps.fetch:run", "tasks.steps.fetch:Options", options.to_json(o),
                        tmp_path / "f.log", "fetch:x")  # fmt: skip
    # no index and an empty cache: pip cannot find x==1
    assert isinstance(result, TaskFailed)
    assert result.get_msg().startswith("pip download x==1 failed; check the name, version and network")


def test_success_returns_none(tmp_path: Path):
    assert worker.run(f"{TARGETS}:succeed", f"{TARGETS}:Nothing", {}, tmp_path / "ok.log", "x") is None
