"""A metric of the project's own: ``task: {metric: "models/metrics.py:FUNCTION"}``.

The function gets the float and the quantized model's outputs, one dict per
validation sample (output name → float numpy array with the batch axis),
and returns named numbers: ``{"my_error": 0.3}``.  Those names are metrics
like the built-in ones: gates take them, results.json and the report show
them.
"""

from __future__ import annotations

import importlib.util
import math
from numbers import Real
from pathlib import Path

from tasks.errors import StepError


def load(reference: str):
    """The function named by ``FILE.py:FUNCTION`` (the file's path already absolute)."""
    file_part, _, function = reference.rpartition(":")
    path = Path(file_part)
    spec = importlib.util.spec_from_file_location(f"npuforge_metric_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StepError(f"task metric {path.name}: cannot import it ({type(exc).__name__}: {exc})") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise StepError(f"task metric {path.name}: no function '{function}'; fix task.metric (FILE.py:FUNCTION)")
    return fn


def metrics(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    name = Path(spec["metric"].rpartition(":")[0]).name + ":" + spec["metric"].rpartition(":")[2]
    try:
        got = load(spec["metric"])(reference, quantized)
    except StepError:
        raise
    except Exception as exc:
        raise StepError(f"task metric {name} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(got, dict) or not got:
        raise StepError(f"task metric {name} returned {type(got).__name__}; return a dict of names to numbers")
    out = {}
    for key, value in got.items():
        if not isinstance(key, str) or not isinstance(value, Real) or not math.isfinite(value):
            raise StepError(f"task metric {name}: {key!r}: {value!r} is not a finite number; return numbers")
        out[key] = round(float(value), 6)
    return out
