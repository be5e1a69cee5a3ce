"""HARD_SWISH → ADD (fused RELU6), MUL, MUL: the same function from operators with int16 kernels.

hard_swish(x) = x · relu6(x + 3) / 6.  TensorFlow Lite has no int16x8 kernel for HARD_SWISH, so
an int16x8 scheme leaves it in float (on the CPU, and Vela stops at it); ADD with a fused RELU6
and MUL have int16x8 kernels, and Vela maps them to the NPU.  Not a default rewrite: in int8,
HARD_SWISH is one NPU operator (a lookup table) and three would be slower; name it in a model's
``rewrites:`` for its int16x8 schemes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.model.rewrites import REWRITES
from tasks.tflite import flatbuffer, opcodes
from tasks.tflite.flatbuffer import schema

SPEC = REWRITES["hard_swish"]
NAME, REPLACES = SPEC.name, SPEC.replaces


def _op(model: schema.ModelT, code: int, inputs: list[int], output: int, options) -> schema.OperatorT:
    op = schema.OperatorT()
    op.opcodeIndex = opcodes.opcode(model, code, 1)
    op.inputs, op.outputs = inputs, [output]
    op.builtinOptionsType = (
        schema.BuiltinOptions.AddOptions
        if isinstance(options, schema.AddOptionsT)
        else schema.BuiltinOptions.MulOptions
    )
    op.builtinOptions = options
    return op


def _options(kind, activation: int):
    options = kind()
    options.fusedActivationFunction = activation
    return options


def apply(model: schema.ModelT) -> list[dict[str, Any]]:
    """Rewrite every float HARD_SWISH; one record per op: rewritten, or left with the reason."""
    sg = model.subgraphs[0]
    records: list[dict[str, Any]] = []
    operators: list[schema.OperatorT] = []
    act = schema.ActivationFunctionType
    for op in sg.operators:
        if opcodes.op_name(model, op) != REPLACES:
            operators.append(op)
            continue
        x, y = op.inputs[0], op.outputs[0]
        name = flatbuffer.tensor_name(sg.tensors[y])
        record = {"rewrite": NAME, "op": REPLACES, "name": name}
        if sg.tensors[x].type != schema.TensorType.FLOAT32:
            records.append({**record, "done": False, "reason": "not a float op (the rewrite runs before quantization)"})
            operators.append(op)
            continue
        shape = [int(d) for d in sg.tensors[x].shape]
        three = flatbuffer.add_constant(
            model, sg, f"{name}/{NAME}_three", np.array([3.0], np.float32), schema.TensorType.FLOAT32
        )
        sixth = flatbuffer.add_constant(
            model, sg, f"{name}/{NAME}_sixth", np.array([1 / 6], np.float32), schema.TensorType.FLOAT32
        )
        gate = flatbuffer.add_float_tensor(sg, f"{name}/{NAME}_relu6", shape)
        scaled = flatbuffer.add_float_tensor(sg, f"{name}/{NAME}_gate", shape)
        operators += [
            _op(model, schema.BuiltinOperator.ADD, [x, three], gate, _options(schema.AddOptionsT, act.RELU6)),
            _op(model, schema.BuiltinOperator.MUL, [gate, sixth], scaled, _options(schema.MulOptionsT, act.NONE)),
            _op(model, schema.BuiltinOperator.MUL, [x, scaled], y, _options(schema.MulOptionsT, act.NONE)),
        ]
        records.append({**record, "done": True, "becomes": SPEC.becomes})
    sg.operators = operators
    return records
