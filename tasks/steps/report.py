"""report: results.json → build/report/ (index.html, a page per variant, report.css, report.js) and report.md.

The overview: one sortable, filterable row per variant (NPU/CPU ops,
estimated and measured latency, size, accuracy), the models × targets
compatibility view, latency against accuracy (each point opens its
variant), per-layer comparisons of variants that share a layer structure,
and the regressions against a baseline results.json.  A variant's page:
its model as a graph placed on the NPU and the CPU (tasks/report/graph.py),
findings, accuracy per output, quantization error per layer, estimate
against measurement, Vela's layers with lowered operators folded, files.
Static files only (tasks/report/html.py, tasks/report/assets.py).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.config import quality_gates
from tasks.model.metrics import LABELS, headline, metric_text
from tasks.planning.options import added, input_file, output_file
from tasks.progress import say
from tasks.report import assets as report_assets
from tasks.report import graph as report_graph
from tasks.report import html as report_html
from tasks.report import pipelines as report_pipelines
from tasks.report import verdicts
from tasks.steps import gates

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step
    from tasks.results.records import Conversion, OverviewRow, PipelineRow, Results, VariantRow


@dataclass(frozen=True, kw_only=True)
class Options:
    results: Path = input_file()
    out_dir: Path  # plots go here too
    index: Path = output_file()
    markdown: Path = output_file()
    baseline: Path | None = input_file(None)  # a results.json of an earlier build, to mark regressions
    graphs: tuple[Path, ...] = input_file(())  # graph.json of each quantized model (the graph step)
    graph_units: tuple[str, ...] = ()  # "UNIT/SCHEME" of each of graphs
    pages: tuple[Path, ...] = output_file(())  # variants/<variant>.html, one per variant
    assets: tuple[Path, ...] = output_file(())  # report.css, report.js
    root_to_build: str = "build"  # the build folder, relative to the project (results.json's paths start with it)
    gates: tuple[dict[str, Any], ...] = ()  # the rules the gates step checks: their verdicts are shown
    pipeline_pages: tuple[Path, ...] = added((), role="out")  # pipelines/<pipeline>.html, one per pipeline


def plan_report(planning: Planning) -> list[Step]:
    paths, baseline = planning.paths, planning.baseline
    graphs = [s for s in planning.steps if s.kind.name == "graph"]
    options = Options(
        results=paths.results,
        out_dir=paths.report_dir,
        index=paths.report_index,
        markdown=paths.report_markdown,
        baseline=baseline,
        graphs=tuple(g.options.out for g in graphs),
        graph_units=tuple(g.name for g in graphs),
        pages=tuple(paths.report_page(v.id) for v in planning.project.variants),
        assets=paths.report_assets,
        root_to_build=os.path.relpath(paths.build, planning.project.root),
        gates=gates.all_rules(planning),
        pipeline_pages=tuple(paths.report_dir / report_pipelines.page_name(p) for p in planning.project.pipelines),
    )
    doc = "write build/report/: an overview, a page per variant with its graph, and report.md"
    return [planning.new("report", "", doc + (f" (baseline {baseline.name})" if baseline else ""), options)]


REGRESSION = {
    "est_ms": 0.01,  # relative
    "size": 0.01,  # relative
    "snr_db": 0.5,  # dB
    "npu_ratio": 0.001,  # absolute
    "task": 0.01,  # relative
}


def _min_snr(v: VariantRow) -> float | None:
    acc = v.get("accuracy") or {}
    outputs = acc.get("outputs") or {}
    return min(o["snr_db"] for o in outputs.values()) if outputs else None


def _npu_ratio(v: VariantRow) -> float | None:
    ops = v.get("ops")
    return ops["npu"] / (ops["npu"] + ops["cpu"]) if ops and ops["npu"] + ops["cpu"] else None


def _unit(v: VariantRow) -> str:
    return f"{v['model']}.{v['prune']}" if v.get("prune") else v["model"]


def rows(variants: list[VariantRow], checks: dict[str, list[dict[str, Any]]] | None = None) -> list[OverviewRow]:
    """One row per variant that built (a failed one has no numbers: the compatibility view shows it), with the
    verdicts of its gate ``checks`` (variant id → its checks)."""
    out: list[OverviewRow] = []
    for v in variants:
        if v.get("error"):
            continue
        est = v.get("estimate") or {}
        bench = v.get("benchmark") or {}
        mine = (checks or {}).get(v["id"], [])
        metrics = (v.get("accuracy") or {}).get("metrics") or {}
        task = verdicts.task_shown(metrics, mine, headline(v.get("accuracy")))
        out.append(
            {
                "id": v["id"],
                "model": v["model"],
                "prune": v.get("prune") or "",
                "quantization": v["quantization"],
                "target": v["target"],
                "size": v["size_bytes"],
                "ops": f"{v['ops']['npu']}/{v['ops']['cpu']}" if v.get("ops") else "",
                "est_ms": est.get("inference_ms"),
                "fps": est.get("fps"),
                "sram_kib": est.get("sram_kib"),
                "dram_kib": est.get("dram_kib"),
                "macs": est.get("macs"),
                "snr_db": _min_snr(v),
                "in_sample": bool((v.get("accuracy") or {}).get("in_sample")),
                "task": task,
                "task_beside": verdicts.task_beside(metrics, task),
                "measured_ms": (bench.get("latency_ms") or {}).get("avg"),
                "measured_range": _range(bench.get("latency_ms")),
                "first_ms": bench.get("first_ms"),  # includes the delegate's graph compilation
                "runtime_cpu": bool(bench.get("cpu_fallback_at_runtime")),
                "npu_ratio": _npu_ratio(v),
                "gates": verdicts.row_verdict(mine),
                "gate_cells": verdicts.failed_cells(mine),
            }
        )
    return out


def _range(latency: dict[str, Any] | None) -> tuple[float, float] | None:
    """The fastest and slowest measured run: the spread a measurement is read with."""
    if not latency or latency.get("min") is None or latency.get("max") is None:
        return None
    return latency["min"], latency["max"]


def regressions(current: list[OverviewRow], baseline: list[OverviewRow]) -> dict[str, dict[str, str]]:
    """variant id → {column: 'regression' | 'improvement'} against the baseline's same variant."""
    before = {r["id"]: r for r in baseline}
    marks: dict[str, dict[str, str]] = {}
    for r in current:
        b = before.get(r["id"])
        if not b:
            continue
        mark: dict[str, str] = {}
        for key, worse_if_higher in (("est_ms", True), ("size", True), ("snr_db", False), ("npu_ratio", False)):
            new, old = r.get(key), b.get(key)
            if new is None or old is None:
                continue
            delta = new - old
            limit = REGRESSION[key] * (abs(old) if key in ("est_ms", "size") else 1.0)
            if abs(delta) <= limit:
                continue
            worse = delta > 0 if worse_if_higher else delta < 0
            mark[key] = "regression" if worse else "improvement"
        task = _task_change(r.get("task"), b.get("task"))
        if task:
            mark["task"] = task
        if mark:
            marks[r["id"]] = mark
    return marks


def _task_change(new: tuple[str, float] | None, old: tuple[str, float] | None) -> str | None:
    """The headline task metric against the baseline's, when it is the same metric: more than 1 % of it apart."""
    from tasks.model.metrics import HIGHER_IS_BETTER

    if not new or not old or new[0] != old[0] or abs(new[1] - old[1]) <= REGRESSION["task"] * max(abs(old[1]), 1e-9):
        return None
    better = new[1] > old[1] if HIGHER_IS_BETTER.get(new[0], True) else new[1] < old[1]
    return "improvement" if better else "regression"


def layer_groups(variants: list[VariantRow]) -> list[list[tuple[VariantRow, list[dict[str, Any]]]]]:
    """Compiled variants with the same quantization, target and layer structure (op sequence), each with
    its layers, Vela's lowered operators folded (report_graph.group_layers)."""
    groups: dict[tuple, list[tuple[VariantRow, list[dict[str, Any]]]]] = {}
    for v in variants:
        if not v.get("layers"):
            continue
        folded = report_graph.group_layers(v["layers"])
        groups.setdefault((v["quantization"], v["target"], tuple(g["op"] for g in folded)), []).append((v, folded))
    return [g for g in groups.values() if len(g) > 1 and len({_unit(v) for v, _ in g}) > 1]


def _compared(
    group: list[tuple[VariantRow, list[dict[str, Any]]]],
) -> list[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
    """The rows of a layer-by-layer comparison: index, the first variant's layer, every variant's; no all-zero rows."""
    rows = []
    for i, layer in enumerate(group[0][1]):
        across = [folded[i] for _, folded in group]
        if any(x["cycles"] for x in across):
            rows.append((i, layer, across))
    return rows


def compatibility(
    variants: list[VariantRow], checks: list[dict[str, Any]] = ()
) -> tuple[list[str], list[str], dict[tuple[str, str], list[str]]]:
    """Models × targets: per cell, the schemes with their NPU share and estimated ms, or the failure, and
    the gates a scheme fails there.

    Schemes that failed the same way share one line: ``int8, a16w8: failed at import:m: …``.
    """
    units = list(dict.fromkeys(_unit(v) for v in variants))
    targets = list(dict.fromkeys(v["target"] for v in variants))
    failing = {vid: [c for c in mine if not c["passed"]] for vid, mine in verdicts.by_variant(list(checks)).items()}
    grouped: dict[tuple[str, str], dict[str, list[str]]] = {}
    for v in variants:
        if v.get("error"):
            text = f"failed at {v['error']['step']}: {v['error']['message']}"
        else:
            ratio, est = _npu_ratio(v), (v.get("estimate") or {}).get("inference_ms")
            facts = [f"{ratio:.0%} NPU" if ratio is not None else "", f"{est:.2f} ms est." if est is not None else ""]
            facts += [
                f"fails gate {c['metric']} {verdicts.value_text(c)}, needs {c['bound']}"
                for c in failing.get(v["id"], [])
            ]
            text = ", ".join(f for f in facts if f) or "built"
        grouped.setdefault((_unit(v), v["target"]), {}).setdefault(text, []).append(v["quantization"])
    cells = {
        cell: [f"{', '.join(schemes)}: {text}" for text, schemes in texts.items()] for cell, texts in grouped.items()
    }
    return units, targets, cells


# --- documents -------------------------------------------------------------------------------------

COLUMNS = [
    ("id", "variant"),
    ("size", "size (B)"),
    ("ops", "NPU/CPU ops"),
    ("est_ms", "est. ms"),
    ("fps", "est. FPS"),
    ("measured_ms", "measured ms"),
    ("first_ms", "first inference ms"),
    ("sram_kib", "SRAM KiB"),
    ("dram_kib", "DRAM KiB"),
    ("macs", "MACs"),
    ("snr_db", "SNR dB (worst output)"),
    ("task", "task metric"),
    ("gates", "gates"),
]


def _fmt(key: str, value: Any) -> str:
    if value is None or value == "":
        return "–"
    if key in ("est_ms", "measured_ms", "first_ms"):
        return f"{value:.2f}"
    if key in ("snr_db", "sram_kib", "dram_kib", "fps"):
        return f"{value:.1f}"
    if key == "task":
        name, number = value
        return f"{LABELS.get(name, name)} {metric_text(name, number)}"
    if key in ("size", "macs"):
        return f"{value:,}"
    if key == "gates":
        return value[0]
    return str(value)


def _compatibility_html(variants: list[VariantRow], checks: list[dict[str, Any]]) -> list[str]:
    """The compatibility table, each scheme's line coloured by its own outcome: failed, fails a gate, or built."""
    e = html.escape
    units, targets, cells = compatibility(variants, checks)
    parts = ["<h2>Compatibility</h2><table id='compatibility'><tr><th class='l'>model</th>"]
    parts += [f"<th class='l'>{e(t)}</th>" for t in targets] + ["</tr>"]
    for unit in units:
        parts.append(f"<tr><td class='l'>{e(unit)}</td>")
        for t in targets:
            lines = [f"<span class='{_outcome(x)}'>{e(x)}</span>" for x in cells.get((unit, t), [])]
            parts.append(f"<td class='l'>{'<br>'.join(lines) or '–'}</td>")
        parts.append("</tr>")
    return [*parts, "</table>"]


def _outcome(line: str) -> str:
    """A compatibility line's class: ``failed`` (did not build), ``gatefail`` (built, fails a gate) or ``built``."""
    if ": failed at " in line:
        return "failed"
    return "gatefail" if "fails gate " in line else "built"


def conversions(variants: list[VariantRow]) -> list[tuple[str, str, str | None, list[list[str]]]]:
    """Per ONNX model (once): how close the conversion is to onnxruntime, why it was accepted beyond the tolerance
    (None within it), and one row per input and output, ONNX name and shape → TFLite name and shape, axes."""
    seen: dict[str, tuple[str, str | None, list[list[str]]]] = {}
    for v in variants:
        c = v.get("conversion")
        if not c or v["model"] in seen:
            continue
        seen[v["model"]] = (_checked(c), c.get("warning"), _conversion_rows(c))
    return [(model, *found) for model, found in seen.items()]


def _conversion_rows(c: Conversion) -> list[list[str]]:
    """One row per input and output: side, ONNX name and shape, TFLite name and shape, layout."""
    rows = []
    for side in ("inputs", "outputs"):
        for t in c[side]:
            layout = "same" if t["axes"] == sorted(t["axes"]) else f"transposed {t['axes']}"
            rows.append([side[:-1], t["onnx"], str(t["onnx_shape"]), t["tflite"], str(t["tflite_shape"]), layout])
    return rows


def _checked(c: Conversion) -> str:
    random = f"{c['max_rel_diff']:.1e} of an output's range on random inputs"
    if c.get("max_rel_diff_samples") is None:
        return f"Largest difference from onnxruntime: {random}"
    samples = f"{c['max_rel_diff_samples']:.1e} on {c['samples']} calibration samples"
    return f"Largest difference from onnxruntime: {samples}, {random}"


CONVERSION_COLUMNS = ("", "ONNX name", "ONNX shape", "TFLite name", "TFLite shape", "layout")
CONVERSION_NOTE = (
    "Converted with onnx2tf and checked against onnxruntime; calibration .npy samples may be given in either layout"
)


def _conversions_html(variants: list[VariantRow]) -> list[str]:
    e = html.escape
    found = conversions(variants)
    if not found:
        return []
    parts = [f"<h2>Converted from ONNX</h2><p class='muted'>{e(CONVERSION_NOTE)}.</p>"]
    for model, checked, warning, table in found:
        parts.append(f"<h3>{e(model)}</h3><p class='muted'>{e(checked)}.</p>")
        parts.append(f"<p class='cpu'>WARNING: {e(warning)}</p>" if warning else "")
        parts.append("<table class='conversion'><tr>")
        parts += [f"<th class='l'>{e(c)}</th>" for c in CONVERSION_COLUMNS] + ["</tr>"]
        parts += ["<tr>" + "".join(f"<td class='l'>{e(x)}</td>" for x in row) + "</tr>" for row in table]
        parts.append("</table>")
    return parts


def _conversions_markdown(variants: list[VariantRow]) -> list[str]:
    found = conversions(variants)
    lines = ["", "## Converted from ONNX", "", CONVERSION_NOTE + "."] if found else []
    for model, checked, warning, table in found:
        lines += ["", f"### {model}", "", checked + "."] + (["", f"**WARNING:** {warning}"] if warning else [])
        lines += ["", "| " + " | ".join(CONVERSION_COLUMNS) + " |"]
        lines.append("|---" * 6 + "|")
        lines += ["| " + " | ".join(f"`{x}`" if i in (1, 3) else x for i, x in enumerate(row)) + " |" for row in table]
    return lines


def _counted(variants: list[VariantRow]) -> str:
    failed = sum(1 for v in variants if v.get("error"))
    return f"{len(variants)} variants" + (f", {failed} failed (see Compatibility)" if failed else "")


def _layers_html(groups) -> list[str]:
    """Variants that share a layer structure side by side, Vela's lowered operators folded into one row."""
    e = html.escape
    parts = []
    for group in groups:
        parts.append(
            f"<h2>Layer by layer: {' vs '.join(e(v['id']) for v, _ in group)}</h2><table class='layers'>"
            "<thead><tr><th>#</th><th class='l'>op</th>"
        )
        parts += [
            f"<th>{e(_unit(v))} channels</th><th>{e(_unit(v))} cycles</th><th>{e(_unit(v))} MAC util %</th>"
            for v, _ in group
        ]
        parts.append("</tr></thead><tbody>")
        for i, layer, across in _compared(group):
            parts_note = f" <span class='muted'>({len(layer['parts'])} parts)</span>" if layer["parts"] else ""
            parts.append(f"<tr><td>{i}</td><td class='l'>{e(layer['op'])}{parts_note}</td>")
            for x in across:
                util = "–" if x["mac_util_pct"] is None else f"{x['mac_util_pct']:.1f}"
                parts.append(f"<td>{x['out_channels'] or '–'}</td><td>{x['cycles']:,}</td><td>{util}</td>")
            parts.append("</tr>")
        parts.append("</tbody></table>")
    return parts


def _page_of(pipelines: dict[str, str]):
    """The page a gate check links to: its pipeline's (pipeline variant id → pipeline), else its variant's."""

    def page(check_id: str) -> str:
        if check_id in pipelines:
            return report_pipelines.page_name(pipelines[check_id])
        return report_html.page_name(check_id)

    return page


def render_html(
    project: str,
    variants: list[VariantRow],
    table: list[OverviewRow],
    marks,
    groups,
    baseline: str | None,
    checks: list[dict[str, Any]],
    pipelines: list[PipelineRow] = (),
) -> str:
    e = html.escape
    note = None
    if baseline is not None:
        regressed = [vid for vid, m in marks.items() if "regression" in m.values()]
        said = "no regression."
        if regressed:
            said = (
                f"<span class='cpu'>{len(regressed)} variant(s) regressed</span> "
                "(▲ slower or larger, ▼ less accurate or fewer NPU ops)."
            )
        note = f"<p>Compared with <code>{e(baseline)}</code>: {said}</p>"
    sections = report_pipelines.overview_html(pipelines, verdicts.by_variant(checks))
    sections += _compatibility_html(variants, checks) + _conversions_html(variants) + _layers_html(groups)
    verdict = verdicts.summary_html(checks, _page_of({p["id"]: p["pipeline"] for p in pipelines}))
    return report_html.overview(
        project, _counted(variants), table, marks, _fmt, sections, report_html.scatter(table), note, verdict
    )


def render_markdown(
    project: str,
    variants: list[VariantRow],
    table: list[OverviewRow],
    marks,
    groups,
    checks: list[dict[str, Any]],
    pipelines: list[PipelineRow] = (),
) -> str:
    lines = [f"# {project}", "", *verdicts.summary_markdown(checks), ""]
    lines += ["| " + " | ".join(t for _, t in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in table:
        mark = marks.get(r["id"], {})
        cells = [
            (verdicts.task_text(r["task"], r["task_beside"]) if k == "task" else _fmt(k, r[k]))
            + (" **▲**" if mark.get(k) == "regression" else "")
            + (" **✗**" if k in r["gate_cells"] and k != "gates" else "")
            for k, _ in COLUMNS
        ]
        if r["measured_range"]:
            cells[[k for k, _ in COLUMNS].index("measured_ms")] += " ({:.2f}–{:.2f})".format(*r["measured_range"])
        if r["runtime_cpu"]:
            cells[[k for k, _ in COLUMNS].index("measured_ms")] += " ⚠ partly on the CPU"
        if r["in_sample"]:
            cells[[k for k, _ in COLUMNS].index("snr_db")] += " (in-sample)"
        lines.append("| " + " | ".join(cells) + " |")
    lines += report_pipelines.overview_markdown(list(pipelines))
    units, targets, compat = compatibility(variants, checks)
    lines += ["", "## Compatibility", "", "| model | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for unit in units:
        lines.append(f"| {unit} | " + " | ".join("<br>".join(compat.get((unit, t), [])) or "–" for t in targets) + " |")
    lines += _conversions_markdown(variants)
    for group in groups:
        lines += [
            "",
            f"## Layer by layer: {' vs '.join(v['id'] for v, _ in group)}",
            "",
            "| # | op | " + " | ".join(f"{_unit(v)} channels | {_unit(v)} cycles" for v, _ in group) + " |",
            "|---|---|" + "---|---|" * len(group),
        ]
        for i, layer, across in _compared(group):
            cells = " | ".join(f"{x['out_channels'] or '–'} | {x['cycles']:,}" for x in across)
            folded_note = f" ({len(layer['parts'])} parts)" if layer["parts"] else ""
            lines.append(f"| {i} | {layer['op']}{folded_note} | {cells} |")
    searched = {f"{_unit(v)}/{v['quantization']}": v["search"] for v in variants if v.get("search")}  # each once
    if searched:
        lines += ["", "## Mixed-precision searches", ""]
        lines += [
            f"- **{name}** ({s['goal']} within {s['max_ms']:g} ms on {s['target']}): "
            + (f"chose {s['chosen']['summary']}" if s["met"] else f"goal not met: {s['why']}")
            for name, s in searched.items()
        ]
    lines += ["", "## Findings"]
    for v in variants:
        if v.get("findings"):
            lines += ["", f"### {v['id']}", ""]
            lines += [
                f"- **{f['kind'].replace('_', ' ')}** `{f['layer']}`: {f['detail']}. *{f['action']}*"
                for f in v["findings"]
            ]
    return "\n".join(lines) + "\n"


def run(o: Options) -> None:
    from tasks.model import analysis

    data: Results = json.loads(o.results.read_text())
    variants = data["variants"]
    pipelines = data.get("pipelines", [])
    checks, _ = quality_gates.check(list(o.gates), variants + pipelines)
    table = rows(variants, verdicts.by_variant(checks))
    marks: dict[str, dict[str, str]] = {}
    if o.baseline:
        marks = regressions(table, rows(json.loads(o.baseline.read_text())["variants"]))
    failed = sum(1 for v in variants if v.get("error"))
    failed_note = f"; {failed} failed" if failed else ""
    say(f"   report: {len(variants) - failed} variants{failed_note}, {len(o.pages)} pages")
    groups = layer_groups(variants)
    graphs = {
        unit: json.loads(path.read_text())  # a failed variant's model has none (a partial matrix)
        for unit, path in zip(o.graph_units, o.graphs, strict=True)
        if path.is_file()
    }
    by_id = {r["id"]: r for r in table}
    build_prefix = f"{o.root_to_build}/" if o.root_to_build else ""
    pages = {page.name: page for page in o.pages}
    for v in variants:
        page = pages.get(f"{report_html.slug(v['id'])}.html")
        if page is None:
            continue
        graph = graphs.get(f"{_unit(v)}/{v['quantization']}")
        mine = [c for c in checks if c["variant"] == v["id"]]
        text = report_html.variant_page(v, by_id.get(v["id"]), graph, analysis.remedy, _fmt, build_prefix, mine)
        atomic.write_text(page, text)
    written = report_pipelines.pages(pipelines, checks)
    for path in o.pipeline_pages:
        atomic.write_text(path, written[report_pipelines.page_name(path.stem)])
    _remove_orphan_pages(o)
    css, js = o.assets
    atomic.write_text(css, report_assets.CSS.lstrip())
    atomic.write_text(js, report_assets.JS.lstrip())
    markdown = render_markdown(data["project"], variants, table, marks, groups, checks, pipelines)
    atomic.write_text(o.markdown, markdown)
    baseline = str(o.baseline) if o.baseline else None
    index = render_html(data["project"], variants, table, marks, groups, baseline, checks, pipelines)
    atomic.write_text(o.index, index)
    regressed = sum("regression" in m.values() for m in marks.values())
    say(f"   report: {verdicts.counted(checks)}")
    for c in checks:
        if not c["passed"]:
            say(f"     FAILS {verdicts.failing_line(c)}")
    say(
        f"   report: wrote {o.index}"
        + (f"; {regressed} variant(s) regressed against the baseline" if o.baseline else "")
    )


def _remove_orphan_pages(o: Options) -> None:
    """Pages of variants (and pipelines) the project no longer has: a link to them would show numbers no build
    stands behind."""
    for folder, kept in ((o.out_dir / "variants", o.pages), (o.out_dir / "pipelines", o.pipeline_pages)):
        names = {p.name for p in kept}
        for page in folder.glob("*.html"):
            if page.name not in names:
                page.unlink(missing_ok=True)
