"""What failed in the last build, one small record per step: the matrix survives its failures.

A step that fails leaves ``build/failures/<task>.json`` ({step, message}); the
same step succeeding removes it.  The results step reads the records of the
steps each variant depends on, so results.json and the report list the
variants that failed (with the step and its one-line error) beside those that
built.  Pure file handling: imports nothing heavy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from tasks import atomic

if TYPE_CHECKING:
    from tasks.steps.records import Failure

FOLDER = "failures"


def record_path(build: Path, task_name: str) -> Path:
    return build / FOLDER / (task_name.replace("/", "__").replace(":", "--").replace("@", "_at_") + ".json")


def first_line(message: str) -> str:
    """The line that says what went wrong: the first non-empty one."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "failed")


def record(build: Path, task_name: str, message: str) -> None:
    failure: Failure = {"step": task_name, "message": first_line(message)}
    atomic.write_json(record_path(build, task_name), failure)


def clear(build: Path, task_name: str) -> None:
    record_path(build, task_name).unlink(missing_ok=True)


def read(build: Path, task_name: str) -> Failure | None:
    try:
        return json.loads(record_path(build, task_name).read_text())
    except (OSError, ValueError):
        return None
