"""Apply rewrites to a float model and prove the result equal: the work of the rewrite step.

Each run proves itself: the rewritten float model must give the original's outputs on random
inputs (max abs difference ≤ 1e-5 of each output's range), else the step fails naming the rewrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tasks import atomic
from tasks.errors import StepError
from tasks.progress import progress
from tasks.tflite import flatbuffer, opcodes, runtime, surgery

TOLERANCE = runtime.EQUIVALENCE_TOLERANCE  # of the output's range
SAMPLES = 4


def outputs_on_random_inputs(content: bytes, seed: int = 0, samples: int = SAMPLES) -> list[list[np.ndarray]]:
    """Every output of the model for ``samples`` uniform [-1, 1) inputs (reference kernels)."""
    interpreter = runtime.interpreter(content)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(samples):
        for d in interpreter.get_input_details():
            interpreter.set_tensor(d["index"], rng.uniform(-1, 1, d["shape"]).astype(d["dtype"]))
        interpreter.invoke()
        runs.append([interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()])
    return runs


def largest_difference(before: bytes, after: bytes) -> float:
    """Max abs difference of every output on random inputs, as a fraction of that output's range."""
    worst = 0.0
    for run_before, run_after in zip(outputs_on_random_inputs(before), outputs_on_random_inputs(after), strict=True):
        for a, b in zip(run_before, run_after, strict=True):
            worst = max(worst, runtime.range_relative_diff(a, b))
    return worst


def run(model: Path, out: Path, facts: Path, rewrites: list[str], label: str) -> None:
    from tasks.model.rewrites import REWRITES

    source = model.read_bytes()
    content = source  # nothing rewritten: the same bytes, so what follows sees no change
    m = flatbuffer.read_bytes(source, str(model))
    records: list[dict[str, Any]] = []
    worst = 0.0
    for name in rewrites:
        found = REWRITES[name].load().apply(m)
        records += found
        done = sum(r["done"] for r in found)
        progress(f"{name}: {done} of {len(found)} {REWRITES[name].replaces} rewritten")
        for r in found:
            if not r["done"]:
                progress(f"{name}: left {r['name']}: {r['reason']}")
        if not done:
            continue
        m = surgery.collect_garbage(m)
        content = flatbuffer.to_bytes(m)
        diff = largest_difference(source, content)  # each rewrite proves itself against the original
        if diff > TOLERANCE:
            raise StepError(
                f"{label}: the {name} rewrite changed the outputs (max abs difference {diff:.3g} of the output "
                f"range on random inputs, allowed {TOLERANCE:g}); switch it off with rewrites: [] and report the model"
            )
        worst = max(worst, diff)
        progress(f"{name}: same outputs as the original on {SAMPLES} random inputs (max abs diff {diff:.3g} of range)")
    atomic.write_bytes(out, content)
    atomic.write_json(
        facts,
        {"rewrites": rewrites, "records": records, "max_abs_diff_of_range": worst, "ops": opcodes.op_histogram(m)},
    )
