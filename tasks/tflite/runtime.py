"""Running a .tflite on this machine: the one place an interpreter is made, and comparing outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tasks.tflite.flatbuffer import read_bytes
from tasks.tflite.opcodes import op_histogram
from tasks.tflite.scaling import quantize_input as quantize_input  # the name its callers use


def interpreter(
    model: bytes | Path, *, builtin_kernels: bool = True, all_tensors: bool = False, threads: int | None = None
):
    """A LiteRT interpreter of ``model`` (its bytes, or its path), not yet allocated.

    ``builtin_kernels``: TFLite's builtin kernels, without the default XNNPACK delegate, whose int8 kernels
    round differently (by one step at times).  That is the arithmetic the per-layer table, the accuracy and
    the boards are compared with; without it, LiteRT's default, as a user's own runtime runs the model.
    ``all_tensors``: every intermediate tensor stays readable after an invoke.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    source = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    options: dict[str, Any] = {} if threads is None else {"num_threads": threads}
    if all_tensors:
        options["experimental_preserve_all_tensors"] = True
    if builtin_kernels:
        options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(**source, **options)


EQUIVALENCE_TOLERANCE = 1e-5  # an imported or rewritten model may differ by this much of an output's range


def range_relative_diff(expected: np.ndarray, got: np.ndarray) -> float:
    """Max abs difference of ``got`` from ``expected``, as a fraction of ``expected``'s range."""
    expected = np.asarray(expected, dtype=np.float64)
    span = float(expected.max() - expected.min()) or 1.0
    return float(np.abs(np.asarray(got, dtype=np.float64).reshape(expected.shape) - expected).max()) / span


def describe(model_bytes: bytes, **extra: Any) -> dict[str, Any]:
    made = interpreter(model_bytes, builtin_kernels=False)
    model = read_bytes(model_bytes, "model")

    def io(details):
        return [
            {"name": d["name"], "shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
            for d in details
        ]

    return {
        "inputs": io(made.get_input_details()),
        "outputs": io(made.get_output_details()),
        "ops": op_histogram(model),
        "size_bytes": len(model_bytes),
        **extra,
    }
