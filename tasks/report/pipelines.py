"""The report's pipelines: a table on the overview, and a page per pipeline (results.json's ``pipelines``).

A pipeline's page shows, per target, each scheme combination's stages as a
timeline against the frame budget (each stage's NPU estimate; a stage's CPU
operators are named, they are not in the estimate), its memory against what
the target declares, and the end-to-end accuracy of each combination: the
last stage's task metrics on the crops the quantized first stage produced,
against the float chain, with the misses.  Static HTML and SVG.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from tasks.model.metrics import LABELS, headline, metric_text
from tasks.report import html as report_html
from tasks.report import verdicts

if TYPE_CHECKING:
    from tasks.results.records import PipelineRow

e = html.escape
STAGE_COLOURS = ("#2d5fa8", "#1b9e77", "#6a3d9a", "#e07b00")
CPU_COLOUR = "#9aa3ad"
METRICS_SHOWN = ("landmark_px_mean", "landmark_px_p95", "landmark_pck", "top1_agreement", "pipeline_miss_rate")


def page_name(pipeline: str) -> str:
    return f"pipelines/{report_html.slug(pipeline)}.html"


def _by_pipeline(rows: list[PipelineRow]) -> dict[str, list[PipelineRow]]:
    found: dict[str, list[PipelineRow]] = {}
    for r in rows:
        found.setdefault(r["pipeline"], []).append(r)
    return found


def _ms(r: PipelineRow) -> str:
    est = r.get("estimate")
    return f"{est['ms']:.2f}" if est else "–"


def _measured(r: PipelineRow) -> str:
    m = r.get("measured")
    return f"{m['frame_ms']['avg']:.2f} ({m['fps']:.1f} FPS)" if m else "–"


def _budget(r: PipelineRow) -> str:
    return f"{r['budget_ms']:.2f}" if r.get("budget_ms") else "–"


def _memory(r: PipelineRow) -> str:
    m = r.get("memory") or {}
    if m.get("sram_kib") is None:
        return "–"
    have = f" of {m['target_sram_kib']:g}" if m.get("target_sram_kib") is not None else ""
    return f"{m['sram_kib']:,.0f}{have}"


def _fits(r: PipelineRow) -> tuple[str, str]:
    fits = (r.get("memory") or {}).get("fits")
    return ("–", "") if fits is None else ("fits", "pass") if fits else ("does not fit", "reg")


def _headline(r: PipelineRow) -> str:
    """The last stage's headline task metric end to end (tasks.model.metrics.headline)."""
    shown = headline(r.get("accuracy"))
    return f"{LABELS.get(shown[0], shown[0])} {metric_text(*shown)}" if shown else "–"


def _frames(r: PipelineRow) -> str:
    acc = r.get("accuracy")
    if not acc:
        return "–"
    missed = f", {acc['misses']} missed" if acc["misses"] else ""
    return f"{acc['scored_frames']}/{acc['frames']}{missed}" + (" (in-sample)" if acc.get("in_sample") else "")


def overview_html(rows: list[PipelineRow], checks: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The overview's Pipelines section: a row per pipeline variant."""
    if not rows:
        return []
    parts = [
        "<h2>Pipelines</h2><p class='muted'>Each stage's Vela estimate added up against the frame budget, the "
        "largest stage's SRAM against the target's, and the last stage's task metric end to end: on the crops the "
        "quantized first stage produced, against the float chain. Click a pipeline for its timeline.</p>",
        "<table id='pipelines'><thead><tr><th class='l'>pipeline</th><th>est. ms</th><th>measured ms</th>"
        "<th>budget ms</th>"
        "<th>SRAM KiB</th><th class='l'>memory</th><th class='l'>end to end</th><th class='l'>frames scored</th>"
        "<th class='l'>gates</th></tr></thead><tbody>",
    ]
    for r in rows:
        link = f"<a href='{page_name(r['pipeline'])}'>{e(r['id'])}</a>"
        if r.get("error"):
            parts.append(
                f"<tr><td class='l'>{link}</td><td colspan='8' class='l'><span class='failed'>failed at "
                f"{e(r['error']['step'])}: {e(r['error']['message'])}</span></td></tr>"
            )
            continue
        over = r.get("estimate") and r.get("budget_ms") and r["estimate"]["ms"] > r["budget_ms"]
        fits, cls = _fits(r)
        verdict, vcls = verdicts.row_verdict(checks.get(r["id"], []))
        parts.append(
            f"<tr><td class='l'>{link}</td><td class='{'reg' if over else ''}'>{_ms(r)}</td><td>{_measured(r)}</td>"
            f"<td>{_budget(r)}</td>"
            f"<td>{_memory(r)}</td><td class='l {cls}'>{fits}</td><td class='l'>{e(_headline(r))}</td>"
            f"<td class='l'>{e(_frames(r))}</td><td class='l {vcls}'>{e(verdict)}</td></tr>"
        )
    return [*parts, "</tbody></table>"]


def overview_markdown(rows: list[PipelineRow]) -> list[str]:
    if not rows:
        return []
    lines = ["", "## Pipelines", ""]
    lines += ["| pipeline | est. ms | measured ms | budget ms | SRAM KiB | memory | end to end | frames |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['id']} | failed at {r['error']['step']}: {r['error']['message']} |||||||")
            continue
        lines.append(
            f"| {r['id']} | {_ms(r)} | {_measured(r)} | {_budget(r)} | {_memory(r)} | {_fits(r)[0]} | {_headline(r)} "
            f"| {_frames(r)} |"
        )
    return lines


def pages(rows: list[PipelineRow], checks: list[dict[str, Any]]) -> dict[str, str]:
    """Page name → HTML of each pipeline's page."""
    return {page_name(name): page(name, mine, checks) for name, mine in _by_pipeline(rows).items()}


def page(name: str, rows: list[PipelineRow], checks: list[dict[str, Any]]) -> str:
    up = "../"
    first = next((r for r in rows if r.get("stages")), rows[0])
    stages = [s["variant"].split("@")[0] for s in first.get("stages") or []]
    budget = f"{first['budget_ms']:.2f} ms a frame" if first.get("budget_ms") else "no frame budget"
    fps = f" ({first['fps_goal']:g} FPS)" if first.get("fps_goal") else ""
    parts = [
        report_html._head(f"pipeline {name}", up),
        f"<p><a href='{up}index.html'>← overview</a></p><h1>pipeline {e(name)}</h1>",
        f"<p>{len(stages)} stages, {e(budget)}{e(fps)}.</p>",
    ]
    mine = [c for c in checks if c["variant"] in {r["id"] for r in rows}]
    if mine:
        parts.append(verdicts.summary_html(mine, lambda vid: f"{report_html.slug(name)}.html"))
    for target in dict.fromkeys(r["target"] for r in rows):
        on = [r for r in rows if r["target"] == target]
        parts += [f"<h2>{e(target)}</h2>", timeline_svg(on), _memory_table(on)]
        parts += [_search_section(r) for r in on if r.get("search")]
    parts += _accuracy_table(rows)
    parts.append(report_html._foot(up))
    return "".join(parts)


def _segments(r: PipelineRow) -> list[tuple[str, list[tuple[str, float, str]]]]:
    """A pipeline variant's bars: (label, [(what, ms, colour)]) from Vela's estimates and from a board."""
    bars = []
    stages = r.get("stages") or []
    if r.get("estimate"):
        parts = []
        for k, s in enumerate(stages):
            cpu = f", {s['cpu_ops']} CPU operator(s) not in the estimate" if s["cpu_ops"] else ""
            parts.append((f"{s['variant']}: NPU (Vela's estimate){cpu}", s["npu_ms"] or 0.0, _colour(k)))
        bars.append((f"{r['quantization']} est.", parts))
    measured = r.get("measured")
    if measured:
        parts = [
            (f"{s['variant']}: inference on {measured['board']}", ms, _colour(k))
            for k, (s, ms) in enumerate(zip(stages, measured["stage_ms"], strict=False))
        ]
        parts.append(("preprocessing, decoding, crops, copies (CPU)", measured["cpu_ms"], CPU_COLOUR))
        bars.append((f"{r['quantization']} on {measured['board']}", parts))
    return bars


def _colour(k: int) -> str:
    return STAGE_COLOURS[k % len(STAGE_COLOURS)]


def timeline_svg(rows: list[PipelineRow]) -> str:
    """Each combination's stages end to end against the frame budget (a dashed line): Vela's estimates, and what a
    board measured (its CPU share too)."""
    bars = [bar for r in rows for bar in _segments(r)]
    if not bars:
        return "<p class='muted'>No timeline: no stage has a Vela estimate here and no board runs the pipeline.</p>"
    budget = max((r.get("budget_ms") or 0) for r in rows)
    span = max([budget, *(sum(ms for _, ms, _ in parts) for _, parts in bars)]) * 1.1
    w, left, bar, gap = 760, 170, 22, 12
    h = 30 + len(bars) * (bar + gap) + 20

    def x(ms: float) -> float:
        return left + ms / span * (w - left - 60)

    out = [
        f"<svg class='plot timeline' viewBox='0 0 {w} {h}' width='{w}' height='{h}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for i, (label, parts) in enumerate(bars):
        y, at = 20 + i * (bar + gap), 0.0
        out.append(f"<text x='{left - 8}' y='{y + 15}' text-anchor='end'>{e(label)}</text>")
        for what, ms, colour in parts:
            width = max(x(at + ms) - x(at), 1)
            out.append(
                f"<rect x='{x(at):.1f}' y='{y}' width='{width:.1f}' height='{bar}' fill='{colour}'>"
                f"<title>{e(what)}: {ms:.2f} ms</title></rect>"
            )
            if width > 40:
                out.append(
                    f"<text x='{x(at) + width / 2:.1f}' y='{y + 15}' text-anchor='middle' style='fill:#fff'>"
                    f"{ms:.2f}</text>"
                )
            at += ms
        out.append(f"<text x='{x(at) + 4:.1f}' y='{y + 15}'>{at:.2f} ms</text>")
    if budget:
        out.append(
            f"<line class='goal' x1='{x(budget):.1f}' y1='10' x2='{x(budget):.1f}' y2='{h - 18}'/>"
            f"<text x='{x(budget):.1f}' y='{h - 4}' text-anchor='middle'>budget {budget:.2f} ms</text>"
        )
    names = [s["variant"].split("/")[0] for s in next(r for r in rows if r.get("stages"))["stages"]]
    legend = " ".join(f"<span style='color:{_colour(k)}'>■</span> {e(n)}" for k, n in enumerate(names))
    legend += f" <span style='color:{CPU_COLOUR}'>■</span> the rest of a frame on the board's CPU"
    return "".join(out) + f"</svg><p class='muted'>{legend}. Hover a bar for what it is.</p>"


def _memory_table(rows: list[PipelineRow]) -> str:
    """SRAM and flash of each combination against the target's, as bars."""
    parts = [
        "<table class='memory'><tr><th class='l'>combination</th><th class='l'>SRAM (largest stage)</th>"
        "<th class='l'>flash (models summed)</th><th class='l'>CPU operators</th></tr>"
    ]
    for r in rows:
        m = r.get("memory") or {}
        cpu = sum(s["cpu_ops"] or 0 for s in r.get("stages") or [])
        names = sorted({op for s in r.get("stages") or [] for op in s["cpu_fallback"]})
        parts.append(
            f"<tr><td class='l'>{e(r['quantization'])}</td>"
            f"<td class='l'>{_bar(m.get('sram_kib'), m.get('target_sram_kib'))}</td>"
            f"<td class='l'>{_bar(m.get('flash_kib'), m.get('target_flash_kib'))}</td>"
            f"<td class='l'>{cpu}{' (' + e(', '.join(names)) + ')' if names else ''}</td></tr>"
        )
    parts.append("</table>")
    over = [r for r in rows if (r.get("memory") or {}).get("sram_kib", 0) and _over(r["memory"])]
    if over:
        parts.append(
            f"<p class='cpu'>{e(', '.join(r['quantization'] for r in over))}: Vela planned with more SRAM than "
            f"{e(over[0]['target'])} has. On a Dedicated_Sram target, give the target arena_cache_size (bytes) of "
            "what the part has, so Vela plans within it and its estimate counts the DRAM traffic that costs; on "
            "Shared_Sram or Sram_Only the arena itself must fit.</p>"
        )
    return "".join(parts)


def _over(m: dict[str, Any]) -> bool:
    return m.get("target_sram_kib") is not None and m["sram_kib"] > m["target_sram_kib"]


def _bar(used: float | None, have: float | None) -> str:
    if used is None:
        return "–"
    if not have:
        return f"{used:,.0f} KiB (the target declares none)"
    share = used / have
    colour = "#2d5fa8" if share <= 1 else "#b3261e"
    width = min(share, 1) * 160
    return (
        f"<svg width='170' height='12'><rect width='160' height='12' fill='#e8ecf1'/>"
        f"<rect width='{width:.1f}' height='12' fill='{colour}'/></svg> "
        f"<span class='{'reg' if share > 1 else ''}'>{used:,.0f} of {have:,.0f} KiB ({share:.0%})</span>"
    )


def _accuracy_table(rows: list[PipelineRow]) -> list[str]:
    """End-to-end metrics per scheme combination (the accuracy does not depend on the target: once each)."""
    seen: dict[str, PipelineRow] = {}
    for r in rows:
        if r.get("accuracy") and r["quantization"] not in seen:
            seen[r["quantization"]] = r
    if not seen:
        return ["<p class='muted'>No end-to-end accuracy.</p>"]
    names = [m for m in METRICS_SHOWN if any(m in (r["accuracy"].get("metrics") or {}) for r in seen.values())]
    parts = [
        "<h2>End to end</h2><p class='muted'>The quantized chain against the float chain on the same frames: the "
        "last stage runs on the crops the quantized stage before it cut; a landmark is compared in the float chain's "
        "crop, so the crop's own shift counts. <em>from crops</em>: the float last stage on the quantized chain's "
        "crops, the share of the error the crops alone cause. A frame the float chain finds nothing in is not "
        "scored; one only the float chain carries to the end is a miss.</p>",
        "<table class='pipeline-accuracy'><tr><th class='l'>combination</th><th class='l'>frames scored</th>"
        "<th>false alarms</th>",
    ]
    labelled = any(r["accuracy"].get("labels") for r in seen.values())
    parts += [f"<th>{e(LABELS.get(n, n))}</th>" for n in names] + ["<th>from crops</th><th>crop shift px</th>"]
    parts.append("<th>keypoint AP vs labels, float → quantized</th></tr>" if labelled else "</tr>")
    for combo, r in seen.items():
        acc = r["accuracy"]
        metrics = acc.get("metrics") or {}
        cells = "".join(f"<td>{e(metric_text(n, metrics.get(n)))}</td>" for n in names)
        crops = (acc.get("from_crops") or {}).get(names[0]) if names else None
        shift = acc.get("region_shift_px") or {}
        parts.append(
            f"<tr><td class='l'>{e(combo)}</td><td class='l'>{e(_frames(r))}</td><td>{acc['false_alarms']}</td>"
            f"{cells}<td>{e(metric_text(names[0], crops)) if names else '–'}</td>"
            f"<td>{shift.get('centre_mean', '–')}</td>"
            + (f"<td>{e(_labelled(acc))}</td></tr>" if labelled else "</tr>")
        )
    return [*parts, "</table>"]


def _labelled(acc: dict[str, Any]) -> str:
    """Both chains' keypoint AP against the frames' labels, and the drop."""
    found = acc.get("labels")
    if not found:
        return "–"
    ap = found["oks_ap"]
    return (
        f"{ap['float']:.3f} → {ap['quantized']:.3f} ({ap['drop']:+.1f} points; "
        f"{found['labelled_frames']} labelled frames)"
    )


def _search_section(r: PipelineRow) -> str:
    """The search's combined front: every combination's ms, the measured ones' end-to-end metric, the choice."""
    found = r["search"]
    cls = "pass" if found["met"] else "reg"
    parts = [
        f"<h3>The stages' schemes chosen together</h3><p class='{cls}'>{e(found['why'])}.</p>",
        combined_front_svg(found, r.get("budget_ms")),
        "<table class='search'><tr><th class='l'>combination</th><th>est. ms</th>"
        f"<th>{e(found['goal']['metric'])} end to end</th><th class='l'>each stage alone</th></tr>",
    ]
    alone = {p["variant"]: p["alone"] for front in found["fronts"] for p in front}
    for i, c in enumerate(found["combinations"]):
        if not c["measured"]:
            continue
        mark = " ✓ chosen" if i == found["chosen"] else ""
        each = ", ".join(metric_text(found["goal"]["metric"], alone.get(v)) for v in c["variants"])
        parts.append(
            f"<tr><td class='l'>{e(' + '.join(c['schemes']))}{mark}</td><td>{c['ms']:.2f}</td>"
            f"<td>{e(metric_text(found['goal']['metric'], c.get('value')))}</td><td class='l'>{e(each)}</td></tr>"
        )
    unmeasured = sum(1 for c in found["combinations"] if not c["measured"])
    parts.append(
        f"</table><p class='muted'>{unmeasured} more combinations not measured (dearer than the choice, or "
        "over the budget). <em>Each stage alone</em>: the stage's own evaluation on its validation set; "
        "<em>SCHEME:NAME</em>, a model an automatic scheme's search measured on its way.</p>"
    )
    for stage in r.get("stages") or []:
        if stage.get("declare"):
            parts.append(
                f"<p>{e(stage['variant'])} is a candidate of its automatic scheme, not a variant of this build: to "
                f"build and ship it, add this under <code>quantization:</code> and to the stage's builds:</p>"
                f"<pre style='white-space:pre-wrap;word-break:break-all'>{e(stage['declare'])}</pre>"
            )
    return "".join(parts)


def combined_front_svg(found: dict[str, Any], budget: float | None) -> str:
    """Every combination at its ms (grey ticks), the measured ones at their end-to-end metric, the goal and the budget
    drawn, the choice ringed."""
    combos = found["combinations"]
    measured = [c for c in combos if c["measured"] and c.get("value") is not None]
    goal = found["goal"]
    bound = goal.get("min", goal.get("max"))
    if not measured:
        return ""
    xs = [c["ms"] for c in combos] + ([budget] if budget else [])
    ys = [c["value"] for c in measured] + [bound]
    span = (max(ys) - min(ys)) or 1.0
    px, py, out = report_html._plot(
        760,
        320,
        (0.0, max(xs) * 1.05),
        (min(ys) - span * 0.1, max(ys) + span * 0.1),
        "the stages' Vela estimates added up (ms)",
        f"{goal['metric']} end to end",
    )
    x0, x1 = px(0.0), px(max(xs) * 1.05)
    out.append(
        f"<line class='goal' x1='{x0:.0f}' y1='{py(bound):.1f}' x2='{x1:.0f}' y2='{py(bound):.1f}'/>"
        f"<text x='{x1 - 4:.0f}' y='{py(bound) - 5:.1f}' text-anchor='end'>goal {bound:g}</text>"
    )
    if budget:
        out.append(
            f"<line class='goal' x1='{px(budget):.1f}' y1='25' x2='{px(budget):.1f}' y2='270'/>"
            f"<text x='{px(budget) - 4:.1f}' y='36' text-anchor='end'>budget {budget:.2f} ms</text>"
        )
    for c in combos:
        out.append(
            f"<line x1='{px(c['ms']):.1f}' y1='262' x2='{px(c['ms']):.1f}' y2='270' style='stroke:#7a7a7a'>"
            f"<title>{e(' + '.join(c['schemes']))}: {c['ms']:.2f} ms</title></line>"
        )
    for i, c in enumerate(combos):
        if not c["measured"] or c.get("value") is None:
            continue
        x, y = px(c["ms"]), py(c["value"])
        out.append(
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='5'><title>{e(' + '.join(c['schemes']))}: {c['ms']:.2f} ms, "
            f"{e(goal['metric'])} {c['value']:.4g}</title></circle>"
        )
        if i == found["chosen"]:
            out.append(f"<circle class='chosen' cx='{x:.1f}' cy='{y:.1f}' r='11'/>")
            out.append(f"<text x='{x + 14:.1f}' y='{y + 4:.1f}'>{e(' + '.join(c['schemes']))}</text>")
    out.append("</svg>")
    return "".join(out)
