"""TFLite ``benchmark_model`` output → dict.  The LiteRT runner (tasks/boards/runners) prints the same format.

Lines read (older and newer wordings):
- ``Inference timings in us: Init: 3840, First inference: 6036807, Warmup (avg): 6.03681e+06, Inference (avg): 2693.12``
- ``count=361 first=2795 curr=2704 min=2653 max=2849 avg=2693.12 std=21`` (the last such line: the measured runs)
- ``Peak memory footprint (MB): init=2.75391 overall=29.0273`` (old) or
  ``Memory footprint delta from the start of the tool (MB): init=… overall=…`` and
  ``Overall peak memory footprint (MB) via periodic monitoring: …`` (new)
- ``Replacing 12 out of 14 node(s) with delegate (…) node, yielding 2 partitions …`` and
  ``… will be completely executed …`` / ``… partially executed …`` (delegates)
"""

from __future__ import annotations

import re
from typing import Any

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
    rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}"
)
_STATS = re.compile(
    rf"count=(\d+)(?: first={_NUM})?(?: curr={_NUM})? min={_NUM} max={_NUM} avg={_NUM} std={_NUM}"
    rf"(?: p5={_NUM} median={_NUM} p95={_NUM})?"  # newer benchmark_model, and the LiteRT runner
)
_PEAK_OLD = re.compile(rf"Peak memory footprint \(MB\): init={_NUM} overall={_NUM}")
_DELTA_NEW = re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init={_NUM} overall={_NUM}")
_PEAK_NEW = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUM}")
_REPLACING = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate")
_EXECUTED = re.compile(r"will be (completely|partially) executed")


class ParseError(ValueError):
    """The output is not benchmark_model's."""


def parse(text: str) -> dict[str, Any]:
    timings = _TIMINGS.search(text)
    stats = _STATS.findall(text)
    if not timings or not stats:
        missing = "'Inference timings in us' line" if not timings else "'count=… min=… max=… avg=… std=…' line"
        raise ParseError(f"no {missing}")
    init_us, first_us, _warmup_us, avg_us = (float(x) for x in timings.groups())
    count, _first, _curr, low, high, avg, std, _p5, median, _p95 = stats[-1]
    out: dict[str, Any] = {
        "latency_ms": {
            "avg": round(avg_us / 1000.0, 6),
            "min": round(float(low) / 1000.0, 6),
            "max": round(float(high) / 1000.0, 6),
            "std": round(float(std) / 1000.0, 6),
            "median": round(float(median) / 1000.0, 6) if median else None,  # None: the tool does not print it
        },
        "runs": int(count),
        "first_ms": round(first_us / 1000.0, 6),
        "init_ms": round(init_us / 1000.0, 6),
        "peak_mem_mb": None,
        "delegated": None,
    }
    peak_new, delta_new, peak_old = _PEAK_NEW.search(text), _DELTA_NEW.search(text), _PEAK_OLD.search(text)
    if peak_new:
        out["peak_mem_mb"] = float(peak_new.group(1))
    elif peak_old:
        out["peak_mem_mb"] = float(peak_old.group(2))
    elif delta_new:
        out["peak_mem_mb"] = float(delta_new.group(2))
    replaced = _REPLACING.search(text)
    executed = _EXECUTED.search(text)
    if replaced or executed:
        nodes, total = (int(replaced.group(1)), int(replaced.group(2))) if replaced else (None, None)
        out["delegated"] = {
            "nodes": nodes,
            "total": total,
            "complete": (executed.group(1) == "completely") if executed else (nodes == total if replaced else None),
        }
    return out
