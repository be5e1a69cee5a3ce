"""Per-layer quantization error: each op's output in the quantized model against the float model.

Both models run on the same samples in the LiteRT interpreter with every
tensor kept; op outputs are matched by tensor name (the quantizers keep the
float model's names), integer tensors are dequantized with their own scale and
zero point.  The error of a layer includes what it inherits from the layers
before it: that is what the application sees, and where it jumps is where a
16-bit boundary helps.

What a layer adds is its output's noise-to-signal ratio (the inverse of its
SNR) less the largest of its inputs'; ``share`` is what a layer adds over
what every layer upstream of the worst output adds together: to first order
(noise that passes on at the signal's gain) the shares of the output error.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from tasks.tflite import flatbuffer, opcodes, runtime

COLUMNS = (
    "tensor",
    "op",
    "rmse",
    "rel_rmse",
    "snr_db",
    "scale",
    "zero_point",
    "dtype",
    "float_min",
    "float_max",
    "share",
)
REPORTED = 20  # rows kept in results.json
SAMPLES = 8  # enough for a ranking; the full set would only cost time


def _interpreter(content: bytes):
    interpreter = runtime.interpreter(content, all_tensors=True)
    interpreter.allocate_tensors()
    return interpreter


def _feed(interpreter, x: np.ndarray) -> None:
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], runtime.quantize_input(x, detail))
    interpreter.invoke()


def layer_errors(float_content: bytes, quant_content: bytes, samples: list[np.ndarray]) -> list[dict[str, Any]]:
    """One row per op output of the quantized model that the float model also has, worst first."""
    float_model = flatbuffer.read_bytes(float_content, "float model")
    quant_model = flatbuffer.read_bytes(quant_content, "quantized model")
    fsg, qsg = float_model.subgraphs[0], quant_model.subgraphs[0]
    float_index = {flatbuffer.tensor_name(t): i for i, t in enumerate(fsg.tensors)}
    rows: dict[str, dict[str, Any]] = {}
    pairs = []
    written: dict[str, list[str]] = {}  # every op output → the tensors its op reads
    made_by: dict[str, str] = {}  # every op output → its op's type
    for op in qsg.operators:
        reads = [flatbuffer.tensor_name(qsg.tensors[i]) for i in op.inputs if i >= 0]
        for out in op.outputs:
            tensor = qsg.tensors[out]
            name = flatbuffer.tensor_name(tensor)
            written[name], made_by[name] = reads, opcodes.op_name(quant_model, op)
            if name not in float_index or fsg.tensors[float_index[name]].type != flatbuffer.schema.TensorType.FLOAT32:
                continue
            q = tensor.quantization
            scales = list(q.scale) if q is not None and q.scale is not None else []
            if len(scales) > 1:
                continue  # per-channel activations: not produced by these quantizers
            zero = int(q.zeroPoint[0]) if scales and q.zeroPoint is not None and len(q.zeroPoint) else 0
            pairs.append((name, float_index[name], out, scales[0] if scales else None, zero))
            op_name = opcodes.op_name(quant_model, op)
            # a DEQUANTIZE output carries the error of the integer tensor it reads: show that one's scale
            shown = qsg.tensors[op.inputs[0]].quantization if op_name == "DEQUANTIZE" else q
            shown_scale = list(shown.scale) if shown is not None and shown.scale is not None else []
            rows[name] = {
                "tensor": name,
                "op": op_name,
                "dtype": flatbuffer.TYPE_NAMES.get(tensor.type, "?").lower(),
                "scale": float(shown_scale[0]) if len(shown_scale) == 1 else None,
                "zero_point": int(shown.zeroPoint[0]) if len(shown_scale) == 1 else None,
                "_sse": 0.0,
                "_power": 0.0,
                "_n": 0,
                "_min": math.inf,
                "_max": -math.inf,
                "_reads": reads,
                # a DEQUANTIZE of an integer tensor the float model has no twin of: the op that made that tensor
                "via": made_by.get(reads[0]) if op_name == "DEQUANTIZE" and reads[0] not in float_index else None,
            }
    f_int, q_int = _interpreter(float_content), _interpreter(quant_content)
    for x in samples[:SAMPLES]:
        _feed(f_int, x)
        _feed(q_int, x)
        for name, fi, qi, scale, zero in pairs:
            ref = f_int.get_tensor(fi).astype(np.float64)
            got = q_int.get_tensor(qi).astype(np.float64)
            if scale is not None:
                got = (got - zero) * scale
            if got.shape != ref.shape:
                got = got.reshape(ref.shape)
            row = rows[name]
            row["_sse"] += float(np.sum((got - ref) ** 2))
            row["_power"] += float(np.sum(ref**2))
            row["_n"] += ref.size
            row["_min"] = min(row["_min"], float(ref.min()))
            row["_max"] = max(row["_max"], float(ref.max()))
    out = []
    for row in rows.values():
        n = max(row.pop("_n"), 1)
        sse, power = row.pop("_sse"), row.pop("_power")
        low, high = row.pop("_min"), row.pop("_max")
        rmse = math.sqrt(sse / n)
        span = high - low
        row["_nsr"] = sse / power if power > 0 else (0.0 if sse == 0 else math.inf)  # noise to signal power
        row.update(
            rmse=rmse,
            rel_rmse=rmse / span if span > 0 else 0.0,
            snr_db=10 * math.log10(power / sse) if sse > 0 and power > 0 else (math.inf if power > 0 else 0.0),
            float_min=low,
            float_max=high,
        )
        out.append(row)
    outputs = [flatbuffer.tensor_name(qsg.tensors[i]) for i in qsg.outputs]
    shares(out, [n for n in outputs if n in rows], written)
    out.sort(key=lambda r: (-r["rel_rmse"], r["tensor"]))
    return out


def shares(rows: list[dict[str, Any]], outputs: list[str], written: dict[str, list[str]] | None = None) -> str | None:
    """Set each row's ``share`` of the error of the worst of ``outputs`` (None off its path); return that output.

    A row's inputs are the rows its op reads; a tensor the table has no row for (an integer tensor of the
    quantized model only, such as what a DEQUANTIZE reads) stands for the tensors its own op reads
    (``written``: tensor → what its op reads).
    """
    by_name = {r["tensor"]: r for r in rows}
    written = written or {}

    def resolve(names: list[str], seen: frozenset = frozenset()) -> list[str]:
        found = []
        for n in names:
            if n in by_name:
                found.append(n)
            elif n in written and n not in seen:
                found += resolve(written[n], seen | {n})
        return found

    reads = {r["tensor"]: [n for n in resolve(r.pop("_reads")) if n != r["tensor"]] for r in rows}
    nsr = {r["tensor"]: r.pop("_nsr") for r in rows}
    for r in rows:
        r["share"] = None
    if not outputs:
        return None
    worst = min(outputs, key=lambda n: by_name[n]["snr_db"])
    by_name[worst]["worst_output"] = True
    upstream, todo = set(), [worst]
    while todo:
        name = todo.pop()
        if name not in upstream:
            upstream.add(name)
            todo += reads[name]
    added = {n: max(0.0, nsr[n] - max((nsr[i] for i in reads[n]), default=0.0)) for n in upstream}
    total = sum(added.values())
    for name, value in added.items():
        by_name[name]["share"] = value / total if 0 < total < math.inf else 0.0
    return worst


def error_budget(rows: list[dict[str, Any]], count: int = 5) -> dict[str, Any] | None:
    """The worst output and the ``count`` layers that add most to its error, with their shares."""
    worst = next((r for r in rows if r.get("worst_output")), None)
    if worst is None:
        return None
    ranked = sorted((r for r in rows if r.get("share")), key=lambda r: (-r["share"], r["tensor"]))[:count]
    layers = [
        {
            "tensor": r["tensor"],
            "op": f"{r['via']} + {r['op']}" if r.get("via") else r["op"],
            "dtype": r["dtype"],
            "share": round(r["share"], 4),
        }
        for r in ranked
    ]
    snr = None if math.isinf(worst["snr_db"]) else round(worst["snr_db"], 3)
    return {"output": worst["tensor"], "snr_db": snr, "layers": layers}


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row[k]) for k in COLUMNS})
    return buffer.getvalue()


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return "" if value is None else value


def for_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The worst rows, rounded, infinities as null (JSON has none)."""
    out = []
    for row in rows[:REPORTED]:
        clean = {}
        for k in COLUMNS:
            v = row[k]
            if isinstance(v, float):
                v = None if math.isinf(v) else float(f"{v:.6g}")
            clean[k] = v
        out.append(clean)
    return out


def summary_lines(rows: list[dict[str, Any]], count: int = 5) -> list[str]:
    lines = ["worst layers (RMSE / float range, SNR, share of the worst output's error):"]
    for i, row in enumerate(rows[:count], 1):
        name = row["tensor"] if len(row["tensor"]) <= 60 else "…" + row["tensor"][-59:]
        snr = "inf" if math.isinf(row["snr_db"]) else f"{row['snr_db']:.1f}"
        share = "–" if row.get("share") is None else f"{row['share']:.0%}"
        lines.append(f"  {i}. {row['rel_rmse'] * 100:6.2f} %  {snr:>6} dB  {share:>4}  {row['op']:<18} {name}")
    return lines


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    from tasks import atomic

    atomic.write_text(path, to_csv(rows))
