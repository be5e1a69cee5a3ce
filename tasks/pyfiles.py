"""A function from a .py file of the project's: a model builder, a task metric."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from tasks.errors import StepError


def load_function(path: Path, function: str | None, where: str, kind: str) -> Callable:
    """``function`` of the file at ``path``; ``where`` and ``kind`` (builder, metric) name it in the errors."""
    spec = importlib.util.spec_from_file_location(f"npuforge_{kind}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StepError(f"{where}: {path} failed to load: {type(exc).__name__}: {exc}") from None
    found = getattr(module, function or "", None)
    if not callable(found):
        raise StepError(f"{where}: {path} has no function '{function}'")
    return found
