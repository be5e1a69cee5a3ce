"""A metric of the project's own: ``task: {metric: "models/metrics.py:FUNCTION"}``.

The function gets the float and the quantized model's outputs, one dict per
validation sample (output name → float numpy array with the batch axis),
and returns named numbers: ``{"my_error": 0.3}``.  Those names are metrics
like the built-in ones: gates take them, results.json and the report show
them.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path

from tasks.errors import StepError
from tasks.pyfiles import load_function


def metrics(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    file_part, _, function = spec["metric"].rpartition(":")
    name = f"{Path(file_part).name}:{function}"
    fn = load_function(Path(file_part), function, "task metric", "metric")
    try:
        got = fn(reference, quantized)
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
