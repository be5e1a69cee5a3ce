"""A variant's model as a graph for its report page: operators placed where they run, laid out as SVG.

Input: the quantized model's operators and tensors (the graph step's
graph.json) and, for a Vela target, Vela's per-layer rows (results.json).
Vela lowers some operators into several (a Softmax into 28 elementwise
parts) and fuses others away (a PAD into the convolution after it): its rows
are grouped under the operator they came from (``group_layers``), then
matched to the model's operators by the output tensor Vela names each row
after, and by type.  The layout is
computed here, at build time, so the page needs no layout library: rows by
depth in the data flow, NPU partitions as the connected groups of operators
Vela runs, and each tensor that crosses between the NPU and the CPU drawn as
a copy with its size.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

NODE_W, NODE_H, GAP_X, GAP_Y = 190, 34, 24, 26
ALIASES = {"concatenation": "concat", "logistic": "sigmoid", "averagepool": "avgpool"}


def _norm(op_type: str) -> str:
    t = op_type.lower().replace("_", "").replace("2d", "")
    return ALIASES.get(t, t)


def group_layers(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Vela's per-layer rows with each lowered operator's parts folded under it (one Softmax, not 28 rows).

    A row is a part of a lowered operator when Vela runs it as another operator
    than the original (NNG operator ≠ original); consecutive parts of one
    original operator make one group, named by its last part.
    """
    groups: list[dict[str, Any]] = []
    for layer in layers:
        lowered = _norm(layer.get("npu_op") or layer["op"]) != _norm(layer["op"])
        last = groups[-1] if groups else None
        if lowered and last is not None and last["lowered"] and last["op"] == layer["op"]:
            last["parts"].append(layer)
        else:
            groups.append({"op": layer["op"], "lowered": lowered, "parts": [layer]})
    out = []
    for g in groups:
        parts = g["parts"]
        util = [p["mac_util_pct"] for p in parts if p.get("mac_util_pct") is not None]
        folded = [{"op": p.get("npu_op") or p["op"], "name": p["name"], "cycles": p["cycles"]} for p in parts]
        out.append(
            {
                "op": g["op"],
                "name": parts[-1]["name"],
                "target": "CPU" if any(p["target"] == "CPU" for p in parts) else "NPU",
                "cycles": sum(p["cycles"] for p in parts),
                "cycles_pct": sum(p.get("cycles_pct") or 0.0 for p in parts),
                "macs": sum(p.get("macs") or 0 for p in parts),
                "mac_util_pct": max(util) if util else None,
                "out_channels": parts[-1].get("out_channels"),
                "in_channels": parts[0].get("in_channels"),
                "parts": folded if len(parts) > 1 else [],
            }
        )
    return out


def place(graph: dict[str, Any], variant: dict[str, Any], remedy) -> list[dict[str, Any]]:
    """Each operator of ``graph`` with where it runs, its cycles and (on the CPU) why and what to do."""
    ops = graph["ops"]
    tensors = graph["tensors"]
    nodes = [
        {
            "i": i,
            "type": op["type"],
            "name": tensors[op["outputs"][0]]["name"] if op["outputs"] else op["type"],
            "where": None,
            "cycles": 0,
            "cycles_pct": 0.0,
            "parts": [],
            "vela": None,
        }
        for i, op in enumerate(ops)
    ]
    layers = variant.get("layers") or []
    if not layers:  # no Vela: the whole model runs where the target runs it (LiteRT, with its delegate if any)
        for n in nodes:
            n["where"] = variant["target"]
        return nodes
    producer = _producers(ops)
    by_name = {tensors[t]["name"]: i for t, i in producer.items()}
    for g in group_layers(layers):
        match = _operator_of(g, ops, by_name, producer)
        if match is None:
            continue  # an operator Vela added: its cycles are in the totals, not on a node
        n = nodes[match]
        if n["vela"] is not None:  # Vela split one operator into several rows (a CONCATENATION per input)
            n["parts"] = (n["parts"] or [{"op": n["type"], "name": n["vela"], "cycles": n["cycles"]}]) + (
                g["parts"] or [{"op": g["op"], "name": g["name"], "cycles": g["cycles"]}]
            )
            n["cycles"] += g["cycles"]
            n["cycles_pct"] += g["cycles_pct"]
            n["where"] = "CPU" if "CPU" in (n["where"], g["target"]) else "NPU"
            continue
        n.update(where=g["target"], cycles=g["cycles"], cycles_pct=g["cycles_pct"], parts=g["parts"], vela=g["name"])
    fallback = {(f["name"], f["op"]): f["reason"] for f in variant.get("cpu_fallback") or []}
    for n in nodes:  # fused or removed by Vela: runs with the operator it was folded into; Vela's CPU list wins
        if n["where"] is None:
            n["where"] = "CPU" if (n["name"], n["type"]) in fallback else "fused"
    for n in nodes:
        if n["where"] == "CPU":
            reason = fallback.get((n["vela"], n["type"])) or next(
                (r for (name, op), r in fallback.items() if op == n["type"]), "Vela leaves it on the CPU"
            )
            n["reason"], n["remedy"] = reason, remedy(n["type"], reason)
    return nodes


def _operator_of(
    g: dict[str, Any], ops: list[dict[str, Any]], by_name: dict[str, int], producer: dict[int, int]
) -> int | None:
    """The model operator a group of Vela rows came from: Vela names a row by its operator's output tensor
    (a lowered part by that name plus a suffix); the operator's type must agree."""
    want = _norm(g["op"])
    names = [p["name"] for p in g["parts"]] + [g["name"]]
    for name in names:
        i = by_name.get(name)
        for _ in range(3):  # an activation Vela fused into the operator before it lends that operator its name
            if i is None or _norm(ops[i]["type"]) == want:
                break
            i = producer.get(ops[i]["inputs"][0]) if ops[i]["inputs"] else None
        if i is not None and _norm(ops[i]["type"]) == want:
            return i
    best = None
    for name in names:
        for out, i in by_name.items():
            if name.startswith(out) and _norm(ops[i]["type"]) == want and (best is None or len(out) > best[0]):
                best = (len(out), i)
    return best[1] if best else None


def _producers(ops: list[dict[str, Any]]) -> dict[int, int]:
    """Tensor → the operator that writes it."""
    return {t: i for i, op in enumerate(ops) for t in op["outputs"]}


def edges(graph: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(producer, consumer, tensor) for every tensor one operator passes to another."""
    producer = _producers(graph["ops"])
    return [(producer[t], j, t) for j, op in enumerate(graph["ops"]) for t in op["inputs"] if t in producer]


def _side(where: str) -> str:
    return "npu" if where in ("NPU", "fused") else "cpu"


def collapse(nodes: list[dict[str, Any]], edges: list[tuple[int, int, int]]) -> tuple[list[dict], list[tuple]]:
    """Chains (one input from the previous operator, one consumer, same side) as one node each."""
    succ: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for a, b, _ in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    head: dict[int, int] = {}
    for n in nodes:
        i = n["i"]
        p = pred.get(i, [])
        if (
            len(p) == 1
            and len(succ.get(p[0], [])) == 1
            and _side(nodes[p[0]]["where"]) == _side(n["where"])
            and nodes[p[0]]["where"] != "CPU"
            and n["where"] != "CPU"
        ):
            head[i] = head[p[0]]
        else:
            head[i] = i
    members: dict[int, list[int]] = {}
    for i, h in head.items():
        members.setdefault(h, []).append(i)
    merged = []
    for h, ids in members.items():
        if len(ids) == 1:
            merged.append({**nodes[h], "members": [h]})
            continue
        types: dict[str, int] = {}
        for i in ids:
            types[nodes[i]["type"]] = types.get(nodes[i]["type"], 0) + 1
        merged.append(
            {
                **nodes[h],
                "type": f"{len(ids)} ops",
                "members": ids,
                "summary": ", ".join(f"{t} ×{c}" if c > 1 else t for t, c in types.items()),
                "cycles": sum(nodes[i]["cycles"] for i in ids),
                "cycles_pct": sum(nodes[i]["cycles_pct"] for i in ids),
                "name": nodes[ids[-1]]["name"],
            }
        )
    new_edges = [(head[a], head[b], t) for a, b, t in edges if head[a] != head[b]]
    return merged, new_edges


def layout(nodes: list[dict[str, Any]], edges: list[tuple]) -> tuple[dict[int, tuple[float, float]], float, float]:
    """Rows by depth (longest path from an input), each row in execution order: node → its top-left corner."""
    depth: dict[int, int] = {}
    incoming: dict[int, list[int]] = {}
    for a, b, _ in edges:
        incoming.setdefault(b, []).append(a)
    rows: dict[int, list[int]] = {}
    for n in sorted(nodes, key=lambda n: n["i"]):  # execution order is a topological order
        depth[n["i"]] = max((depth[a] + 1 for a in incoming.get(n["i"], []) if a in depth), default=0)
        rows.setdefault(depth[n["i"]], []).append(n["i"])
    widest = max((len(r) for r in rows.values()), default=1)
    width = widest * (NODE_W + GAP_X) + GAP_X
    where: dict[int, tuple[float, float]] = {}
    for d, ids in rows.items():
        row_w = len(ids) * (NODE_W + GAP_X) - GAP_X
        x0 = (width - row_w) / 2
        for k, i in enumerate(ids):
            where[i] = (x0 + k * (NODE_W + GAP_X), GAP_Y + d * (NODE_H + GAP_Y))
    height = GAP_Y + (max(rows, default=0) + 1) * (NODE_H + GAP_Y)
    return where, width, height


def partitions(nodes: list[dict[str, Any]], edges: list[tuple]) -> list[list[int]]:
    """Connected groups of operators on the NPU: Vela cuts the model into one NPU operator per group."""
    npu = {n["i"] for n in nodes if n["where"] in ("NPU", "fused")}
    parent = {i: i for i in npu}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in edges:
        if a in npu and b in npu:
            parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in sorted(npu):
        groups.setdefault(find(i), []).append(i)
    by = nodes_by(nodes)
    real = [g for g in groups.values() if any(by[i]["where"] == "NPU" for i in g)]
    return sorted(real, key=lambda g: g[0])


def nodes_by(nodes: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {n["i"]: n for n in nodes}


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


Corners = dict[int, tuple[float, float]]  # node → its top-left corner (layout())
ByIndex = dict[int, dict[str, Any]]  # node index → node (nodes_by())


def svg(graph: dict[str, Any], nodes: list[dict[str, Any]], edges: list[tuple], view: str) -> tuple[str, dict]:
    """One view (``full`` or ``collapsed``) as an SVG element, and its nodes' details for the page's script;
    ``edges`` are the graph's edges()."""
    if view == "collapsed":
        nodes, edges = collapse(nodes, edges)
    else:
        nodes = [{**n, "members": [n["i"]]} for n in nodes]
    by = nodes_by(nodes)
    where, width, height = layout(nodes, edges)
    out = [
        f"<svg class='graph' id='graph-{view}' data-width='{width:.0f}' data-height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    out += _partition_boxes(nodes, edges, where, by)
    out += _edge_paths(edges, where, by, graph["tensors"])
    details = {}
    for n in nodes:
        key = f"{view}-{n['i']}"
        error, bits = _error_of(graph, n.get("members") or [n["i"]])
        out.append(_node_box(n, key, where[n["i"]], error, bits))
        details[key] = _details(graph, n, view, error, bits)
    out.append("</svg>")
    return "".join(out), details


def _partition_boxes(nodes: list[dict[str, Any]], edges: list[tuple], where: Corners, by: ByIndex) -> list[str]:
    """A frame around each NPU partition, named with its number and operator count."""
    out = []
    for k, group in enumerate(partitions(nodes, edges), start=1):
        xs = [where[i][0] for i in group]
        ys = [where[i][1] for i in group]
        count = sum(len(by[i]["members"]) for i in group)
        out.append(
            f"<g class='partition'><rect x='{min(xs) - 8:.0f}' y='{min(ys) - 18:.0f}' "
            f"width='{max(xs) - min(xs) + NODE_W + 16:.0f}' height='{max(ys) - min(ys) + NODE_H + 26:.0f}' rx='10'/>"
            f"<text x='{min(xs) - 2:.0f}' y='{min(ys) - 6:.0f}'>NPU partition {k} ({count} ops)</text></g>"
        )
    return out


def _edge_paths(edges: list[tuple], where: Corners, by: ByIndex, tensors: list[dict[str, Any]]) -> list[str]:
    """Each edge as a curve titled with its tensor; a copy between NPU and CPU marked and labelled with its size."""
    e = html.escape
    out = []
    for a, b, t in edges:
        (x1, y1), (x2, y2) = where[a], where[b]
        x1, y1, x2, y2 = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2
        mid = (y1 + y2) / 2
        copy = _side(by[a]["where"]) != _side(by[b]["where"])
        tensor = tensors[t]
        label = f"{tensor['name']} {tensor['shape']} {tensor['dtype']}"
        if copy:
            label = f"copy between NPU and CPU: {_kb(tensor['bytes'])} ({label})"
        out.append(
            f"<path class='edge{' copy' if copy else ''}' d='M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} "
            f"{x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}'><title>{e(label)}</title></path>"
        )
        if copy:
            out.append(
                f"<text class='copy-label' x='{(x1 + x2) / 2 + 4:.0f}' y='{mid:.0f}'>{_kb(tensor['bytes'])}</text>"
            )
    return out


def _node_box(n: dict[str, Any], key: str, xy: tuple[float, float], error: dict[str, Any] | None, bits: str) -> str:
    """An operator's box: coloured by where it runs (or its error), labelled, its tooltip saying why."""
    e = html.escape
    x, y = xy
    cls = {"NPU": "npu", "fused": "fused", "CPU": "cpu"}.get(n["where"], "delegate")
    shade = 0.25 + 0.75 * min(1.0, n["cycles_pct"] / 10.0) if n["where"] == "NPU" else 1.0
    tip = f"{n['type']}: {n['name']}" + (f"\n{n['summary']}" if n.get("summary") else "")
    if n["where"] == "CPU" and n.get("reason"):
        tip += f"\nCPU: {n['reason']}\nWhat to do: {n['remedy']}"
    if error is not None:
        tip += f"\nquantization error: {error_text(error)}, {bits}"
        cls += f" {error_class(error)}" + (" b16" if bits == "int16" else "")
    label = f"{n['type']}: {n['summary']}" if n.get("summary") else n["type"]
    label = label if len(label) <= 27 else label[:26] + "…"
    sub = (
        f"{n['cycles_pct']:.1f} % cycles"
        if n["cycles"]
        else {"fused": "fused by Vela", "CPU": "CPU"}.get(n["where"], n["where"])
    )
    return (
        f"<g class='node {cls}' data-key='{key}' "
        f"transform='translate({x:.0f},{y:.0f})'><rect width='{NODE_W}' height='{NODE_H}' rx='5' "
        f"style='fill-opacity:{shade:.2f}'/><text x='8' y='14'>{e(label)}</text>"
        f"<text class='sub' x='8' y='27'>{e(sub)}</text><title>{e(tip)}</title></g>"
    )


def _details(graph: dict[str, Any], n: dict[str, Any], view: str, error: dict[str, Any] | None, bits: str) -> dict:
    """What the page's script shows when an operator is clicked."""
    tensors = graph["tensors"]
    if view == "full":
        return {
            "type": n["type"],
            "name": n["name"],
            "where": n["where"],
            "cycles": n["cycles"],
            "cycles_pct": round(n["cycles_pct"], 2),
            "parts": n["parts"],
            "reason": n.get("reason"),
            "remedy": n.get("remedy"),
            "error": error_text(error) + f" ({bits})" if error else None,
            "inputs": [_tensor(tensors[t]) for t in graph["ops"][n["i"]]["inputs"]],
            "outputs": [_tensor(tensors[t]) for t in graph["ops"][n["i"]]["outputs"]],
        }
    return {  # the script reads a collapsed node's tensors and names off its members
        "type": n["type"],
        "summary": n.get("summary"),
        "where": n["where"],
        "name": n["name"],
        "cycles": n["cycles"],
        "cycles_pct": round(n["cycles_pct"], 2),
        "error": "worst in the chain: " + error_text(error) + f" ({bits})" if error else None,
        "members": [f"full-{i}" for i in n["members"]],
    }


ERROR_CLASSES = ((40.0, "e0"), (30.0, "e1"), (20.0, "e2"), (10.0, "e3"))  # SNR at least this: class; below: e4


def _error_of(graph: dict[str, Any], members: list[int]) -> tuple[dict[str, Any] | None, str]:
    """The worst error of the operators' outputs (a collapsed chain: of any member), and the precision it runs in."""
    found = [graph["tensors"][t] for i in members for t in graph["ops"][i]["outputs"] if "error" in graph["tensors"][t]]
    if not found:
        return None, ""
    worst = min(found, key=lambda t: math.inf if t["error"]["snr_db"] is None else t["error"]["snr_db"])
    return worst["error"], worst["dtype"].lower()


def error_class(error: dict[str, Any]) -> str:
    snr = error["snr_db"]
    return next((cls for low, cls in ERROR_CLASSES if snr is None or snr >= low), "e4")


def error_text(error: dict[str, Any]) -> str:
    snr = "exact" if error["snr_db"] is None else f"SNR {error['snr_db']:.1f} dB"
    rel = f", {error['rel_rmse'] * 100:.2f} % RMSE of its range" if error.get("rel_rmse") is not None else ""
    share = f", adds {error['share']:.0%} of the worst output's error" if error.get("share") else ""
    return snr + rel + share


def _tensor(t: dict[str, Any]) -> dict[str, Any]:
    return {"name": t["name"], "shape": t["shape"], "dtype": t["dtype"]}


def summary(nodes: list[dict[str, Any]], graph: dict[str, Any], edges: list[tuple]) -> dict[str, Any]:
    """Counts for the page's header: operators per place, partitions, bytes copied between NPU and CPU."""
    by = nodes_by(nodes)
    copies = [t for a, b, t in edges if _side(by[a]["where"]) != _side(by[b]["where"])]
    return {
        "ops": len(nodes),
        "npu": sum(n["where"] == "NPU" for n in nodes),
        "fused": sum(n["where"] == "fused" for n in nodes),
        "cpu": sum(n["where"] == "CPU" for n in nodes),
        "partitions": len(partitions(nodes, edges)),
        "copies": len(copies),
        "copy_bytes": sum(graph["tensors"][t]["bytes"] for t in copies),
    }


def details_json(details: dict[str, Any]) -> str:
    """For a <script type='application/json'>: no '</' can close the element early."""
    return json.dumps(details, separators=(",", ":")).replace("</", "<\\/")
