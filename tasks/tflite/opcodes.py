"""What an operator is: its builtin code, its name, custom ops, and adding an opcode a rewrite needs."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from tasks.tflite.flatbuffer import tensor_name, tensor_names

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def builtin_code(model: schema.ModelT, op: schema.OperatorT) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def op_name(model: schema.ModelT, op: schema.OperatorT) -> str:
    return _OP_NAMES.get(builtin_code(model, op), "CUSTOM")


def custom_code(model: schema.ModelT, op: schema.OperatorT) -> str | None:
    """A custom operator's code (e.g. MediaPipe's Convolution2DTransposeBias); None for a builtin."""
    if builtin_code(model, op) != schema.BuiltinOperator.CUSTOM:
        return None
    code = model.operatorCodes[op.opcodeIndex].customCode
    return code.decode() if isinstance(code, bytes) else str(code)


def custom_ops(model: schema.ModelT) -> dict[str, list[str]]:
    """Every custom operator of the model: its custom code → the names of its nodes (first output tensor), in order."""
    found: dict[str, list[str]] = {}
    for sg in model.subgraphs:
        for op in sg.operators:
            code = custom_code(model, op)
            if code is None:
                continue
            name = tensor_name(sg.tensors[op.outputs[0]]) if len(op.outputs) else f"#{sg.operators.index(op)}"
            found.setdefault(code, []).append(name)
    return found


def custom_op_cuts(model: schema.ModelT) -> tuple[list[str], list[str]]:
    """Where pruning can cut the custom operators off: the model's outputs that need none of them, and the
    tensors that feed them (computed without any custom operator), each by the name prune takes."""
    sg = model.subgraphs[0]
    producer = {o: k for k, op in enumerate(sg.operators) for o in op.outputs}
    tainted: set[int] = set()  # tensors computed through a custom operator
    for op in sg.operators:
        if custom_code(model, op) is not None or any(i in tainted for i in op.inputs if i >= 0):
            tainted.update(op.outputs)
    names: dict[int, str] = {}
    for name, index in tensor_names(model).items():  # signature names first
        names.setdefault(index, name)
    free_outputs = [names[o] for o in sg.outputs if o not in tainted]
    feeding = []
    for op in sg.operators:
        if custom_code(model, op) is None:
            continue
        for i in op.inputs:
            if i >= 0 and i in producer and i not in tainted and names[i] not in feeding:
                feeding.append(names[i])
    return free_outputs, feeding


def op_histogram(model: schema.ModelT) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sg in model.subgraphs:
        for op in sg.operators or []:
            name = op_name(model, op)
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def opcode(model: schema.ModelT, code: int, version: int) -> int:
    """The index of builtin ``code``'s opcode (at least ``version``), added if the model has none."""
    for i, c in enumerate(model.operatorCodes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
            c.version = max(c.version, version)
            return i
    op = schema.OperatorCodeT()
    op.builtinCode = code
    op.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    op.version = version
    model.operatorCodes.append(op)
    return len(model.operatorCodes) - 1
