"""analyse: findings for one compiled variant (see tasks/analysis.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tasks import analysis, atomic


def run(facts: str, out: str, label: str, rewrites: str | None = None) -> None:
    records = json.loads(Path(rewrites).read_text())["records"] if rewrites else None
    _write(analysis.findings(json.loads(Path(facts).read_text()), records), out, label)


def delegated(model: str, delegate: str, out: str, label: str) -> None:
    """A variant run through a TFLite delegate: findings from the quantized model's operators."""
    from tasks import tflite

    m = tflite.read(Path(model))
    sg = m.subgraphs[0]
    float32 = tflite.schema.TensorType.FLOAT32
    inputs, outputs = set(sg.inputs), set(sg.outputs)
    ops = []
    for op in sg.operators:
        ins = [i for i in op.inputs if i >= 0]
        outs = list(op.outputs)
        ops.append(
            {
                "op": tflite.op_name(m, op),
                "name": tflite.tensor_name(sg.tensors[outs[0]]) if outs else "",
                "float_in": any(i in inputs and sg.tensors[i].type == float32 for i in ins),
                "float_out": any(o in outputs and sg.tensors[o].type == float32 for o in outs),
                "float": any(sg.tensors[o].type == float32 for o in outs),
            }
        )
    _write(analysis.delegate_findings(ops, delegate), out, label)


def _write(found: list, out: str, label: str) -> None:
    atomic.write_json(Path(out), found)
    kinds: dict[str, int] = {}
    for f in found:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    print(f"   {label}: " + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in kinds.items()) or "no findings"))
