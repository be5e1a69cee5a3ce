"""Operators of a quantized model that still compute in float: what the converter could not quantize.

TensorFlow Lite's converter keeps an operator in float when it has no kernel for the scheme's
integer type (HARD_SWISH has none for int16x8): the model then runs it on the CPU, between a
DEQUANTIZE and a QUANTIZE, and some NPU compilers stop at it.  Pure flatbuffer reading.
"""

from __future__ import annotations

from typing import Any

from tasks.tflite import flatbuffer, opcodes
from tasks.tflite.flatbuffer import schema

BOUNDARY = ("QUANTIZE", "DEQUANTIZE")  # the float model's I/O, and the edges of a float island
SHOWN = 3  # names listed per operator


def left_in_float(model: schema.ModelT) -> list[dict[str, Any]]:
    """Per operator name: how many compute in float, and their output tensors' names."""
    found: dict[str, list[str]] = {}
    for sg in model.subgraphs:
        for op in sg.operators or []:
            name = opcodes.op_name(model, op)
            if name in BOUNDARY:
                continue
            tensors = [sg.tensors[i] for i in [*op.inputs, *op.outputs] if i >= 0]
            if any(t.type == schema.TensorType.FLOAT32 and not flatbuffer.is_constant(model, t) for t in tensors):
                found.setdefault(name, []).append(flatbuffer.tensor_name(sg.tensors[op.outputs[0]]))
    return [{"op": op, "count": len(names), "names": names} for op, names in sorted(found.items())]


def summary(found: list[dict[str, Any]]) -> str:
    """``HARD_SWISH ×11 (h_swish, h_swish_1, …)``, each operator once."""
    parts = []
    for f in found:
        more = ", …" if f["count"] > SHOWN else ""
        parts.append(f"{f['op']} ×{f['count']} ({', '.join(f['names'][:SHOWN])}{more})")
    return "; ".join(parts)
