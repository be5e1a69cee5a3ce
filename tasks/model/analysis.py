"""Per-layer findings from a compiled variant's facts: what costs cycles and what to do about it.

Pure: compile.json (Vela's per-layer numbers, the accelerator's channel block)
in, a ranked list of findings out.  The reasoning engineers do by hand with
Vela's per-layer table:

- hot layers: the ones that together take 80 % of the cycles;
- channel padding: an output channel count off the accelerator's channel block
  costs the cycles of the rounded-up count ("90 → 96 costs no extra cycles");
- memory-bound: memory access cycles above NPU cycles, with the layer's share
  of the network, so "not worth it" is visible;
- CPU fallback: each op Vela left on the CPU, with Vela's reason and the usual
  remedy;
- the first layer: 3 input channels use a sliver of the MAC array; expected.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.progress import say

HOT_SHARE = 80.0  # % of cycles the hot layers cover together
HOT_MAX = 10  # at most this many hot layers are named; the rest are summed up
NOISE_PCT = 0.5  # padding and memory findings below this share of the cycles are not worth a line
WORTH_IT_PCT = 5.0  # below this share of the network a memory-bound layer is not worth optimising
CHANNEL_OPS = {"Conv2D", "DepthwiseConv2D", "FullyConnected", "TransposeConv2D", "TransposeConv"}
FIRST_LAYER_CHANNELS = 4  # an input with this few channels (an image) cannot fill the MAC array

# (op, pattern on Vela's reason) -> remedy; first match wins.
REMEDIES: list[tuple[str, str, str]] = [
    (
        "QUANTIZE",
        r"Float32",
        "float input: quantize with integer I/O (io: int8) so the input conversion leaves the graph",
    ),
    ("DEQUANTIZE", r"", "float output: quantize with integer I/O (io: int8) and dequantize in the application"),
    ("*", r"[Dd]ynamic|shape|batch", "dynamic shapes: import with a fixed batch and static input_shape"),
    (
        "DEPTH_TO_SPACE",
        r"Unsupported opType",
        "no NPU kernel: the same arithmetic is a TRANSPOSE_CONV with stride = block size and one-hot weights",
    ),
    ("*", r"Float32|float", "float tensor on an integer NPU: quantize this op (check overrides that keep it float)"),
    (
        "*",
        r"Unsupported opType",
        "no NPU kernel for this op on this accelerator: see `vela --supported-ops-report` for ops that express it",
    ),
]


def remedy(op: str, reason: str) -> str:
    for pattern_op, pattern, text in REMEDIES:
        if pattern_op in ("*", op) and re.search(pattern, reason):
            return text
    return f"follow Vela's reason: {reason}"


def _short(name: str) -> str:
    return name if len(name) <= 80 else "…" + name[-79:]


def findings(facts: dict[str, Any], rewrites: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Ranked findings: CPU fallbacks first (their cost is outside Vela's estimate), then by cycles at stake.

    ``rewrites``: the rewrite step's records for this model (None: no rewrite ran), so a former CPU
    fallback is named with the rewrite that removed it, and a rewrite that is off is suggested.
    """
    layers = [layer for layer in facts["layers"] if layer["target"] == "NPU"]
    block = (facts.get("arch") or {}).get("channel_block")
    out = _cpu_fallbacks(facts["cpu_fallback"], rewrites) + _rewritten(facts["cpu_fallback"], layers, rewrites)
    out += _hot(layers) + _channel_padding(layers, block)
    bound = _memory_bound(layers)
    out += bound + _memory_bound_together(bound)
    rank = {"cpu_fallback": 0, "rewritten": 0.5}
    out.sort(key=lambda f: (rank.get(f["kind"], 1), -(f["cycles_pct"] or 0.0)))
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in out:  # Vela splits some ops (e.g. a resize) into parts with one name: one line is enough
        f["layer"] = _short(f["layer"])
        unique.setdefault((f["kind"], f["layer"], f["detail"].split(":")[0]), f)
    return list(unique.values())


def _cpu_fallbacks(fallbacks: list[dict[str, Any]], rewrites: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    from tasks.model.rewrites import FIXES

    records = {r["name"]: r for r in rewrites or []}
    out = []
    for fb in fallbacks:
        action = remedy(fb["op"], fb["reason"])
        fix, record = FIXES.get(fb["op"]), records.get(fb["name"])
        if fix and record and not record["done"]:
            action = f"the {fix} rewrite left it: {record['reason']}"
        elif fix and rewrites is None:
            action = f"switch on the {fix} rewrite (the model's rewrites: [{fix}]): {action}"
        out.append(
            {
                "kind": "cpu_fallback",
                "layer": fb["name"],
                "cycles_pct": None,
                "detail": f"{fb['op']} runs on the CPU: {fb['reason']}",
                "action": action,
            }
        )
    return out


def _rewritten(
    fallbacks: list[dict[str, Any]], layers: list[dict[str, Any]], rewrites: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    on_cpu = {fb["name"]: fb for fb in fallbacks}
    out = []
    for record in (r for r in rewrites or [] if r["done"]):
        still = on_cpu.get(record["name"])
        mine = [x for x in layers if x["name"] == record["name"] or x["name"].startswith(record["name"] + "/")]
        share = sum(x["cycles_pct"] for x in mine)
        if still:
            detail, action = (
                f", but Vela leaves that on the CPU too: {still['reason']}",
                "switch the rewrite off for this model (rewrites: []): it buys nothing here",
            )
        elif share >= WORTH_IT_PCT:
            detail, action = (
                f", now on the NPU, where it takes {share:.1f} % of the cycles",
                "measure it on the board with and without the rewrite (rewrites: []): on a small NPU the "
                "one-hot weights can cost more than the CPU copy they save",
            )
        else:
            detail, action = (
                f", now on the NPU ({share:.1f} % of the cycles)",
                "none: rewritten before quantization, outputs proven equal to the original",
            )
        out.append(
            {
                "kind": "rewritten",
                "layer": record["name"],
                "op": record["op"],
                "cycles_pct": round(share, 2) if mine else None,
                "detail": f"{record['op']} (left on the CPU by Vela) became {record['becomes']} "
                f"by the {record['rewrite']} rewrite{detail}",
                "action": action,
            }
        )
    return out


def _hot(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The layers that together take HOT_SHARE % of the cycles (the first layer of an image model named as such)."""
    out: list[dict[str, Any]] = []
    first_npu_conv = next((layer for layer in layers if layer["op"] in CHANNEL_OPS), None)
    by_cycles = sorted(layers, key=lambda layer: -layer["cycles"])
    covered = 0.0
    for count, layer in enumerate(by_cycles):
        if covered >= HOT_SHARE or layer["cycles"] == 0:
            break
        if count == HOT_MAX:
            rest = [x for x in by_cycles[count:] if x["cycles"] > 0]
            needed, share = 0, covered
            for x in rest:
                if share >= HOT_SHARE:
                    break
                share += x["cycles_pct"]
                needed += 1
            out.append(
                {
                    "kind": "hot",
                    "layer": f"{needed} more layers",
                    "op": None,
                    "cycles_pct": round(share - covered, 2),
                    "detail": f"the cycles are spread: the top {HOT_MAX} layers take {covered:.1f} %, "
                    f"{needed} more reach {share:.1f} %",
                    "action": "no single layer dominates: gains come from the model's overall size or resolution",
                }
            )
            break
        covered += layer["cycles_pct"]
        util = layer["mac_util_pct"]
        first = layer is first_npu_conv and (layer.get("in_channels") or 99) <= FIRST_LAYER_CHANNELS
        if first:
            detail = (
                f"{layer['cycles_pct']:.1f} % of cycles at {util:.1f} % MAC utilisation: the first layer reads "
                f"{layer['in_channels']} input channels, which fill a sliver of the MAC array"
            )
            action = "expected for an image input; nothing to change in the model"
            kind = "first_layer"
        else:
            detail = f"{layer['cycles_pct']:.1f} % of cycles" + (
                f" at {util:.1f} % MAC utilisation" if util is not None else ""
            )
            action = "the largest share of the time: fewer channels or a lower resolution here gain the most"
            kind = "hot"
        out.append(
            {
                "kind": kind,
                "layer": layer["name"],
                "op": layer["op"],
                "cycles_pct": layer["cycles_pct"],
                "detail": detail,
                "action": action,
            }
        )
    return out


def _channel_padding(layers: list[dict[str, Any]], block: int | None) -> list[dict[str, Any]]:
    out = []
    for layer in layers:
        channels, util = layer.get("out_channels"), layer.get("mac_util_pct")
        if not block or layer["op"] not in CHANNEL_OPS or not channels or channels % block == 0 or util is None:
            continue
        if layer["cycles_pct"] < NOISE_PCT:
            continue
        rounded = math.ceil(channels / block) * block
        lower = rounded - block
        out.append(
            {
                "kind": "channel_padding",
                "layer": layer["name"],
                "op": layer["op"],
                "cycles_pct": layer["cycles_pct"],
                "detail": (
                    f"{channels} output channels; the NPU computes {block} at a time, so it pays for {rounded}: "
                    f"{channels} → {rounded} costs no extra cycles (MAC utilisation {util:.1f} %, "
                    f"{min(100.0, util * rounded / channels):.1f} % with {rounded})"
                ),
                "action": f"use {rounded} channels ({rounded - channels} free)"
                + (f", or {lower} to save a block" if lower > 0 else ""),
                "free_channels": rounded - channels,
            }
        )
    return out


def _memory_bound(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for layer in layers:
        memory = max(layer["sram_access_cycles"], layer["dram_access_cycles"])
        if layer["npu_cycles"] <= 0 or memory <= layer["npu_cycles"] or layer["cycles_pct"] < NOISE_PCT:
            continue
        which = "DRAM" if layer["dram_access_cycles"] >= layer["sram_access_cycles"] else "SRAM"
        share = layer["cycles_pct"]
        worth = share >= WORTH_IT_PCT
        out.append(
            {
                "kind": "memory_bound",
                "layer": layer["name"],
                "op": layer["op"],
                "cycles_pct": share,
                "detail": (
                    f"{which} access {memory} cycles > NPU {layer['npu_cycles']} cycles: the layer waits on memory; "
                    f"{share:.1f} % of the network"
                ),
                "action": (
                    "worth it: keep its tensors in SRAM (memory_mode, arena_cache_size) or shrink what it streams"
                    if worth
                    else f"only {share:.1f} % of the network: not worth optimising"
                ),
            }
        )
    return out


def _memory_bound_together(bound: list[dict[str, Any]]) -> list[dict[str, Any]]:
    total = sum(f["cycles_pct"] for f in bound)
    if len(bound) > 1 and total >= WORTH_IT_PCT:
        return [
            {
                "kind": "memory_bound",
                "layer": f"{len(bound)} layers",
                "op": None,
                "cycles_pct": round(total, 2),
                "detail": f"{len(bound)} layers wait on memory, together {total:.1f} % of the network",
                "action": (
                    "the memory system is the limit, not one layer: try memory_mode / more SRAM (arena_cache_size)"
                ),
            }
        ]
    return []


# ops that only move data in or out of float: no compute a delegate would miss
_CONVERSIONS = {"QUANTIZE", "DEQUANTIZE"}


def delegate_findings(ops: list[dict[str, Any]], delegate: str) -> list[dict[str, Any]]:
    """Findings for a model run through a TFLite delegate (no compiler report): from its operators.

    ``ops``: one dict per operator with ``op``, ``name`` (its first output), ``float_in`` (takes a
    float32 graph input), ``float_out`` (writes a float32 graph output), ``float`` (computes in
    float32).  NPU delegates take integer tensors; the float I/O conversions and float ops stay on
    the CPU, with a copy between the partitions.
    """
    out: list[dict[str, Any]] = []
    for op in ops:
        if op["op"] == "QUANTIZE" and op["float_in"]:
            why = "float input: the NPU delegate takes integer tensors, the conversion stays on the CPU"
            reason = "Float32"
        elif op["op"] == "DEQUANTIZE" and op["float_out"]:
            why = "float output: the conversion back to float stays on the CPU"
            reason = ""
        elif op["float"] and op["op"] not in _CONVERSIONS:
            why = "computes in float32: an integer NPU delegate leaves it on the CPU"
            reason = "float"
        else:
            continue
        out.append(
            {
                "kind": "cpu_fallback",
                "layer": _short(op["name"]),
                "op": op["op"],
                "cycles_pct": None,
                "detail": f"{op['op']} runs on the CPU ({delegate} delegate): {why}",
                "action": remedy(op["op"], reason),
            }
        )
    return out


def write(found: list, out: Path, label: str) -> None:
    """Write a step's findings; say how many of each kind."""
    atomic.write_json(out, found)
    kinds: dict[str, int] = {}
    for f in found:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    say(f"   {label}: " + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in kinds.items()) or "no findings"))
