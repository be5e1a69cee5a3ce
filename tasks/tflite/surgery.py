"""TFLite flatbuffer surgery on LiteRT's generated object API.

Every function takes and returns a ``ModelT`` (the mutable object form of a
``.tflite``).  Index bookkeeping lives here and nowhere else: ops, subgraph
inputs/outputs and signature defs all point at tensors by index, tensors at
buffers, ops at opcodes, so removing any of them means renumbering the rest.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tasks.errors import StepError
from tasks.tflite import runtime
from tasks.tflite.flatbuffer import SIGNATURE_KEY, is_constant, tensor_name, to_bytes
from tasks.tflite.opcodes import builtin_code, op_name, opcode

# Ops never folded even when their inputs are constant: state, control flow, randomness.
_NEVER_FOLD = {
    schema.BuiltinOperator.VAR_HANDLE,
    schema.BuiltinOperator.READ_VARIABLE,
    schema.BuiltinOperator.ASSIGN_VARIABLE,
    schema.BuiltinOperator.CALL_ONCE,
    schema.BuiltinOperator.WHILE,
    schema.BuiltinOperator.IF,
    schema.BuiltinOperator.CUSTOM,
    schema.BuiltinOperator.RANDOM_UNIFORM,
    schema.BuiltinOperator.RANDOM_STANDARD_NORMAL,
    schema.BuiltinOperator.MULTINOMIAL,
}


_NUMPY_TO_TFLITE = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.float16): schema.TensorType.FLOAT16,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.int64): schema.TensorType.INT64,
    np.dtype(np.int16): schema.TensorType.INT16,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.uint8): schema.TensorType.UINT8,
    np.dtype(np.bool_): schema.TensorType.BOOL,
}


def _static(tensor: schema.TensorT) -> bool:
    sig = tensor.shapeSignature
    return tensor.shape is not None and (sig is None or -1 not in list(sig))


def fold_constants(model: schema.ModelT) -> tuple[schema.ModelT, dict[str, int]]:
    """Replace every op whose result is known before inference by a constant tensor.

    That is: constant fp16 DEQUANTIZE and sparse DENSIFY (weights decoded at
    load time), SHAPE of a static tensor, and whatever computes only from
    constants (the STRIDED_SLICE / PACK chains a dynamic batch leaves behind).
    Calibrators and Vela want plain constants, so we run the model once in the
    LiteRT interpreter (its own kernels do the work) and store the results.
    Returns the model and a histogram of the folded op types.
    """
    sg = model.subgraphs[0]
    constant = {i for i, t in enumerate(sg.tensors) if is_constant(model, t)}
    folds: list[int] = []  # op indices, in execution order
    for index, op in enumerate(sg.operators):
        code = builtin_code(model, op)
        if code in _NEVER_FOLD or not len(op.outputs):
            continue
        inputs = [i for i in op.inputs if i >= 0]
        if code == schema.BuiltinOperator.SHAPE:
            foldable = _static(sg.tensors[inputs[0]])
        else:
            foldable = bool(inputs) and all(i in constant for i in inputs)
        if foldable and not any(o in sg.outputs for o in op.outputs):
            folds.append(index)
            constant.update(op.outputs)
    if not folds:
        return model, {}

    # run only the folded ops (the rest may hold custom ops LiteRT cannot run): what they read that is not
    # constant (SHAPE's input) is fed as an input, their results are the outputs
    whole = sg.operators, sg.inputs, sg.outputs
    sg.operators = [sg.operators[k] for k in folds]
    produced = {o for op in sg.operators for o in op.outputs}
    fed = [i for op in sg.operators for i in op.inputs if i >= 0 and i not in constant]
    sg.inputs = list(dict.fromkeys([*whole[1], *fed]))
    sg.outputs = sorted(produced)
    try:
        content = to_bytes(model)
    finally:
        sg.operators, sg.inputs, sg.outputs = whole
    interpreter = runtime.interpreter(content, all_tensors=True)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()

    folded: dict[str, int] = {}
    for index in folds:
        op = sg.operators[index]
        name = op_name(model, op)
        folded[name] = folded.get(name, 0) + 1
        for out in op.outputs:
            value = np.ascontiguousarray(interpreter.get_tensor(out))
            tensor = sg.tensors[out]
            tensor.type = _NUMPY_TO_TFLITE.get(value.dtype, tensor.type)
            tensor.sparsity = None
            if value.dtype.kind == "f":
                tensor.quantization = None
            tensor.shape = np.array(value.shape, dtype=np.int32)
            tensor.shapeSignature = None
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(value.tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            tensor.buffer = len(model.buffers) - 1
    drop = set(folds)
    sg.operators = [op for i, op in enumerate(sg.operators) if i not in drop]
    return collect_garbage(model), dict(sorted(folded.items()))


def collect_garbage(model: schema.ModelT) -> schema.ModelT:
    """Drop tensors no op or signature uses, then buffers and opcodes nothing references."""
    for sg_index, sg in enumerate(model.subgraphs):
        used = set(sg.inputs) | set(sg.outputs)
        for op in sg.operators:
            used.update(i for i in op.inputs if i >= 0)
            used.update(op.outputs)
            used.update(i for i in (op.intermediates if op.intermediates is not None else []) if i >= 0)
        order = sorted(used)
        remap = {old: new for new, old in enumerate(order)}
        remap[-1] = -1
        sg.tensors = [sg.tensors[i] for i in order]
        sg.inputs = [remap[i] for i in sg.inputs]
        sg.outputs = [remap[i] for i in sg.outputs]
        for op in sg.operators:
            op.inputs = [remap[i] for i in op.inputs]
            op.outputs = [remap[i] for i in op.outputs]
            if op.intermediates is not None and len(op.intermediates):
                op.intermediates = [remap[i] for i in op.intermediates]
        for sig in model.signatureDefs or []:
            if sig.subgraphIndex == sg_index:
                for tmap in list(sig.inputs or []) + list(sig.outputs or []):
                    tmap.tensorIndex = remap[tmap.tensorIndex]

    # Buffers: 0 stays the conventional empty buffer.
    keep = {0}
    for sg in model.subgraphs:
        keep.update(t.buffer for t in sg.tensors)
    keep.update(m.buffer for m in model.metadata or [])
    order = sorted(keep)
    bremap = {old: new for new, old in enumerate(order)}
    model.buffers = [model.buffers[i] for i in order]
    for sg in model.subgraphs:
        for t in sg.tensors:
            t.buffer = bremap[t.buffer]
    for m in model.metadata or []:
        m.buffer = bremap[m.buffer]

    used_codes = sorted({op.opcodeIndex for sg in model.subgraphs for op in sg.operators})
    cremap = {old: new for new, old in enumerate(used_codes)}
    model.operatorCodes = [model.operatorCodes[i] for i in used_codes]
    for sg in model.subgraphs:
        for op in sg.operators:
            op.opcodeIndex = cremap[op.opcodeIndex]
    return model


def set_serving_signature(model: schema.ModelT) -> schema.ModelT:
    """Give the model exactly one ``serving_default`` signature over subgraph 0's I/O.

    An existing single signature keeps its input/output names; otherwise the
    tensor names are used.
    """
    sg = model.subgraphs[0]
    old = list(model.signatureDefs or [])
    names: dict[int, str] = {}
    if len(old) == 1 and old[0].subgraphIndex == 0:
        for tmap in list(old[0].inputs or []) + list(old[0].outputs or []):
            names[tmap.tensorIndex] = tmap.name.decode() if isinstance(tmap.name, bytes) else tmap.name

    def tensor_map(index: int) -> schema.TensorMapT:
        tmap = schema.TensorMapT()
        tmap.name = names.get(index, tensor_name(sg.tensors[index]))
        tmap.tensorIndex = index
        return tmap

    sig = schema.SignatureDefT()
    sig.signatureKey = SIGNATURE_KEY
    sig.subgraphIndex = 0
    sig.inputs = [tensor_map(i) for i in sg.inputs]
    sig.outputs = [tensor_map(i) for i in sg.outputs]
    model.signatureDefs = [sig]
    return model


def static_shape(dims: list[int | None], input_shape: list[int] | None, where: str, what: str) -> list[int]:
    """A static shape for an input whose free dimensions are None or -1.

    The declared ``input_shape`` must fit the free dimensions; without one only
    a free batch dimension is allowed, and it becomes 1.
    """
    signature = [-1 if d is None else int(d) for d in dims]
    if input_shape is not None:
        if len(input_shape) != len(signature) or any(
            s not in (-1, d) for s, d in zip(signature, input_shape, strict=True)
        ):
            raise StepError(
                f"{where}: input_shape {list(input_shape)} does not fit {what} of shape {signature} "
                "(-1 is a free dimension)"
            )
        return list(input_shape)
    shape = [1 if (i == 0 and s == -1) else s for i, s in enumerate(signature)]
    if any(s < 0 for s in shape):
        raise StepError(
            f"{where}: {what} has dynamic shape {signature}; set models.<name>.input_shape to a static shape"
        )
    return shape


def fix_input_shapes(model: schema.ModelT, input_shape: list[int] | None, source: str) -> schema.ModelT:
    """Make every input static with batch 1 (or the declared ``input_shape``).

    Vela keeps reshapes on the NPU only when shapes are static, so a dynamic
    dimension other than batch needs an explicit ``input_shape``.
    """
    sg = model.subgraphs[0]
    if input_shape is not None and len(sg.inputs) != 1:
        raise StepError(f"{source}: input_shape is given but the model has {len(sg.inputs)} inputs")
    for index in sg.inputs:
        tensor = sg.tensors[index]
        signature = list(tensor.shapeSignature) if tensor.shapeSignature is not None else list(tensor.shape)
        shape = static_shape(signature, input_shape, source, f"input '{tensor_name(tensor)}'")
        tensor.shape = np.array(shape, dtype=np.int32)
        tensor.shapeSignature = None
    return model


def propagate_static_shapes(model: schema.ModelT) -> schema.ModelT:
    """After the inputs are fixed, write the static shape of every tensor.

    Only needed where tensors still carry a dynamic ``shape_signature``; the
    LiteRT interpreter does the shape inference.
    """
    sg = model.subgraphs[0]
    dynamic = [t for t in sg.tensors if t.shapeSignature is not None and -1 in list(t.shapeSignature)]
    if not dynamic:
        return model
    interpreter = runtime.interpreter(to_bytes(model))
    interpreter.allocate_tensors()
    shapes = {d["index"]: d["shape"] for d in interpreter.get_tensor_details()}
    for index, tensor in enumerate(sg.tensors):
        if index in shapes:
            tensor.shape = np.array(shapes[index], dtype=np.int32)
        tensor.shapeSignature = None
    return model


def downstream_outputs(model: schema.ModelT, tensor: int) -> list[str]:
    """Output tensor names of every op that depends on ``tensor``, in execution order."""
    sg = model.subgraphs[0]
    reached = {tensor}
    names = []
    for op in sg.operators:
        if any(i in reached for i in op.inputs if i >= 0):
            reached.update(op.outputs)
            names.extend(tensor_name(sg.tensors[o]) for o in op.outputs)
    return names


def float_io(model: schema.ModelT) -> schema.ModelT:
    """Give an integer-I/O model float32 inputs and outputs (QUANTIZE in, DEQUANTIZE out).

    The float tensors take the original names; the integer ones get an ``_int``
    suffix.  Signature entries follow the float tensors.
    """
    sg = model.subgraphs[0]
    moved: dict[int, int] = {}

    def float_twin(index: int) -> int:
        old = sg.tensors[index]
        twin = schema.TensorT()
        twin.name = tensor_name(old)
        twin.shape = np.array(old.shape, dtype=np.int32)
        twin.type = schema.TensorType.FLOAT32
        twin.buffer = 0
        old.name = f"{tensor_name(old)}_int"
        sg.tensors.append(twin)
        moved[index] = len(sg.tensors) - 1
        return moved[index]

    integer = (schema.TensorType.INT8, schema.TensorType.UINT8, schema.TensorType.INT16)
    front = []
    for index in list(sg.inputs):
        if sg.tensors[index].type in integer:
            op = schema.OperatorT()
            op.opcodeIndex = opcode(model, schema.BuiltinOperator.QUANTIZE, 1)
            op.inputs, op.outputs = [float_twin(index)], [index]
            front.append(op)
    back = []
    for index in list(sg.outputs):
        if sg.tensors[index].type in integer:
            op = schema.OperatorT()
            op.opcodeIndex = opcode(model, schema.BuiltinOperator.DEQUANTIZE, 2)
            op.inputs, op.outputs = [index], [float_twin(index)]
            back.append(op)
    sg.operators = front + list(sg.operators) + back
    sg.inputs = [moved.get(i, i) for i in sg.inputs]
    sg.outputs = [moved.get(i, i) for i in sg.outputs]
    for sig in model.signatureDefs or []:
        for tmap in list(sig.inputs or []) + list(sig.outputs or []):
            tmap.tensorIndex = moved.get(tmap.tensorIndex, tmap.tensorIndex)
    return model
