"""What the decoders share: picking an output, stacking samples, rounding."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.errors import StepError


def output(spec: dict, sample: dict[str, np.ndarray], what: str) -> str:
    """The output a task reads: ``spec['output']``, or the model's only output."""
    name = spec.get("output")
    if name is None:
        if len(sample) != 1:
            raise StepError(
                f"task {spec['type']}: the model has {len(sample)} outputs ({', '.join(sample)}); "
                f"name the one with the {what} as task.output"
            )
        (name,) = sample
    elif name not in sample:
        raise StepError(f"task {spec['type']}: no output '{name}' (outputs: {', '.join(sample)}); fix task.output")
    return name


def stacked(samples: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    """One output over every sample, [samples, ...] without the batch axis of 1."""
    return np.stack([np.asarray(s[name], dtype=np.float64).reshape(np.shape(s[name])[1:]) for s in samples])


def rounded(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return round(float(value), 6)
