"""MediaPipe's custom Convolution2DTransposeBias → builtin TRANSPOSE_CONV with its bias as 4th input.

MediaPipe's kernel (mediapipe/util/tflite/operations/transpose_conv_bias.cc) is TensorFlow Lite's
reference transpose convolution with a bias: inputs (input NHWC, weights OHWI, bias [O]), float32,
options the raw 12 bytes of TfLiteTransposeConvParams (padding: 1 SAME, 2 VALID; stride_width;
stride_height), no activation.  Its output size is stored on its output tensor.  The builtin
TRANSPOSE_CONV (version 3) takes (output_shape, weights OHWI, input, bias) with the same padding
rule (the leading pad is half the total, rounded down), so the weights need no transpose and only
the padding code changes (the schema's SAME is 0, VALID 1).  The import step proves the result
equal to the original on random inputs (LiteRT's default XNNPACK delegate runs MediaPipe's op).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from tasks.tflite import flatbuffer, opcodes
from tasks.tflite.flatbuffer import schema

CUSTOM_CODE = "Convolution2DTransposeBias"
_PADDING = {1: schema.Padding.SAME, 2: schema.Padding.VALID}  # TfLitePadding -> the schema's Padding


def apply(model: schema.ModelT) -> list[dict[str, Any]]:
    """Rewrite every Convolution2DTransposeBias op in place; one record per op."""
    records = []
    for sg in model.subgraphs:
        for op in sg.operators:
            if opcodes.custom_code(model, op) == CUSTOM_CODE:
                records.append(_rewrite(model, sg, op))
    return records


def _rewrite(model: schema.ModelT, sg: schema.SubGraphT, op: schema.OperatorT) -> dict[str, Any]:
    out = sg.tensors[op.outputs[0]]
    name = flatbuffer.tensor_name(out)
    options = bytes(op.customOptions) if op.customOptions is not None else b""
    if len(op.inputs) != 3 or len(options) < 12:
        return {
            "name": name,
            "op": CUSTOM_CODE,
            "done": False,
            "reason": "not MediaPipe's 3-input form with 12-byte options",
        }
    padding, stride_w, stride_h = struct.unpack_from("<3i", options, 0)
    if padding not in _PADDING:
        return {"name": name, "op": CUSTOM_CODE, "done": False, "reason": f"unknown padding code {padding}"}
    data, weights, bias = op.inputs
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.asarray(out.shape, dtype="<i4").tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    shape = schema.TensorT()
    shape.name, shape.shape, shape.type, shape.buffer = (
        f"{name}/output_shape",
        np.array([4], dtype=np.int32),
        schema.TensorType.INT32,
        len(model.buffers) - 1,
    )
    sg.tensors.append(shape)
    conv = schema.TransposeConvOptionsT()
    conv.padding, conv.strideW, conv.strideH = _PADDING[padding], stride_w, stride_h
    conv.fusedActivationFunction = schema.ActivationFunctionType.NONE
    op.opcodeIndex = opcodes.opcode(model, schema.BuiltinOperator.TRANSPOSE_CONV, 3)
    op.inputs = np.array([len(sg.tensors) - 1, weights, data, bias], dtype=np.int32)
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.TransposeConvOptions, conv
    op.customOptions, op.customOptionsFormat = None, 0
    becomes = f"TRANSPOSE_CONV (stride {stride_w}x{stride_h}, {'SAME' if padding == 1 else 'VALID'}, bias as 4th input)"
    return {"name": name, "op": CUSTOM_CODE, "done": True, "becomes": becomes}
