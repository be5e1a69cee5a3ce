"""prune: keep only the part of the float model that computes the named tensors.

The SyNAP-style output pruning: drop output branches (and, with ``inputs``,
leading preprocessing) the application does not use, before calibration, so
the smaller model is what gets quantized and compiled.
"""

from __future__ import annotations

from pathlib import Path

from tasks import atomic, tflite
from tasks.worker import progress


def run(model: str, out: str, facts: str, outputs: list[str], inputs: list[str] | None, label: str) -> None:
    src = Path(model)
    original = tflite.read(src)
    before = sum(len(sg.operators) for sg in original.subgraphs)
    pruned = tflite.prune(original, outputs, inputs, label)
    content = tflite.to_bytes(pruned)
    after = len(pruned.subgraphs[0].operators)
    progress(f"kept {after} of {before} ops for outputs {', '.join(outputs)}")
    atomic.write_bytes(Path(out), content)
    atomic.write_json(Path(facts), tflite.describe(content, ops_before=before, ops_after=after))
