"""A .tflite as LiteRT's object API holds it: reading, writing, and finding tensors by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from tasks.errors import StepError

SIGNATURE_KEY = "serving_default"


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


def tensor_name(tensor: schema.TensorT) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name)


def single_input_shape(model: schema.ModelT, where: str) -> list[int]:
    """The static shape of the model's only input; calibration and evaluation feed one tensor."""
    sg = model.subgraphs[0]
    if len(sg.inputs) != 1:
        raise StepError(f"{where}: only single-input models are supported here; this one has {len(sg.inputs)} inputs")
    return [int(d) for d in sg.tensors[sg.inputs[0]].shape]


def is_constant(model: schema.ModelT, tensor: schema.TensorT) -> bool:
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buf is not None and buf.data is not None and len(buf.data) > 0


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


def add_constant(model: schema.ModelT, sg: schema.SubGraphT, name: str, value: np.ndarray, ttype: int) -> int:
    """A new constant tensor holding ``value`` (its own buffer); its index in ``sg``."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.ascontiguousarray(value).tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.name = name
    tensor.shape = np.array(value.shape, dtype=np.int32)
    tensor.type = ttype
    tensor.buffer = len(model.buffers) - 1
    sg.tensors.append(tensor)
    return len(sg.tensors) - 1


def add_float_tensor(sg: schema.SubGraphT, name: str, shape: list[int]) -> int:
    """A new float32 activation tensor (no data); its index in ``sg``."""
    tensor = schema.TensorT()
    tensor.name = name
    tensor.shape = np.array(shape, dtype=np.int32)
    tensor.type = schema.TensorType.FLOAT32
    tensor.buffer = 0
    sg.tensors.append(tensor)
    return len(sg.tensors) - 1
