"""Whether a .tflite arrives quantized: the type its operators compute in, read at load time.

A model is pre-quantized when most of its operators write integer tensors
with a quantization scale (int8, uint8 or int16 activations): a vendor's int8 model,
or what quantization-aware training exports, with or without float I/O
wrappers.  Integer weights alone (dynamic range) or float16 constants are
not: their activations are float.

Loading a project must stay light (no LiteRT, no numpy), so this reads the
few fields it needs straight from the flatbuffer with ``struct``, following
LiteRT's schema.fbs: Model.subgraphs (field 2); SubGraph.tensors (0) and
.operators (3); Operator.outputs (2); Tensor.type (1) and .quantization (4);
QuantizationParameters.scale (2).
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

INTEGER = {9: "int8", 3: "uint8", 7: "int16"}  # TensorType: INT8, UINT8, INT16
FLOAT = {0, 1}  # TensorType: FLOAT32, FLOAT16


def quantized_activations(path: Path) -> str | None:
    """The integer type most of the model's operators write ("int8", "uint8", "int16"), or None for a float model
    (also for a file that is not a readable .tflite: the import step says what is wrong with it)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return activations_of(data)


def activations_of(data: bytes) -> str | None:
    """``quantized_activations`` of a model's bytes."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        return None
    try:
        return _activations(_Buffer(data))
    except (struct.error, IndexError):  # a truncated or corrupt flatbuffer; the import step names the problem
        return None


def _activations(b: _Buffer) -> str | None:
    """The integer type of most operator outputs, when they outnumber the float ones (a float model with a stray
    QUANTIZE is float)."""
    found: Counter[str] = Counter()
    floats = 0
    model = b.u32(0)
    for graph in b.tables(model, 2):
        tensors = b.tables(graph, 0)
        for op in b.tables(graph, 3):
            for index in b.ints(op, 2):
                if index < 0 or index >= len(tensors):
                    continue
                tensor = tensors[index]
                kind = b.scalar(tensor, 1, "<b", 0)
                quantization = b.table(tensor, 4)
                if kind in INTEGER and quantization is not None and b.length(quantization, 2):
                    found[INTEGER[kind]] += 1
                elif kind in FLOAT:
                    floats += 1
    return found.most_common(1)[0][0] if found and found.total() > floats else None


class _Buffer:
    """Tables, vectors and scalars of a flatbuffer, by field number."""

    def __init__(self, data: bytes):
        self.data = data

    def u32(self, at: int) -> int:
        return struct.unpack_from("<I", self.data, at)[0]

    def _field(self, table: int, field: int) -> int | None:
        """The position of ``field``'s value in ``table``, or None when the field is absent."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        size = struct.unpack_from("<H", self.data, vtable)[0]
        slot = 4 + 2 * field
        if slot >= size:
            return None
        offset = struct.unpack_from("<H", self.data, vtable + slot)[0]
        return table + offset if offset else None

    def scalar(self, table: int, field: int, fmt: str, default: int) -> int:
        at = self._field(table, field)
        return default if at is None else struct.unpack_from(fmt, self.data, at)[0]

    def table(self, table: int, field: int) -> int | None:
        at = self._field(table, field)
        return None if at is None else at + self.u32(at)

    def _vector(self, table: int, field: int) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) when absent."""
        at = self._field(table, field)
        if at is None:
            return 0, 0
        start = at + self.u32(at)
        return start + 4, self.u32(start)

    def length(self, table: int, field: int) -> int:
        return self._vector(table, field)[1]

    def tables(self, table: int, field: int) -> list[int]:
        first, count = self._vector(table, field)
        return [first + 4 * i + self.u32(first + 4 * i) for i in range(count)]

    def ints(self, table: int, field: int) -> tuple[int, ...]:
        first, count = self._vector(table, field)
        return struct.unpack_from(f"<{count}i", self.data, first) if count else ()
