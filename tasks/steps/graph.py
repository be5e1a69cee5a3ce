"""graph: the operators and tensors of a quantized model, in execution order, for the report's graph view.

One ``graph.json`` per quantized model (every target of a model and scheme
shares it): each operator's type, inputs and outputs; each tensor's name,
shape, type and size in bytes, and its quantization error from the
per-layer error table (SNR, relative RMSE, share of the worst output's
error).  The report lays it out and colours it with Vela's per-layer
placement and cycles, or with the error (tasks/report/graph.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.planning.options import input_file, output_file

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step

DTYPE_BYTES = {
    "FLOAT32": 4,
    "FLOAT16": 2,
    "INT32": 4,
    "UINT8": 1,
    "INT64": 8,
    "BOOL": 1,
    "INT16": 2,
    "INT8": 1,
    "FLOAT64": 8,
    "UINT32": 4,
    "UINT16": 2,
    "INT4": 1,
}


@dataclass(frozen=True, kw_only=True)
class Options:
    model: Path = input_file()  # the quantized .tflite
    out: Path = output_file()
    errors: Path | None = input_file(None)  # its quant_errors.csv (the quantize step's per-layer error table)


def plan_graph(planning: Planning) -> list[Step]:
    steps, seen = [], set()
    for v in planning.project.variants:
        toolchain = planning.toolchain(v)
        if not toolchain.builds.quantizes or (v.unit, v.quantization) in seen:
            continue
        seen.add((v.unit, v.quantization))
        quantize = planning.step_of("quantize", v.scheme)
        options = Options(
            model=planning.paths.quantized(v.unit, v.quantization),
            out=planning.paths.graph(v.unit, v.quantization),
            errors=quantize.options.errors_csv if quantize else None,
        )
        doc = "list the quantized model's operators and tensors for the report's graph view"
        steps.append(planning.new("graph", v.scheme, doc, options))
    return steps


def run(o: Options) -> None:
    graph = describe(o.model)
    if o.errors is not None:
        add_errors(graph, o.errors)
    atomic.write_json(o.out, graph)


def add_errors(graph: dict[str, Any], table: Path) -> None:
    """Each tensor of the per-layer error table gets its ``error``: SNR dB (None: exact), relative RMSE, share."""
    import csv

    def number(text: str) -> float | None:
        return None if text in ("", "inf") else float(text)

    with table.open(newline="") as f:
        rows = {r["tensor"]: r for r in csv.DictReader(f)}
    for tensor in graph["tensors"]:
        row = rows.get(tensor["name"])
        if row is not None:
            tensor["error"] = {
                "snr_db": number(row["snr_db"]),
                "rel_rmse": number(row["rel_rmse"]),
                "share": number(row.get("share", "")),
            }


def describe(path: Path) -> dict[str, Any]:
    from ai_edge_litert import schema_py_generated as schema

    from tasks.tflite import flatbuffer, opcodes

    model = flatbuffer.read(path)
    graph = model.subgraphs[0]
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    constant = {i for i, t in enumerate(graph.tensors) if t.buffer and model.buffers[t.buffer].data is not None}
    tensors = []
    for t in graph.tensors:
        shape = [int(d) for d in (t.shape if t.shape is not None else [])]
        dtype = types.get(t.type, str(t.type))
        count = math.prod(max(d, 1) for d in shape)
        tensors.append(
            {
                "name": flatbuffer.tensor_name(t),
                "shape": shape,
                "dtype": dtype,
                "bytes": count * DTYPE_BYTES.get(dtype, 4),
            }
        )
    ops = []
    for op in graph.operators:
        ins = [int(i) for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        ops.append(
            {
                "type": opcodes.op_name(model, op),
                "inputs": [i for i in ins if i not in constant],
                "constants": [i for i in ins if i in constant],
                "outputs": [int(i) for i in (op.outputs if op.outputs is not None else [])],
            }
        )
    return {
        "tensors": tensors,
        "ops": ops,
        "inputs": [int(i) for i in graph.inputs],
        "outputs": [int(i) for i in graph.outputs],
    }
