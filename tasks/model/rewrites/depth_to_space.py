"""DEPTH_TO_SPACE(block b) → TRANSPOSE_CONV: the same arithmetic on an op Vela maps to the NPU.

TensorFlow's DEPTH_TO_SPACE (DCR order) writes output pixel (h·b + dy, w·b + dx), channel c, from
input pixel (h, w), channel (dy·b + dx)·C + c.  A TRANSPOSE_CONV with stride b, a b×b kernel, VALID
padding and no bias writes output pixel (h·b + dy, w·b + dx) from input pixel (h, w) alone (the
kernel windows do not overlap), as Σ_k in[h, w, k] · W[c, dy, dx, k]; one-hot weights
W[c, dy, dx, (dy·b + dx)·C + c] = 1 make that sum the one term DEPTH_TO_SPACE copies.

Vela maps TRANSPOSE_CONV to the NPU for stride 2×2 (or 1×1) only, so block 2 becomes one
TRANSPOSE_CONV and block 2ⁿ a chain of n, each a stride-2 one-hot TRANSPOSE_CONV: the first
places the coarsest bit of (dy, dx), the last the finest.  Other block sizes stay, with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.model.rewrites import REWRITES
from tasks.tflite import flatbuffer, opcodes
from tasks.tflite.flatbuffer import schema

SPEC = REWRITES["depth_to_space"]
NAME, REPLACES, BECOMES = SPEC.name, SPEC.replaces, SPEC.becomes
VELA_STRIDE = 2  # Vela's constraint_tconv_stride: 1x1 or 2x2


def _stages(block: int) -> int | None:
    """How many stride-2 stages make ``block`` (a power of two), else None."""
    n = block.bit_length() - 1
    return n if block >= 2 and 1 << n == block else None


def stage_weights(block: int, stage: int, depth: int) -> np.ndarray:
    """One-hot weights [out_channels, 2, 2, in_channels] of stage ``stage`` (0: coarsest) of a block-``block``
    DEPTH_TO_SPACE with ``depth`` output channels.

    Before stage s the tensor holds, per pixel, the sub-block of side r = block >> s as channels
    ((y·r + x)·depth + c); the stage splits off the top bit of y and x (dy, dx) into space,
    leaving a sub-block of side r/2.
    """
    r = block >> stage
    half = r // 2
    cin, cout = r * r * depth, half * half * depth
    w = np.zeros((cout, 2, 2, cin), dtype=np.float32)
    for dy in range(2):
        for dx in range(2):
            for y in range(half):
                for x in range(half):
                    out_base = (y * half + x) * depth
                    in_base = ((dy * half + y) * r + (dx * half + x)) * depth
                    w[out_base + np.arange(depth), dy, dx, in_base + np.arange(depth)] = 1.0
    return w


def apply(model: schema.ModelT) -> list[dict[str, Any]]:
    """Rewrite every DEPTH_TO_SPACE that fits; one record per op: rewritten, or left with the reason."""
    sg = model.subgraphs[0]
    records: list[dict[str, Any]] = []
    operators: list[schema.OperatorT] = []
    for op in sg.operators:
        if opcodes.op_name(model, op) != REPLACES:
            operators.append(op)
            continue
        src, dst = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
        name = flatbuffer.tensor_name(dst)
        block = int(op.builtinOptions.blockSize)
        stages = _stages(block)
        record = {"rewrite": NAME, "op": REPLACES, "name": name, "block": block}
        if src.type != schema.TensorType.FLOAT32:
            records.append({**record, "done": False, "reason": "not a float op (the rewrite runs before quantization)"})
            operators.append(op)
            continue
        if stages is None:
            records.append(
                {
                    **record,
                    "done": False,
                    "reason": f"block size {block} is not a power of two; Vela's TRANSPOSE_CONV takes stride 2x2 only",
                }
            )
            operators.append(op)
            continue
        n, h, w, _ = (int(d) for d in src.shape)
        depth = int(dst.shape[-1])
        current = op.inputs[0]
        for s in range(stages):
            weights = stage_weights(block, s, depth)
            scale = 2 ** (s + 1)
            out_shape = [n, h * scale, w * scale, int(weights.shape[0])]
            last = s == stages - 1
            out = op.outputs[0] if last else flatbuffer.add_float_tensor(sg, f"{name}/{NAME}_stage{s}", out_shape)
            tconv = schema.OperatorT()
            tconv.opcodeIndex = opcodes.opcode(model, schema.BuiltinOperator.TRANSPOSE_CONV, 1)
            tconv.inputs = [
                flatbuffer.add_constant(
                    model, sg, f"{name}/{NAME}_output_shape{s}", np.array(out_shape, np.int32), schema.TensorType.INT32
                ),
                flatbuffer.add_constant(model, sg, f"{name}/{NAME}_weights{s}", weights, schema.TensorType.FLOAT32),
                current,
                -1,  # no bias
            ]
            tconv.outputs = [out]
            options = schema.TransposeConvOptionsT()
            options.padding = schema.Padding.VALID
            options.strideW = options.strideH = VELA_STRIDE
            options.fusedActivationFunction = schema.ActivationFunctionType.NONE
            tconv.builtinOptionsType = schema.BuiltinOptions.TransposeConvOptions
            tconv.builtinOptions = options
            operators.append(tconv)
            current = out
        records.append({**record, "done": True, "becomes": f"{stages} x {BECOMES} (stride 2, 2x2 one-hot kernel)"})
    sg.operators = operators
    return records
