"""The report's HTML: an overview (index.html) that fits the screen, and one page per variant with its graph.

Static files only: the pages link report.css and report.js beside them
(tasks/report/assets.py) and read nothing else at view time.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.model.metrics import LABELS, metric_text
from tasks.model.schemes import PREQUANTIZED
from tasks.report import graph as report_graph
from tasks.report import verdicts

if TYPE_CHECKING:
    from tasks.results.records import (
        Accuracy,
        Confusion,
        LabelAccuracy,
        LabelMetric,
        OverviewRow,
        PrCurve,
        Search,
        VariantRow,
    )

e = html.escape

OVERVIEW_COLUMNS = [  # key, title, numeric: few enough to fit 1400 px; the rest is on the variant's page
    ("id", "variant", False),
    ("model", "model", False),
    ("quantization", "scheme", False),
    ("target", "target", False),
    ("ops", "NPU/CPU ops", True),
    ("est_ms", "est. ms", True),
    ("measured_ms", "measured ms", True),
    ("size", "size KiB", True),
    ("snr_db", "SNR dB", True),
    ("task", "task metric", True),
    ("gates", "gates", False),
]


def slug(variant_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]", "_", variant_id)


def page_name(variant_id: str) -> str:
    return f"variants/{slug(variant_id)}.html"


def _head(title: str, up: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<meta name='viewport' content='width=device-width'><link rel='stylesheet' href='{up}report.css'></head><body>"
    )


def _foot(up: str) -> str:
    return f"<script src='{up}report.js'></script></body></html>\n"


def _cell(key: str, r: OverviewRow, fmt) -> tuple[str, str]:
    """(text, sort value) of one overview cell."""
    value = r.get(key)
    if key == "size":
        return (f"{value / 1024:,.0f}", str(value)) if value is not None else ("–", "")
    if key == "ops":
        npu = (r.get("npu_ratio") or 0) * 100
        return (value or "–", f"{npu:.3f}" if value else "")
    if key == "task":
        text = verdicts.task_text(value, r.get("task_beside")).replace(" pts)", "\u00a0pts)")  # wraps whole
        return text, "" if value is None else str(value[1])
    if key == "gates":
        return value[0], value[0]
    if key == "measured_ms" and value is not None and r.get("measured_range"):
        low, high = r["measured_range"]
        return f"{fmt(key, value)} ({low:.2f}–{high:.2f})", str(value)
    return fmt(key, value), "" if value in (None, "") else str(value)


def overview(
    project: str,
    counted: str,
    table: list[OverviewRow],
    marks,
    fmt,
    sections: list[str],
    plot: str,
    note: str | None,
    verdict: str,
) -> str:
    parts = [
        _head(f"{project}: NPUForge report", ""),
        f"<h1>{e(project)}</h1>",
        verdict,
        f"<p class='muted'>{counted}. Estimates are Vela's; accuracy is against the float model on the validation "
        "set, or against its labels where it has them (the change against the float model in points). Click a "
        "variant for its graph, findings, accuracy per output and files.</p>",
    ]
    if note:
        parts.append(note)
    shares = ("18%", "12%", "9%", "8%", "7%", "7%", "8%", "7%", "7%", "11%", "6%")
    widths = "".join(f"<col style='width:{w}'>" for w in shares)
    parts += [
        "<h2>Variants</h2>",
        _filters(table),
        f"<table id='variants' class='fit sorted'><colgroup>{widths}</colgroup><thead><tr>",
    ]
    parts += [f"<th class='sortable{' num' if num else ' l'}'>{e(title)}</th>" for _, title, num in OVERVIEW_COLUMNS]
    parts.append("</tr></thead><tbody>")
    for r in table:
        parts.append(_row(r, marks.get(r["id"], {}), fmt))
    parts.append("</tbody></table>")
    if plot:
        parts += [
            "<h2>Latency against accuracy</h2><p class='muted'>Hover a point for its variant; click it to open "
            "its page.</p>",
            plot,
        ]
    parts += sections
    parts.append(_foot(""))
    return "".join(parts)


def _filters(table: list[OverviewRow]) -> str:
    def select(key: str, label: str) -> str:
        options = "".join(f"<option>{e(x)}</option>" for x in sorted({r[key] for r in table}))
        return f"<label>{label} <select data-filter='{key}'><option value=''>all</option>{options}</select></label>"

    return (
        f"<div class='filters'>{select('model', 'model')}{select('quantization', 'scheme')}{select('target', 'target')}"
        "<label>find <input data-filter='text' placeholder='part of a variant name'></label>"
        "<span id='shown' class='muted'></span></div>"
    )


def _row(r: OverviewRow, mark: dict[str, str], fmt) -> str:
    attrs = " ".join(f"data-{k}='{e(str(r[k]))}'" for k in ("model", "quantization", "target"))
    row_cls = " ".join(c for c, on in (("bad", "regression" in mark.values()), ("fail", bool(r["gate_cells"]))) if on)
    cls_attr = f" class='{row_cls}'" if row_cls else ""
    out = [f"<tr {attrs} data-text='{e(r['id'])}'{cls_attr}>"]
    for key, _, _ in OVERVIEW_COLUMNS:
        text, value = _cell(key, r, fmt)
        cls = "l" if key in ("id", "model", "quantization", "target", "gates") else ""
        cls += {"regression": " reg", "improvement": " imp"}.get(mark.get(key, ""), "")
        why = r["gate_cells"].get(key)
        if key == "gates":
            cls += f" {r['gates'][1]}"
        elif why:
            cls += " reg"
        arrow = {"regression": " ▲" if key in ("est_ms", "size") else " ▼", "improvement": " ✓"}.get(
            mark.get(key, ""), ""
        )
        if key == "measured_ms" and r["runtime_cpu"]:
            cls, arrow = cls + " reg", " ⚠ CPU"
        if key == "snr_db" and r.get("in_sample"):
            arrow += " (in-sample)"
        body = f"<a href='{page_name(r['id'])}'>{e(text)}</a>" if key == "id" else e(text)
        if key == "quantization" and r["quantization"] == PREQUANTIZED:
            body += f"<br><small class='muted' title='{PREQUANTIZED_NOTE}'>not re-quantized</small>"
        title = f" title='{e(why)}'" if why else ""
        out.append(f"<td class='{cls.strip()}' data-v='{e(value)}'{title}>{body}{arrow}</td>")
    return "".join(out) + "</tr>"


PREQUANTIZED_NOTE = "pre-quantized, not re-quantized"

SERIES = ("#2d5fa8", "#e07b00", "#1b9e77", "#6a3d9a", "#c62f2f", "#7a7a7a", "#b8860b", "#17becf")


@dataclass(frozen=True)
class Measure:
    """The accuracy a latency plot draws: its axis title and range, a row's value and that value as text, and a
    model's name in the legend."""

    title: str
    span: Callable[[list[float]], tuple[float, float]]  # the values → the axis' range
    value: Callable[[OverviewRow], float]
    text: Callable[[OverviewRow], str]
    legend: Callable[[str, OverviewRow], str]


def _label_of(r: OverviewRow) -> tuple[str, float] | None:
    """The label metric (name, quantized value) a row shows, if any."""
    return verdicts.label_shown(r.get("task"), r.get("task_beside"))


def _label_span(ys: list[float]) -> tuple[float, float]:
    pad = max((max(ys) - min(ys)) * 0.15, 0.5)
    return max(0.0, min(ys) - pad), min(100.0, max(ys) + pad)


AGAINST_LABELS = Measure(
    "accuracy against the labels (%)",
    _label_span,
    lambda r: 100 * _label_of(r)[1],
    lambda r: verdicts.task_text(r["task"], r.get("task_beside")),
    lambda unit, r: f"{unit} ({LABELS.get(_label_of(r)[0], _label_of(r)[0])})",
)
AGAINST_FLOAT = Measure(
    "SNR of the worst output (dB)",
    lambda ys: (min(0.0, min(ys)), max(ys) * 1.08 or 1.0),
    lambda r: r["snr_db"],
    lambda r: f"{r['snr_db']:.1f} dB",
    lambda unit, r: unit,
)


def scatter(table: list[OverviewRow]) -> str:
    """Latency (Vela's estimate) against accuracy: SVGs whose points link to the variants' pages, one colour per
    model (a legend names them), each point labelled with its scheme and target.  A variant whose validation set
    has labels is drawn against them (its label metric, %), any other against the float model (its worst output's
    SNR): two plots when there are both."""
    timed = [r for r in table if r.get("est_ms") is not None]
    labelled = [r for r in timed if _label_of(r) is not None]
    rest = [r for r in timed if _label_of(r) is None and r.get("snr_db") is not None]
    units = list(dict.fromkeys(_unit_of(r) for r in timed))  # a model keeps its colour in both plots
    plots = [_scatter(rows, units, m) for rows, m in ((labelled, AGAINST_LABELS), (rest, AGAINST_FLOAT)) if rows]
    if len(plots) == 2:
        said = ("Against the labels, for the variants whose validation set has them:", "Against the float model:")
        plots = [f"<p class='muted'>{caption}</p>{plot}" for caption, plot in zip(said, plots, strict=True)]
    return "".join(plots)


def _scatter(points: list[OverviewRow], units: list[str], m: Measure) -> str:
    """One plot of ``points``: ``m`` against Vela's estimate."""
    xs = [r["est_ms"] for r in points]
    xr, yr = (0.0, max(xs) * 1.05), m.span([m.value(r) for r in points])
    px, py, out = _plot(900, 380, xr, yr, "estimated inference time (ms, Vela)", m.title)
    placed: list[tuple[float, float]] = []  # labels drawn so far: a label that would cover one goes below its point
    for r in sorted(points, key=lambda r: (r["est_ms"], -m.value(r))):
        colour = SERIES[units.index(_unit_of(r)) % len(SERIES)]
        x, y = px(r["est_ms"]), py(m.value(r))
        label_y = y - 7 if not any(abs(x - lx) < 75 and abs(y - 7 - ly) < 11 for lx, ly in placed) else y + 16
        placed.append((x, label_y))
        out.append(
            f"<a href='{page_name(r['id'])}'><circle cx='{x:.1f}' cy='{y:.1f}' r='6' style='fill:{colour}'>"
            f"<title>{e(r['id'])}: {r['est_ms']:.2f} ms, {e(m.text(r))}</title></circle></a>"
            f"<text class='label' x='{x + 8:.1f}' y='{label_y:.1f}'>{e(r['quantization'])}@{e(r['target'])}</text>"
        )
    first: dict[str, OverviewRow] = {}  # each model's first row, in table order
    for r in points:
        first.setdefault(_unit_of(r), r)
    x = 50.0
    for unit, r in first.items():  # the legend, along the top
        k, name = units.index(unit), m.legend(unit, r)
        out.append(
            f"<circle cx='{x + 5:.0f}' cy='10' r='5' style='fill:{SERIES[k % len(SERIES)]}'/>"
            f"<text x='{x + 14:.0f}' y='14'>{e(name)}</text>"
        )
        x += 30 + 6.5 * len(name)
    out.append("</svg>")
    return "".join(out)


def _unit_of(r: OverviewRow) -> str:
    return f"{r['model']}.{r['prune']}" if r.get("prune") else r["model"]


def nice_step(span: float, count: int = 5) -> float:
    """The tick spacing a person would choose: 1, 2, 2.5 or 5 times a power of ten, about ``count`` per ``span``."""
    import math

    if span <= 0:
        return 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def tick_text(value: float, step: float) -> str:
    """An axis tick with the decimals its step needs: 0.02 apart reads 0.02, 0.04; 0.25 apart 0.25; 20 apart 20."""
    decimals = next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6 * max(step * 10**d, 1)), 6)
    return f"{value:.{decimals}f}"


def _to_ticks(lo: float, hi: float) -> tuple[float, float]:
    """``lo`` and ``hi`` widened to the ticks around them."""
    import math

    step = nice_step(hi - lo)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def _ticks(lo: float, hi: float) -> tuple[list[float], float]:
    import math

    step = nice_step(hi - lo)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)], step


def _plot(w: int, h: int, xr: tuple[float, float], yr: tuple[float, float], xlabel: str, ylabel: str):
    """An SVG's opening, grid and axis labels; and the functions from data to pixels."""
    pad = 50
    (x0, x1), (y0, y1) = _to_ticks(*xr), _to_ticks(*yr)  # each axis from a tick to a tick

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0 or 1) * (w - 2 * pad)

    def py(y: float) -> float:
        return h - pad - (y - y0) / (y1 - y0 or 1) * (h - 2 * pad)

    out = [f"<svg class='plot' viewBox='0 0 {w} {h}' width='{w}' height='{h}' xmlns='http://www.w3.org/2000/svg'>"]
    (xticks, xstep), (yticks, ystep) = _ticks(x0, x1), _ticks(y0, y1)
    for gx in xticks:
        out.append(
            f"<line x1='{px(gx):.0f}' y1='{pad / 2:.0f}' x2='{px(gx):.0f}' y2='{h - pad}'/>"
            f"<text x='{px(gx):.0f}' y='{h - pad + 16}' text-anchor='middle'>{tick_text(gx, xstep)}</text>"
        )
    for gy in yticks:
        out.append(
            f"<line x1='{pad}' y1='{py(gy):.0f}' x2='{w - pad / 2:.0f}' y2='{py(gy):.0f}'/>"
            f"<text x='{pad - 6}' y='{py(gy) + 4:.0f}' text-anchor='end'>{tick_text(gy, ystep)}</text>"
        )
    out.append(
        f"<text x='{w / 2:.0f}' y='{h - 8}' text-anchor='middle'>{e(xlabel)}</text>"
        f"<text x='14' y='{h / 2:.0f}' transform='rotate(-90 14 {h / 2:.0f})' text-anchor='middle'>"
        f"{e(ylabel)}</text>"
    )
    return px, py, out


def pareto_plot(search: Search) -> str:
    """An automatic scheme's candidates: Vela's latency against the goal metric, the front joined, the choice ringed,
    the goal and the budget drawn; int8 and int16x8 everywhere are its ends."""
    points = [c for c in search["candidates"] if c.get("value") is not None]
    if not points:
        return ""
    metric, bound = search["metric"], search["bound"]
    xs, ys = [c["ms"] for c in points] + [search["max_ms"]], [c["value"] for c in points] + [bound]
    span = (max(ys) - min(ys)) or 1.0
    px, py, out = _plot(
        900,
        380,
        (min(xs) * 0.95, max(xs) * 1.03),
        (min(ys) - span * 0.08, max(ys) + span * 0.08),
        f"estimated inference time on {search['target']} (ms, Vela)",
        metric,
    )
    (x0, y0), (x1, y1) = (px(min(xs) * 0.95), py(bound)), (px(max(xs) * 1.03), py(bound))
    out.append(
        f"<line class='goal' x1='{x0:.0f}' y1='{y0:.1f}' x2='{x1:.0f}' y2='{y1:.1f}'/>"
        f"<text x='{x1 - 4:.0f}' y='{y1 - 5:.1f}' text-anchor='end'>goal {e(search['goal'])}</text>"
    )
    bx = px(search["max_ms"])
    out.append(
        f"<line class='goal' x1='{bx:.1f}' y1='25' x2='{bx:.1f}' y2='330'/>"
        f"<text x='{bx + 4:.1f}' y='36'>budget {search['max_ms']:g} ms</text>"
    )
    front = sorted((search["candidates"][i] for i in search["pareto"]), key=lambda c: c["ms"])
    out.append(
        "<polyline class='front' points='" + " ".join(f"{px(c['ms']):.1f},{py(c['value']):.1f}" for c in front) + "'/>"
    )
    chosen = search["chosen"]
    for c in points:
        end = {"8-bit": "int8", "16-bit": "int16x8"}.get(c["stage"], "")
        label = f"{end}{'' if c['weights'] == 'min_max' else ' ' + c['weights']}" if end else ""
        cls = "stage-" + c["stage"].replace("-", "")
        is_chosen = c["ms"] == chosen["ms"] and c["value"] == chosen["value"] and c["weights"] == chosen["weights"]
        out.append(
            f"<circle class='{cls}' cx='{px(c['ms']):.1f}' cy='{py(c['value']):.1f}' r='{8 if is_chosen else 5}'>"
            f"<title>{e(c['stage'])}{'' if c['step'] is None else ' ' + str(c['step'])}: {c['ms']:.2f} ms, "
            f"{e(metric)} {c['value']:.4g}, {c['widened']} layers int16x8, {c['type_changes']} type changes"
            f"</title></circle>"
        )
        if is_chosen:
            out.append(f"<circle class='chosen' cx='{px(c['ms']):.1f}' cy='{py(c['value']):.1f}' r='12'/>")
        if label and c["weights"] == "min_max":
            out.append(f"<text x='{px(c['ms']) + 8:.1f}' y='{py(c['value']) - 8:.1f}'>{e(label)}</text>")
    out.append("</svg>")
    return "".join(out)


def grouped_layers_table(layers: list[dict[str, Any]]) -> str:
    """Vela's layers, a lowered operator's parts folded under it."""
    rows = [
        "<table class='fit'><thead><tr><th class='l' style='width:3rem'>#</th><th class='l' style='width:9rem'>op</th>"
        "<th class='l'>name</th><th style='width:4rem'>where</th><th style='width:7rem'>cycles</th>"
        "<th style='width:4.5rem'>cycles %</th><th style='width:5rem'>MAC util %</th></tr></thead><tbody>"
    ]
    for i, g in enumerate(report_graph.group_layers(layers)):
        name = e(g["name"])
        if g["parts"]:
            items = "".join(f"<li>{e(p['op'])}: {p['cycles']:,} cycles</li>" for p in g["parts"])
            name = f"<details><summary>{name} ({len(g['parts'])} parts)</summary><ol>{items}</ol></details>"
        util = "–" if g["mac_util_pct"] is None else f"{g['mac_util_pct']:.1f}"
        cls = "cpu" if g["target"] == "CPU" else ""
        rows.append(
            f"<tr><td class='l'>{i}</td><td class='l'>{e(g['op'])}</td><td class='l'>{name}</td>"
            f"<td class='{cls}'>{g['target']}</td><td>{g['cycles']:,}</td><td>{g['cycles_pct']:.1f}</td>"
            f"<td>{util}</td></tr>"
        )
    return "".join(rows) + "</tbody></table>"


def variant_page(
    v: VariantRow,
    row: OverviewRow | None,
    graph: dict[str, Any] | None,
    remedy,
    fmt,
    build_prefix: str,
    checks: list[dict[str, Any]],
) -> str:
    parts = [
        _head(f"{v['id']}: NPUForge report", "../"),
        "<p><a href='../index.html'>← all variants</a></p>",
        f"<h1>{e(v['id'])}</h1>",
    ]
    if v.get("error"):
        parts.append(f"<p class='cpu'>Failed at {e(v['error']['step'])}: {e(v['error']['message'])}</p>")
        return "".join(parts) + _foot("../")
    parts += [_prequantized(v), _facts_line(v, row, fmt), _gates(checks)]
    if graph is not None:
        parts.append(_graph_section(v, graph, remedy))
    parts += [
        _findings(v),
        _accuracy(v),
        _labels(v),
        _board_agreement(v),
        _search(v),
        _limits(v),
        _error_budget(v),
        _quant_errors(v),
        _measurements(v),
    ]
    if v.get("layers"):
        parts += ["<h2>Layers (Vela)</h2>", grouped_layers_table(v["layers"])]
    parts.append(_files(v, build_prefix))
    return "".join(p for p in parts if p) + _foot("../")


def _prequantized(v: VariantRow) -> str:
    """What a variant of a model that arrives quantized is compared with: its reference float model, or its labels
    alone."""
    if v["quantization"] != PREQUANTIZED:
        return ""
    acc = v.get("accuracy") or {}
    compared = "there is no float model to compare it with"
    if acc.get("outputs"):
        compared = "its accuracy is against its reference float model"
    elif acc.get("labels"):
        compared += ", so its accuracy is against the labels alone"
    return f"<p><b>{PREQUANTIZED_NOTE}</b>: the model arrived quantized and is built as it is; {compared}.</p>"


def _facts_line(v: VariantRow, row: OverviewRow | None, fmt) -> str:
    est = v.get("estimate") or {}
    facts = [f"{v['size_bytes'] / 1024:,.0f} KiB"]
    if est.get("inference_ms") is not None:
        facts.append(
            f"estimated {est['inference_ms']:.2f} ms ({est.get('fps', 0):.1f} FPS), "
            f"SRAM {est.get('sram_kib', 0):.0f} KiB, DRAM {est.get('dram_kib', 0):.0f} KiB"
        )
    if row and row.get("measured_ms") is not None:
        facts.append(f"measured {row['measured_ms']:.2f} ms")
    return f"<p class='muted'>{e(' · '.join(facts))}</p>"


def _gates(checks: list[dict[str, Any]]) -> str:
    """The gates that apply to the variant, each with its value, bound and verdict."""
    if not checks:
        return ""
    failed = sum(1 for c in checks if not c["passed"])
    head = (
        "<th class='l'>gate</th><th class='l'>metric</th><th>value</th><th class='l'>bound</th>"
        "<th class='l'>verdict</th>"
    )
    rows = []
    for c in checks:
        metric = verdicts.metric_label(c)
        verdict = "<td class='l imp'>pass</td>" if c["passed"] else "<td class='l reg'>FAIL</td>"
        rows.append(
            f"<tr><td class='l'>{e(verdicts.where(c))}</td><td class='l'>{e(metric)}</td>"
            f"<td>{e(verdicts.value_text(c))}</td><td class='l'>{e(c['bound'])}</td>{verdict}</tr>"
        )
    note = f"{len(checks) - failed} pass, {failed} fail" + ("" if failed else ": this variant meets every gate")
    return _section("Gates", note, head, rows)


GRAPH_LEGEND = (
    "<span class='legend'><span class='by-place'><span class='npu'>NPU (darker: more cycles)</span>"
    "<span class='fused'>fused by Vela</span><span class='cpu-op'>CPU</span><span class='copy'>copy NPU↔CPU</span>"
    "</span><span class='by-error'>SNR of the layer's output: <span class='e0'>≥ 40 dB</span><span class='e1'>30–40"
    "</span><span class='e2'>20–30</span><span class='e3'>10–20</span><span class='e4'>&lt; 10</span>"
    "<span class='b16'>int16</span></span></span>"
)
GRAPH_HELP = (
    "Click an operator for its tensors, cycles and, on the CPU, why and what to do. Scroll to zoom, drag to pan."
)


def _graph_section(v: VariantRow, graph: dict[str, Any], remedy) -> str:
    nodes = report_graph.place(graph, v, remedy)
    edges = report_graph.edges(graph)
    full, details = report_graph.svg(graph, nodes, edges, "full")
    collapsed, more = report_graph.svg(graph, nodes, edges, "collapsed")
    s = report_graph.summary(nodes, graph, edges)
    checked = " checked" if s["ops"] > 150 else ""
    toolbar = (
        "<div class='toolbar'><label>find a tensor or operator <input id='search' placeholder='tensor name'></label>"
        "<span id='hits' class='muted'></span><button id='fit'>fit</button>"
        f"<label><input type='checkbox' id='collapse'{checked}> collapse chains</label>{_error_toggle(graph)}"
        f"{GRAPH_LEGEND}</div>"
    )
    viewer = (
        f"<div class='viewer'><div class='canvas'>{full}{collapsed}</div>"
        f"<aside id='details'><p class='muted'>{GRAPH_HELP}</p></aside></div>"
    )
    nodes_json = report_graph.details_json({**details, **more})
    script = f"<script type='application/json' id='nodes'>{nodes_json}</script>"
    return f"<h2>Graph</h2><p>{_graph_counts(v, s)}.</p>{toolbar}{viewer}{script}"


def _graph_counts(v: VariantRow, s: dict[str, Any]) -> str:
    """One sentence on where the graph's operators run."""
    if not v.get("layers"):
        return f"{s['ops']} operators, all run by {e(v['target'])} without Vela"
    return (
        f"{s['ops']} operators: {s['npu']} on the NPU, {s['fused']} fused by Vela into another, "
        f"<span class='cpu'>{s['cpu']} on the CPU</span>; {s['partitions']} NPU partition(s); "
        f"{s['copies']} tensor(s) copied between NPU and CPU ({s['copy_bytes'] / 1024:,.1f} KiB)"
    )


def _error_toggle(graph: dict[str, Any]) -> str:
    """The switch that colours the graph by each layer's quantization error, where the graph has them."""
    if not any("error" in t for t in graph["tensors"]):
        return ""
    return "<label><input type='checkbox' id='errors'> colour by quantization error</label>"


def _findings(v: VariantRow) -> str:
    found = v.get("findings") or []
    if not found:
        return ""
    rows = [
        "<h2>Findings</h2><table class='fit'><thead><tr><th class='l' style='width:9rem'>kind</th>"
        "<th style='width:5rem'>cycles %</th><th class='l'>layer</th><th class='l'>detail</th><th class='l'>action</th>"
        "</tr></thead><tbody>"
    ]
    for f in found:
        pct = "–" if f["cycles_pct"] is None else f"{f['cycles_pct']:.1f}"
        kind = "l kind cpu" if f["kind"] == "cpu_fallback" else "l kind"
        rows.append(
            f"<tr><td class='{kind}'>{e(f['kind'].replace('_', ' '))}</td><td>{pct}</td>"
            f"<td class='l'>{e(f['layer'])}</td><td class='l'>{e(f['detail'])}</td>"
            f"<td class='l'>{e(f['action'])}</td></tr>"
        )
    return "".join(rows) + "</tbody></table>"


def _section(title: str, note: str, head: str, rows: list[str], cls: str = "") -> str:
    """A heading, a line of explanation and a table (``head``: its header cells)."""
    explained = f"<p class='muted'>{note}</p>" if note else ""
    cls_attr = f" class={cls}" if cls else ""
    table = f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f"<h2>{title}</h2>{explained}{table}"


def _accuracy(v: VariantRow) -> str:
    acc = v.get("accuracy") or {}
    outputs = acc.get("outputs") or {}
    if not outputs:
        return ""
    worst_output = acc.get("worst_output")
    rows = []
    for name, o in outputs.items():
        worst = (o.get("worst") or {}).get("snr_db")
        worst_text = "–" if worst is None else f"{worst:.1f}"
        flag = " <span class='cpu'>worst output</span>" if name == worst_output and len(outputs) > 1 else ""
        rows.append(
            f"<tr><td class='l'>{e(name)}{flag}</td><td>{o['snr_db']:.1f}</td><td>{o['cosine']:.4f}</td>"
            f"<td>{o['rmse']:.4g}</td><td>{o['max_abs']:.4g}</td><td>{worst_text}</td></tr>"
        )
    head = (
        "<th class='l'>output</th><th>SNR dB</th><th>cosine</th><th>RMSE</th><th>max abs</th>"
        "<th>worst sample SNR dB</th>"
    )
    where = f"{acc.get('samples')} samples of '{e(str(acc.get('dataset')))}'" + (
        f" ({e(acc['part'])} part)" if acc.get("part") else ""
    )
    note = f"Against the float model on {where}."
    if acc.get("in_sample"):
        note += (
            " <span class='cpu'>In-sample: these samples are calibration samples too, so the numbers flatter the "
            "model; split the dataset (datasets.NAME.split) or give a validation dataset of its own.</span>"
        )
    return _section("Accuracy per output", note, head, rows) + _task_metrics(acc)


def _task_metrics(acc: Accuracy) -> str:
    rows = []
    for task in acc.get("tasks") or []:
        reads = ", ".join(str(task[k]) for k in ("output", "boxes", "scores") if task.get(k)) or "–"
        if task.get("skipped"):
            rows.append(
                f"<tr><td class='l'>{e(task['type'])}</td><td class='l'>{e(reads)}</td>"
                f"<td class='l muted' colspan='2'>{e(task['skipped'])}</td></tr>"
            )
        for name, value in (task.get("metrics") or {}).items():
            rows.append(
                f"<tr><td class='l'>{e(task['type'])}</td><td class='l'>{e(reads)}</td>"
                f"<td class='l'>{e(name)}</td><td>{e(metric_text(name, value))}</td></tr>"
            )
    head = "<th class='l'>task</th><th class='l'>output</th><th class='l'>metric</th><th>value</th>"
    note = (
        "The outputs decoded as the application decodes them; the quantized model's answer against the float model's."
    )
    return _section("Task metrics", note, head, rows) if rows else ""


LABELS_NOTE = (
    "The drop is the points this variant loses against the float model (positive: worse); its interval is a 95 % "
    "bootstrap interval over {resamples} resamples of the samples, and one that holds 0 is within what the choice of "
    "samples explains."
)


def _labels(v: VariantRow) -> str:
    """The float model and the variant against the validation set's labels: a row per metric with the drop and its
    interval; a classifier's confusion matrix, a detector's precision/recall curves."""
    found: LabelAccuracy | None = (v.get("accuracy") or {}).get("labels")
    if not found or not found.get("metrics"):
        return ""
    rows = [_label_row(name, m) for name, m in found["metrics"].items()]
    head = "<th class='l'>metric</th><th>float</th><th>this variant</th><th>drop (points) [95 % interval]</th>"
    note = f"Against the labels of {found['samples']} samples of '{e(found['dataset'])}'. "
    if all(m.get("float") is None for m in found["metrics"].values()):
        note += "No float model to compare with (a model that arrives quantized: give it a reference to have one)."
    else:
        resamples = max(m.get("resamples") or 0 for m in found["metrics"].values())
        note += LABELS_NOTE.format(resamples=resamples)
    parts = [_section("Against labels", note, head, rows)]
    if found.get("confusion"):
        parts.append(_confusion_figure(found["confusion"]))
    if found.get("pr_curve"):
        parts.append(_pr_figure(found["pr_curve"], found["metrics"]))
    return "".join(parts)


def _label_row(name: str, m: LabelMetric) -> str:
    """One label metric: float, quantized, the drop with its interval; the drop marked when its interval leaves 0."""
    drop, interval, cls = "–", m.get("interval"), ""
    if m.get("drop") is not None:
        drop = f"{verdicts.points(m['drop'])} pts"
    if m.get("drop") is not None and interval:
        low, high = interval
        drop += f" [{verdicts.points(low)}, {verdicts.points(high)}]"
        cls = " class='reg'" if low > 0 else " class='imp'" if high < 0 else ""
    label = f" <span class='muted'>{e(LABELS[name])}</span>" if name in LABELS else ""
    return (
        f"<tr><td class='l'>{e(name)}{label}</td><td>{e(metric_text(name, m.get('float')))}</td>"
        f"<td>{e(metric_text(name, m.get('quantized')))}</td><td{cls}>{e(drop)}</td></tr>"
    )


def _confusion_figure(c: Confusion) -> str:
    total = sum(map(sum, c["quantized"]))
    right = sum(row[i] for i, row in enumerate(c["quantized"]) if i < len(row))
    note = (
        f"This variant's top-1 class (columns) for each label (rows), {total} samples, {right} on the diagonal; a "
        "cell's shade is its share of the row: blue where the answer is right, red where it is another class."
    )
    return f"<h3>Confusion matrix</h3><p class='muted'>{note}</p>{confusion_svg(c)}"


def confusion_svg(c: Confusion) -> str:
    """The quantized model's confusion matrix: a cell per (label, top-1 class) with its count, shaded by its share
    of the row (the label's samples), class names on both axes."""
    matrix, names = c["quantized"], [_short(x) for x in c["classes"]]
    n = len(matrix)
    cell = max(16, min(40, 640 // max(n, 1)))
    font = max(9, min(12, int(cell / 2.6)))
    name_px = max(len(x) for x in names) * font * 0.62 + 8  # the longest class name, in pixels
    upright = name_px <= cell  # short names fit above their column; longer ones stand on end
    left, top = 24 + name_px, 24 + (font + 6 if upright else name_px)
    width, height = left + n * cell + 10, top + n * cell + 10
    out = [
        f"<svg class='confusion' viewBox='0 0 {width:.0f} {height:.0f}' width='{width:.0f}' height='{height:.0f}' "
        f"xmlns='http://www.w3.org/2000/svg' font-size='{font}'>",
        f"<text x='{left + n * cell / 2:.0f}' y='12' text-anchor='middle'>top-1 class of this variant</text>",
        f"<text x='12' y='{top + n * cell / 2:.0f}' transform='rotate(-90 12 {top + n * cell / 2:.0f})' "
        "text-anchor='middle'>label</text>",
    ]
    for j, name in enumerate(names):  # the columns' names
        x = left + j * cell + cell / 2
        place = (
            f"x='{x:.0f}' y='{top - 6:.0f}' text-anchor='middle'"
            if upright
            else f"x='{x + font / 3:.0f}' y='{top - 6:.0f}' transform='rotate(-90 {x + font / 3:.0f} {top - 6:.0f})'"
        )
        out.append(f"<text class='axis' {place}>{e(name)}</text>")
    for i, row in enumerate(matrix):
        y = top + i * cell
        out.append(
            f"<text class='axis' x='{left - 6:.0f}' y='{y + cell / 2 + font / 3:.0f}' text-anchor='end'>"
            f"{e(names[i])}</text>"
        )
        out += [_confusion_cell(c["classes"], i, j, count, sum(row), left, y, cell) for j, count in enumerate(row)]
    out.append("</svg>")
    return "".join(out)


def _confusion_cell(classes: list[str], i: int, j: int, count: int, of: int, x0: float, y: float, cell: int) -> str:
    share = count / of if of else 0.0
    shade = 0.12 + 0.88 * share if count else 0.0  # a single sample still shows
    colour = "#2d5fa8" if i == j else "#c62f2f"
    x = x0 + j * cell
    tip = f"label {classes[i]}, top-1 {classes[j]}: {count} of {of} ({share:.0%})"
    text = ""
    if count:
        ink = "#fff" if shade > 0.55 else "#1d2430"
        text = (
            f"<text x='{x + cell / 2:.1f}' y='{y + cell / 2 + 4:.1f}' text-anchor='middle' style='fill:{ink}'>"
            f"{count}</text>"
        )
    return (
        f"<g class='cell'><rect x='{x:.1f}' y='{y:.1f}' width='{cell}' height='{cell}' "
        f"style='fill:{colour};fill-opacity:{shade:.3f}'/>{text}<title>{e(tip)}</title></g>"
    )


def _short(name: str, most: int = 14) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"


def _pr_figure(p: PrCurve, metrics: dict[str, LabelMetric]) -> str:
    note = (
        f"Precision at each recall over the labelled boxes, a detection matching a box at IoU {p['iou']:g} or more "
        "(COCO's 101 recall points, over the classes); a line ends where the model reaches no further recall."
    )
    ap = metrics.get("map50") if p["iou"] == 0.5 else None  # the area under the curve at that IoU
    return f"<h3>Precision against recall</h3><p class='muted'>{note}</p>{pr_svg(p, ap)}"


def pr_svg(p: PrCurve, ap: LabelMetric | None = None) -> str:
    """A detector's precision/recall curves, the float model's and this variant's, each a line per unbroken run of
    recall points it reaches; the legend gives each one's AP at that IoU when known."""
    px, py, out = _plot(620, 380, (0.0, 1.0), (0.0, 1.0), "recall", f"precision (IoU {p['iou']:g})")
    shown = [(key, label) for key, label in (("float", "float model"), ("quantized", "this variant")) if p.get(key)]
    for key, _ in shown:
        for run in _runs(p["recall"], p[key]):
            coords = " ".join(f"{px(r):.1f},{py(q):.1f}" for r, q in run)
            out.append(f"<polyline class='pr {key}' points='{coords}'/>")
            if len(run) == 1:  # a line of one point draws nothing: a dot instead
                out.append(f"<circle class='pr {key}' cx='{px(run[0][0]):.1f}' cy='{py(run[0][1]):.1f}' r='2.5'/>")
    x = 70.0
    for key, label in shown:  # the legend, along the top
        value = (ap or {}).get(key)
        text = label + (f": AP {value:.1%}" if value is not None else "")
        out.append(
            f"<line class='pr {key}' x1='{x:.0f}' y1='10' x2='{x + 24:.0f}' y2='10'/>"
            f"<text x='{x + 30:.0f}' y='14'>{e(text)}</text>"
        )
        x += 60 + 6.5 * len(text)
    out.append("</svg>")
    return "".join(out)


def _runs(recall: list[float], precision: list[float | None]) -> list[list[tuple[float, float]]]:
    """The (recall, precision) points, cut where a precision is null (a recall not reached)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for r, q in zip(recall, precision, strict=True):
        if q is None:
            runs.append([])
        else:
            runs[-1].append((r, q))
    return [run for run in runs if run]


def _board_agreement(v: VariantRow) -> str:
    rows = []
    for a in v.get("board_agreements") or []:
        for name, o in a["outputs"].items():
            off = f"{o['max_lsb']} LSB" if o.get("max_lsb") is not None else f"{o.get('max_abs') or 0:.3g}"
            cls = "" if o["agreement"] == 1 else " class='cpu'"
            rows.append(
                f"<tr><td class='l'>{e(a['board'])}</td><td class='l'>{e(name)}</td><td{cls}>{o['agreement']:.1%}"
                f"</td><td>{o['exact']:.1%}</td><td>{e(off)}</td><td>{a['samples']}</td></tr>"
            )
    head = (
        "<th class='l'>board</th><th class='l'>output</th><th>samples that agree</th><th>values exactly equal</th>"
        "<th>largest difference</th><th>samples</th>"
    )
    note = (
        "The validation samples run through the deployed artifact on the board (its runtime and delegate) against "
        "the quantized model on this machine's TFLite builtin kernels; a sample agrees when every value is within the "
        "board's tolerance."
    )
    parts = [_section("Accuracy on the board", note, head, rows)] if rows else []
    for a in v.get("board_agreements") or []:
        found = a.get("labels")
        if not found or not found.get("metrics"):
            continue
        label_rows = [
            _label_row(name, {**m, "float": m["host"], "quantized": m["board"]}) for name, m in found["metrics"].items()
        ]
        head = (
            "<th class='l'>metric</th><th>this machine</th><th>on the board</th><th>drop (points) [95 % interval]</th>"
        )
        said = (
            f"The board's outputs of {found['samples']} labelled samples, decoded by the model's tasks and scored "
            "against their labels, beside the quantized model's on this machine; the drop is the points the board "
            "loses (positive: worse)."
        )
        parts.append(_section(f"Against labels on {e(a['board'])}", said, head, label_rows))
    return "".join(parts)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _search(v: VariantRow) -> str:
    found = v.get("search")
    if not found:
        return ""
    chosen, cost = found["chosen"], found["cost"]
    verdict = (
        f"<b>Chose {e(chosen['summary'])}</b>: {e(found['why'])}."
        if found["met"]
        else f"<b class='cpu'>Goal not met</b>: {e(found['why'])}."
    )
    spent = (
        f"{cost['candidates']} candidates, each a step: quantized from the calibrate step's ranges, compiled by Vela "
        f"and evaluated on the validation set ({cost['seconds']:g} s together); the sensitivity step estimated "
        f"every block's effect from the int8 and int16x8 ends in {cost['estimate_seconds']:g} s, and the search "
        f"measured {cost['refined']} more for the budget in {cost['refine_seconds']:g} s."
    )
    rows = [
        f"<tr><td class='l'>{e(c['stage'])}</td><td>{'' if c['step'] is None else c['step']}</td>"
        f"<td class='l'>{e(c['weights'])}</td><td>{c['ms']:.2f}</td>"
        f"<td>{_ms(c.get('estimated_ms'))}</td>"
        f"<td>{metric_text(found['metric'], c['value'])}</td>"
        f"<td>{c['widened']}</td><td>{c['type_changes']}</td><td>{'yes' if c['met'] and c['within'] else ''}</td></tr>"
        for c in sorted(found["candidates"], key=lambda c: c["ms"])
    ]
    head = (
        "<th class='l'>path</th><th>step</th><th class='l'>weights</th><th>Vela ms</th><th>estimated before</th>"
        "<th>goal metric</th>"
        "<th>layers int16x8</th><th>type changes</th><th>meets goal and budget</th>"
    )
    return (
        "<h2>Mixed-precision search</h2>"
        + f"<p>{verdict}</p><p class='muted'>{e(spent)}</p>"
        + pareto_plot(found)
        + "<p>The choice as a fixed scheme, to paste under <code>quantization:</code>:</p>"
        + f"<pre class='snippet'>{e(found['snippet'])}</pre>"
        + _section("Candidates", "", head, rows, "fit")
    )


def _limits(v: VariantRow) -> str:
    lim = v.get("limits")
    if not lim:
        return ""
    rows = [
        f"<tr><td class='l'>{e(name)}{' <span class=cpu>worst output</span>' if name == lim['worst_output'] else ''}"
        f"</td><td>{o['snr_db']:.1f}</td><td>{o['snr_db_one_sample']:.1f}</td></tr>"
        for name, o in lim["outputs"].items()
    ]
    head = (
        "<th class='l'>output</th><th>SNR dB, calibrated on the dataset</th><th>SNR dB, calibrated on this sample</th>"
    )
    note = (
        f"Calibrated on one validation sample (<code>{e(lim['sample'])}</code>) and evaluated on it: "
        f"<b>{e(lim['advice'])}</b>."
    )
    return _section("Quantization limits", note, head, rows)


def _error_budget(v: VariantRow) -> str:
    budget = v.get("error_budget")
    if not budget or not budget["layers"]:
        return ""
    rows = [
        f"<tr><td class='l'>{e(q['tensor'])}</td><td class='l'>{e(q['op'])}</td><td>{e(q['dtype'])}</td>"
        f"<td>{q['share']:.0%}</td></tr>"
        for q in budget["layers"]
    ]
    head = (
        "<th class='l'>tensor</th><th class='l' style='width:10rem'>op</th><th style='width:5rem'>dtype</th>"
        "<th style='width:7rem'>share</th>"
    )
    note = (
        f"The layers that add most of the error of the worst output, <code>{e(budget['output'])}</code>: what a "
        "layer adds is its noise-to-signal ratio less its inputs', as a share of what all layers upstream of that "
        "output add (to first order, where noise passes on at the signal's gain). Widen these first."
    )
    return _section("Where the error comes from", note, head, rows, "fit")


def _quant_errors(v: VariantRow) -> str:
    errors = sorted(v.get("quant_errors") or [], key=lambda q: -(q.get("rel_rmse") or 0))[:15]
    rows = [
        f"<tr><td class='l'>{e(q['tensor'])}</td><td class='l'>{e(q['op'])}</td>"
        f"<td>{q.get('rel_rmse') or 0:.4f}</td><td>{e(str(q.get('dtype', '')))}</td></tr>"
        for q in errors
    ]
    head = (
        "<th class='l'>tensor</th><th class='l' style='width:10rem'>op</th><th style='width:6rem'>rel. RMSE</th>"
        "<th style='width:5rem'>dtype</th>"
    )
    note = "The layers whose quantized output differs most from the float one (relative RMSE), largest first."
    return _section("Quantization error per layer", note, head, rows, "fit") if rows else ""


def _measurements(v: VariantRow) -> str:
    est = (v.get("estimate") or {}).get("inference_ms")
    rows = []
    for b in v.get("benchmarks") or []:
        lat = b.get("latency_ms") or {}
        median = "–" if lat.get("median") is None else f"{lat['median']:.2f}"
        rows.append(
            f"<tr><td class='l'>{e(str(b.get('board', '')))}</td><td>{'–' if est is None else f'{est:.2f}'}</td>"
            f"<td>{lat.get('avg', 0):.2f}</td><td>{lat.get('min', 0):.2f}</td><td>{median}</td>"
            f"<td>{lat.get('max', 0):.2f}</td><td>{_spread(lat)}</td><td>{b.get('first_ms') or 0:.2f}</td></tr>"
        )
    head = (
        "<th class='l'>board</th><th>estimated ms</th><th>measured ms (avg)</th><th>min</th><th>median</th>"
        "<th>max</th><th>spread (max/min)</th><th>first inference ms</th>"
    )
    return _section("Estimate against measurement", "", head, rows) if rows else ""


def _spread(latency: dict[str, Any]) -> str:
    """max over min of the measured runs: how far one run may be from another (1.00×: all alike)."""
    low, high = latency.get("min"), latency.get("max")
    return f"{high / low:.2f}×" if low and high else "–"


def _files(v: VariantRow, build_prefix: str) -> str:
    artifact = v["artifact"]
    rel = artifact[len(build_prefix) :] if artifact.startswith(build_prefix) else artifact
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    return (
        f"<h2>Files</h2><ul><li>artifact: <a href='../../{e(rel)}'>{e(artifact)}</a> ({v['size_bytes']:,} bytes)</li>"
        f"<li>its folder (facts, Vela's reports, logs): <a href='../../{e(folder)}'>{e(folder)}</a></li></ul>"
    )
