"""Output of Synaptics' SyNAP tools → dicts.

- ``model_info.txt`` (written by ``synap convert`` beside model.synap): YAML-like ``inputs:`` and
  ``outputs:`` lists, each entry with name, shape, layout, format, type (and more, kept as is).
- ``synap_cli -r N random``: ``Predict #i: X ms`` per run, then
  ``Inference timings (ms):  load: …  init: …  min: …  median: …  max: …  stddev: …  mean: …``.
"""

from __future__ import annotations

import re
from typing import Any

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_PREDICT = re.compile(rf"^\s*Predict #(\d+):\s*{_NUM}\s*ms", re.MULTILINE)
_TIMINGS = re.compile(r"Inference timings \(ms\):(.*)$", re.MULTILINE)
_PAIR = re.compile(rf"(\w+):\s*{_NUM}")
TENSOR_KEYS = ("name", "shape", "layout", "format", "type")


class ParseError(ValueError):
    """The text is not what the SyNAP tool prints."""


def parse_model_info(text: str) -> dict[str, list[dict[str, Any]]]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(f"not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not any(isinstance(data.get(k), list) for k in ("inputs", "outputs")):
        raise ParseError("no 'inputs:' or 'outputs:' list")
    out: dict[str, list[dict[str, Any]]] = {}
    for side in ("inputs", "outputs"):
        entries = data.get(side) or []
        if not isinstance(entries, list):
            raise ParseError(f"'{side}:' is not a list")
        parsed = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ParseError(f"{side}[{i}] is not a mapping")
            shape = entry.get("shape")
            if shape is not None and not (isinstance(shape, list) and all(isinstance(d, int) for d in shape)):
                raise ParseError(f"{side}[{i}].shape is not a list of integers: {shape!r}")
            parsed.append(
                {
                    **{k: entry.get(k) for k in TENSOR_KEYS},
                    **{k: v for k, v in entry.items() if k not in TENSOR_KEYS},
                }
            )
        out[side] = parsed
    return out


def parse_synap_cli(text: str) -> dict[str, Any]:
    """Timings in benchmark_model's result shape: latency_ms avg/min/max/std, runs, first_ms, init_ms."""
    runs = [(int(i), float(ms)) for i, ms in _PREDICT.findall(text)]
    timings = _TIMINGS.search(text)
    if not timings:
        raise ParseError("no 'Inference timings (ms):' line")
    values = {k: float(v) for k, v in _PAIR.findall(timings.group(1))}
    missing = [k for k in ("min", "max", "mean") if k not in values]
    if missing:
        raise ParseError(f"the 'Inference timings (ms):' line has no {', '.join(missing)}")
    if not runs:
        raise ParseError("no 'Predict #i: X ms' line")
    return {
        "latency_ms": {
            "avg": values["mean"],
            "min": values["min"],
            "max": values["max"],
            "std": values.get("stddev"),
            "median": values.get("median"),
        },
        "runs": len(runs),
        "first_ms": dict(runs)[min(i for i, _ in runs)],
        "init_ms": values.get("init"),
        "load_ms": values.get("load"),
        "peak_mem_mb": None,
        "delegated": None,
    }
