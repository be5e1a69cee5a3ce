"""What failed in the last build, one small record per step: the matrix survives its failures.

A step that fails leaves ``build/failures/<task>.json`` ({step, message,
inputs}); the same step succeeding removes it.  ``inputs`` is a digest of the
step's parameters and input files when it failed: a record whose step has
different inputs now (the failure was fixed, or the step went back to inputs
it last built from and doit finds it up to date) says nothing of the build
and is not read.  The salvage after a failed build (tasks/engine/loader.py)
reads the records of the steps each variant depends on, so results.json and
the report list the variants that failed (with the step and its one-line
error) beside those that built.  Pure file handling: imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tasks import atomic
from tasks.digests import sha256_file

if TYPE_CHECKING:
    from tasks.results.records import Failure

FOLDER = "failures"


def record_path(build: Path, task_name: str) -> Path:
    return build / FOLDER / (task_name.replace("/", "__").replace(":", "--").replace("@", "_at_") + ".json")


def first_line(message: str) -> str:
    """The line that says what went wrong: the first non-empty one."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "failed")


def inputs_digest(params: str, file_dep: Iterable[str | Path]) -> str:
    """What a step ran on: its parameters (as JSON text) and the content of each input file."""
    h = hashlib.sha256(params.encode())
    for path in file_dep:
        try:
            content = sha256_file(Path(path))
        except OSError:
            content = "missing"
        h.update(f"\0{path}\0{content}".encode())
    return h.hexdigest()


def record(build: Path, task_name: str, message: str, inputs: str) -> None:
    failure = {"step": task_name, "message": first_line(message), "inputs": inputs}
    atomic.write_json(record_path(build, task_name), failure)


def clear(build: Path, task_name: str) -> None:
    record_path(build, task_name).unlink(missing_ok=True)


def clear_all(build: Path, tasks: list[str] | None = None) -> int:
    """Remove the records of ``tasks`` (names, or a prefix such as ``compile``), of every step when none are
    named (``doit clean``); how many there were."""
    found = []
    for path in (build / FOLDER).glob("*.json"):
        name = step_of(path)
        if not tasks or any(name == t or name.startswith(f"{t}:") for t in tasks):
            found.append(path)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def step_of(path: Path) -> str:
    """The task name a record file holds ("" for a file that is not a record)."""
    try:
        return str(json.loads(path.read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def read(build: Path, task_name: str, inputs: str | None = None) -> Failure | None:
    """The step's failure, if it failed on ``inputs`` (its inputs now); None if it did not, or did on others."""
    try:
        found = json.loads(record_path(build, task_name).read_text())
    except (OSError, ValueError):
        return None
    if inputs is not None and found.get("inputs") != inputs:
        return None
    return {"step": found["step"], "message": found["message"]}
