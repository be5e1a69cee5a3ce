"""Steps in a child process: a crash in native code fails one step with a clear message."""

from __future__ import annotations

from pathlib import Path

from doit.exceptions import TaskError, TaskFailed

from tasks import worker


def test_native_crash_becomes_task_error(tmp_path: Path):
    log = tmp_path / "logs" / "crash.log"
    result = worker.run("os:abort", {}, log, "quantize:net/int8")
    assert isinstance(result, TaskError)
    message = result.get_msg()
    assert "quantize:net/int8: the step crashed (killed by SIGABRT)" in message
    assert f"Full log: {log}" in message


def test_step_error_becomes_task_failed_with_its_message(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    result = worker.run("tasks.steps.fetch:run", {
        "requirement": "x==1", "member": "m", "sha256": "0" * 64, "out": str(tmp_path / "o"), "cache": str(tmp_path),
    }, tmp_path / "f.log", "fetch:x")  # fmt: skip
    # no index and an empty cache: pip cannot find x==1
    assert isinstance(result, TaskFailed)
    assert result.get_msg().startswith("pip download x==1 failed; check the name, version and network")


def test_success_returns_none(tmp_path: Path):
    assert worker.run("os:getpid", {}, tmp_path / "ok.log", "x") is None
