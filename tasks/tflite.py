"""TFLite flatbuffer surgery on LiteRT's generated object API.

Every function takes and returns a ``ModelT`` (the mutable object form of a
``.tflite``).  Index bookkeeping lives here and nowhere else: ops, subgraph
inputs/outputs and signature defs all point at tensors by index, tensors at
buffers, ops at opcodes, so removing any of them means renumbering the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from tasks.errors import StepError

SIGNATURE_KEY = "serving_default"
EQUIVALENCE_TOLERANCE = 1e-5  # an imported or rewritten model may differ by this much of an output's range


def range_relative_diff(expected: np.ndarray, got: np.ndarray) -> float:
    """Max abs difference of ``got`` from ``expected``, as a fraction of ``expected``'s range."""
    expected = np.asarray(expected, dtype=np.float64)
    span = float(expected.max() - expected.min()) or 1.0
    return float(np.abs(np.asarray(got, dtype=np.float64).reshape(expected.shape) - expected).max()) / span


_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def read(path: Path) -> schema.ModelT:
    return read_bytes(Path(path).read_bytes(), str(path))


def read_bytes(data: bytes, where: str) -> schema.ModelT:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise StepError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier); give a float .tflite model")
    try:
        return flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    except Exception as exc:  # a truncated or corrupt flatbuffer fails anywhere inside the reader
        raise StepError(f"{where}: corrupt .tflite ({type(exc).__name__}: {exc}); fetch or export it again") from None


def to_bytes(model: schema.ModelT) -> bytes:
    # the generated Pack writes a buffer that is not a numpy array one byte at a time (seconds for a few MB, as
    # ai-edge-quantizer leaves them); as uint8 arrays they are written whole, to the same bytes
    for buffer in model.buffers:
        if buffer.data is not None and not isinstance(buffer.data, np.ndarray):
            buffer.data = np.frombuffer(bytes(buffer.data), np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


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


def tensor_name(tensor: schema.TensorT) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name)


def single_input_shape(model: schema.ModelT, where: str) -> list[int]:
    """The static shape of the model's only input; calibration and evaluation feed one tensor."""
    sg = model.subgraphs[0]
    if len(sg.inputs) != 1:
        raise StepError(f"{where}: only single-input models are supported here; this one has {len(sg.inputs)} inputs")
    return [int(d) for d in sg.tensors[sg.inputs[0]].shape]


def op_histogram(model: schema.ModelT) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sg in model.subgraphs:
        for op in sg.operators or []:
            name = op_name(model, op)
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def is_constant(model: schema.ModelT, tensor: schema.TensorT) -> bool:
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buf is not None and buf.data is not None and len(buf.data) > 0


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
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

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
    interpreter = Interpreter(
        model_content=content,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
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
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    sg = model.subgraphs[0]
    dynamic = [t for t in sg.tensors if t.shapeSignature is not None and -1 in list(t.shapeSignature)]
    if not dynamic:
        return model
    interpreter = Interpreter(
        model_content=to_bytes(model),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    shapes = {d["index"]: d["shape"] for d in interpreter.get_tensor_details()}
    for index, tensor in enumerate(sg.tensors):
        if index in shapes:
            tensor.shape = np.array(shapes[index], dtype=np.int32)
        tensor.shapeSignature = None
    return model


def describe(model_bytes: bytes, **extra: Any) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    model = read_bytes(model_bytes, "model")

    def io(details):
        return [
            {"name": d["name"], "shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
            for d in details
        ]

    return {
        "inputs": io(interpreter.get_input_details()),
        "outputs": io(interpreter.get_output_details()),
        "ops": op_histogram(model),
        "size_bytes": len(model_bytes),
        **extra,
    }


def prune(model: schema.ModelT, outputs: list[str], inputs: list[str] | None, where: str) -> schema.ModelT:
    """Keep only the ops that compute ``outputs`` (which become the outputs, in order).

    With ``inputs``, those tensors become the inputs and everything before them
    goes.  Every kept output must be computed from the inputs.
    """
    sg = model.subgraphs[0]

    def find(name: str, key: str) -> int:
        return find_tensor(model, name, f"{where}.{key}")

    out_idx = [find(n, "outputs") for n in outputs]
    in_idx = [find(n, "inputs") for n in inputs] if inputs else list(sg.inputs)
    producer = {o: k for k, op in enumerate(sg.operators) for o in op.outputs}
    constant = {i for i, t in enumerate(sg.tensors) if is_constant(model, t)}
    starts = set(in_idx)

    keep_ops: set[int] = set()
    reaches: dict[int, bool] = {}  # tensor -> computed from the inputs?

    def visit(tensor: int) -> bool:
        if tensor in reaches:
            return reaches[tensor]
        if tensor in starts:
            result = True
        elif tensor in constant or tensor not in producer:
            if tensor not in constant and tensor in sg.inputs:
                raise StepError(
                    f"{where}.inputs: keeping the outputs needs model input '{tensor_name(sg.tensors[tensor])}', "
                    "which the given inputs cut off; add it to inputs"
                )
            result = False
        else:
            k = producer[tensor]
            keep_ops.add(k)
            result = any([visit(i) for i in sg.operators[k].inputs if i >= 0])
        reaches[tensor] = result
        return result

    for name, index in zip(outputs, out_idx, strict=True):
        if not visit(index):
            raise StepError(
                f"{where}.outputs: '{name}' is not computed from the model's inputs (it is a constant); keep another tensor"
            )
    sg.operators = [op for k, op in enumerate(sg.operators) if k in keep_ops]
    sg.inputs = [i for i in in_idx if i in reaches]
    sg.outputs = out_idx
    for i in sg.inputs:
        sg.tensors[i].buffer = 0  # a cut point is fed at run time, not stored
    # kept tensors keep their signature names; new inputs/outputs are named by tensor
    return collect_garbage(set_serving_signature(model))


def tensor_names(model: schema.ModelT) -> dict[str, int]:
    """Name → tensor index of subgraph 0; signature names first (what users see), then tensor names."""
    index_of: dict[str, int] = {}
    for sig in model.signatureDefs or []:
        for tmap in list(sig.inputs or []) + list(sig.outputs or []):
            index_of.setdefault(tmap.name.decode() if isinstance(tmap.name, bytes) else tmap.name, tmap.tensorIndex)
    for i, t in enumerate(model.subgraphs[0].tensors):
        index_of.setdefault(tensor_name(t), i)
    return index_of


def find_tensor(model: schema.ModelT, name: str, where: str) -> int:
    """The tensor called ``name``, or a StepError listing the closest names."""
    import difflib

    index_of = tensor_names(model)
    if name not in index_of:
        close = difflib.get_close_matches(name, list(index_of), n=5, cutoff=0.4)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise StepError(f"{where}: no tensor named '{name}' in the model{hint}")
    return index_of[name]


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


def _opcode(model: schema.ModelT, code: int, version: int) -> int:
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
            op.opcodeIndex = _opcode(model, schema.BuiltinOperator.QUANTIZE, 1)
            op.inputs, op.outputs = [float_twin(index)], [index]
            front.append(op)
    back = []
    for index in list(sg.outputs):
        if sg.tensors[index].type in integer:
            op = schema.OperatorT()
            op.opcodeIndex = _opcode(model, schema.BuiltinOperator.DEQUANTIZE, 2)
            op.inputs, op.outputs = [index], [float_twin(index)]
            back.append(op)
    sg.operators = front + list(sg.operators) + back
    sg.inputs = [moved.get(i, i) for i in sg.inputs]
    sg.outputs = [moved.get(i, i) for i in sg.outputs]
    for sig in model.signatureDefs or []:
        for tmap in list(sig.inputs or []) + list(sig.outputs or []):
            tmap.tensorIndex = moved.get(tmap.tensorIndex, tmap.tensorIndex)
    return model


def quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """A float sample as an interpreter input of ``detail``'s type (quantized with its scale and zero point)."""
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return x.astype(detail["dtype"])
