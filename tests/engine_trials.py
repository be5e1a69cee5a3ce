"""Kill, interrupt and inspect real doit runs (shared by tests/test_engine.py and bench/engine.py)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import doit, ok, start_doit


@dataclass
class Trial:
    started: list[str] = field(default_factory=list)  # steps in the order they started, to the end
    output: str = ""
    errors: str = ""
    returncode: int | None = None
    pid: int = 0
    stop_seconds: float | None = None  # signal sent → doit gone


def run_and_stop(
    project: Path,
    finished: int,
    delay: float = 0.0,
    how: str = "kill",
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Trial:
    """Run doit; once ``finished`` steps have finished (step ``finished + 1`` started), wait
    ``delay`` seconds, then stop it: ``kill`` (SIGKILL to doit), ``int`` (SIGINT to its process
    group, as Ctrl-C in a terminal does) or ``term`` (SIGTERM to doit).

    doit runs one step at a time (``-n 1`` unless ``args`` give ``-n``): the start of step k+1
    means step k finished and was saved.
    """
    args = args if "-n" in args else ("-n", "1", *args)
    proc = start_doit(project, *args, env=env, start_new_session=True)
    trial = Trial(pid=proc.pid)
    sent = None
    for line in proc.stdout:
        trial.output += line
        if line.startswith(".  "):
            trial.started.append(line[3:].strip())
            if len(trial.started) == finished + 1:
                time.sleep(delay)
                sent = time.monotonic()
                if how == "kill":
                    os.kill(proc.pid, signal.SIGKILL)
                elif how == "int":
                    os.killpg(proc.pid, signal.SIGINT)
                else:
                    os.kill(proc.pid, signal.SIGTERM)
                break
    # Read on through the same text stream: what it already buffered is not lost (communicate()
    # would read the pipe underneath it).  doit writes little to stderr, so this cannot block.
    rest = proc.stdout.read()
    trial.errors = proc.stderr.read()
    proc.wait(timeout=120)
    if sent is not None:
        trial.stop_seconds = time.monotonic() - sent
    trial.output += rest
    # steps that started while it slept before the signal
    trial.started += [line[3:].strip() for line in rest.splitlines() if line.startswith(".  ")]
    trial.returncode = proc.returncode
    return trial


def default_steps(project: Path) -> set[str]:
    """The steps a plain ``doit`` runs on the unbuilt project, as ``doit explain`` lists them."""
    lines = ok(doit(project, "explain")).stdout.splitlines()
    assert lines[-1].endswith("steps would run; nothing was run."), lines[-1]
    return {line for line in lines[:-1] if not line.startswith(" ")}


def recorded(project: Path, steps: set[str]) -> set[str]:
    """The steps that doit's database holds a success record for."""
    db = project / "build" / ".doit.db"
    if not db.exists():
        return set()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT task_id FROM doit")} & steps
    finally:
        conn.close()


def step_processes(doit_pid: int) -> list[int]:
    """Live step processes started by the doit process ``doit_pid``."""
    marker = f"NPUFORGE_PARENT_PID={doit_pid}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ")[-1][:1]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for_no_step_processes(doit_pid: int, seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := step_processes(doit_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def temporary_files(build: Path) -> list[Path]:
    return [p for p in build.rglob(".*") if p.name.endswith(".tmp")]


def broken_artifacts(build: Path) -> list[str]:
    """Artifacts that do not load: every .tflite parsed whole (and run through LiteRT unless it holds
    Vela's custom op), every .json through json."""
    from ai_edge_litert.interpreter import Interpreter

    from tasks.tflite import flatbuffer

    broken = []
    for path in sorted(build.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            if path.suffix == ".tflite":
                flatbuffer.read(path)
                if not path.name.endswith("_vela.tflite"):
                    Interpreter(model_path=str(path)).allocate_tensors()
            elif path.suffix == ".json":
                json.loads(path.read_text())
        except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
            broken.append(f"{path}: {exc}")
    return broken
