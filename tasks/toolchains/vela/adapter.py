"""Vela's output formats → plain dicts.  Pinned to ethos-u-vela 5.2 (tested on saved real output).

Three sources, one adapter:
- the summary CSV (``<net>_summary_<system_config>.csv``): one header row, one data row;
- the per-layer CSV (``<net>_per-layer.csv``, from ``--verbose-performance``): the header
  repeats before every subgraph's rows, and there are two percentage columns, one
  of cycles and one of MACs (older Vela called both ``Network%``);
- the supported-operators warnings Vela prints: ``Warning (supported operators)
  operator: OP, ofm: 'TENSOR'`` followed by ``Reason: …`` lines: the only place
  that says why an op stays on the CPU.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

_WARNING = re.compile(r"^Warning \(supported operators\) operator: (?P<op>[A-Z0-9_]+), ofm: '(?P<ofm>.*)'\s*$")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN → None


def parse_summary(path: Path) -> dict[str, Any]:
    rows = list(csv.reader(io.StringIO(Path(path).read_text())))
    if len(rows) < 2:
        raise ValueError(f"{path}: Vela summary CSV has no data row")
    out: dict[str, Any] = {}
    for key, text in zip(rows[0], rows[1], strict=False):
        value = _number(text)
        out[key.strip()] = value if value is not None else text
    return out


def _header_names(header: list[str]) -> list[str]:
    """Name the two percentage columns by what they measure, whatever this Vela called them."""
    names = [h.strip() for h in header]
    percent = [i for i, h in enumerate(names) if h.startswith("Network%")]
    if len(percent) == 2 and names[percent[0]] == names[percent[1]]:
        names[percent[0]], names[percent[1]] = "Network% (cycles)", "Network% (MAC)"
    return names


def parse_per_layer(path: Path) -> list[dict[str, Any]]:
    """Every layer row of every subgraph, with numbers as numbers; repeated headers skipped."""
    rows = list(csv.reader(io.StringIO(Path(path).read_text())))
    if not rows:
        return []
    header = rows[0]
    names = _header_names(header)
    layers: list[dict[str, Any]] = []
    for row in rows[1:]:
        if not row or row == header or (row and row[0].strip() == header[0].strip()):
            continue
        record: dict[str, Any] = {}
        for key, text in zip(names, row, strict=False):
            value = _number(text) if key not in ("Original Operator", "NNG Operator", "Target", "Name") else None
            record[key] = value if value is not None else text
        layers.append(record)
    return layers


def parse_cpu_reasons(log: str) -> dict[str, dict[str, str]]:
    """ofm tensor name → {op, reason} from Vela's supported-operators warnings."""
    reasons: dict[str, dict[str, str]] = {}
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        match = _WARNING.match(lines[i])
        i += 1
        if not match:
            continue
        text: list[str] = []
        while i < len(lines) and lines[i].strip() and not _WARNING.match(lines[i]):
            line = lines[i].strip()
            text.append(line[len("Reason: ") :] if line.startswith("Reason: ") else line)
            i += 1
        reasons[match["ofm"]] = {"op": match["op"], "reason": " ".join(text)}
    return reasons


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def facts(
    summary: dict[str, Any],
    layers: list[dict[str, Any]],
    reasons: dict[str, dict[str, str]],
    channels: dict[str, int],
    in_channels: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The results.json fields Vela provides: estimate, ops, cpu_fallback, layers.

    ``channels`` maps tensor names of the compiled model's input to their last
    dimension, ``in_channels`` an op's output name to its first input's last
    dimension (the per-layer CSV gives no shapes).
    """
    cycles_total = summary.get("cycles_total")
    estimate = {
        "inference_ms": round(summary["inference_time"] * 1000.0, 4),
        "fps": round(summary["inferences_per_second"], 2),
        "cycles": _int(cycles_total),
        "npu_cycles": _int(summary.get("cycles_npu")),
        "sram_access_cycles": _int(summary.get("cycles_sram_access")),
        "dram_access_cycles": _int(summary.get("cycles_dram_access")),
        "macs": _int(summary.get("nn_macs")),
        "sram_kib": round(summary.get("sram_memory_used", 0.0), 2),
        "dram_kib": round(summary.get("dram_memory_used", 0.0), 2),
        "weights_bytes": _int(summary.get("total_npu_encoded_weights")),
        "clock_hz": _int(summary.get("core_clock")),
    }
    cpu = [row for row in layers if row.get("Target") == "CPU"]
    npu = [row for row in layers if row.get("Target") == "NPU"]
    fallback = []
    for row in cpu:
        name = row.get("Name", "")
        why = reasons.get(name, {})
        fallback.append(
            {
                "op": why.get("op") or str(row.get("Original Operator", "")).upper(),
                "name": name,
                "reason": why.get("reason", "not reported by Vela"),
            }
        )
    out_layers = []
    for row in layers:
        cycles = _int(row.get("Op Cycles"))
        if row.get("Target") == "NPU" and cycles == 0:
            continue  # fused into the previous NPU op (e.g. an activation)
        on_npu = row.get("Target") == "NPU"
        out_layers.append(
            {
                "name": row.get("Name", ""),
                "op": row.get("Original Operator", ""),
                "npu_op": row.get("NNG Operator", ""),
                "target": row.get("Target", ""),
                "cycles": cycles,
                "cycles_pct": round(float(row.get("Network% (cycles)") or 0.0), 2),
                "npu_cycles": _int(row.get("NPU")),
                "sram_access_cycles": _int(row.get("SRAM AC")),
                "dram_access_cycles": _int(row.get("DRAM AC")),
                "macs": _int(row.get("MAC Count")),
                "mac_util_pct": round(float(row["Util% (MAC)"]), 2)
                if on_npu and _number(row.get("Util% (MAC)")) is not None
                else None,
                "out_channels": channels.get(row.get("Name", "")),
                "in_channels": (in_channels or {}).get(row.get("Name", "")),
            }
        )
    return {
        "estimate": estimate,
        "ops": {"npu": len(npu), "cpu": len(cpu)},
        "cpu_fallback": fallback,
        "layers": out_layers,
    }
