"""report: results.json → build/report/index.html (one self-contained file) and report.md.

One row per variant (size, NPU/CPU ops, estimated latency and FPS, memory,
MACs, accuracy, measured latency when boards provide it), plots, per-layer
comparisons of variants that share a layer structure, findings, and the
regressions against a baseline results.json.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.options import input_file, output_file
from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.plan import Planning
    from tasks.step import Step


@dataclass(frozen=True)
class Options:
    results: Path = input_file()
    out_dir: Path  # plots go here too
    index: Path = output_file()
    markdown: Path = output_file()
    baseline: Path | None = input_file(None)  # a results.json of an earlier build, to mark regressions


def plan_report(planning: Planning) -> list[Step]:
    folder = planning.paths.build / "report"
    baseline = planning.baseline
    options = Options(planning.paths.results, folder, folder / "index.html", folder / "report.md", baseline)
    doc = "write build/report/index.html and report.md: table, plots, findings, regressions"
    return [planning.new("report", "", doc + (f" (baseline {baseline.name})" if baseline else ""), options)]


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2430;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e4e8ee;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.86rem}
th,td{border:1px solid #d5dbe3;padding:.28rem .55rem;text-align:right;white-space:nowrap}
th{background:#eef2f7}td.l,th.l{text-align:left}
tr.bad td{background:#fdecec}td.reg{color:#b3261e;font-weight:600}td.imp{color:#1e7b34}
img{max-width:100%;border:1px solid #e4e8ee;margin:.5rem 0}
.kind{font-weight:600}.muted{color:#66707d}.cpu{color:#b3261e;font-weight:600}
"""
REGRESSION = {"est_ms": 0.01, "size": 0.01, "snr_db": 0.5, "npu_ratio": 0.001}  # relative, dB, absolute


def _min_snr(v: dict[str, Any]) -> float | None:
    acc = v.get("accuracy") or {}
    outputs = acc.get("outputs") or {}
    return min(o["snr_db"] for o in outputs.values()) if outputs else None


def _npu_ratio(v: dict[str, Any]) -> float | None:
    ops = v.get("ops")
    return ops["npu"] / (ops["npu"] + ops["cpu"]) if ops and ops["npu"] + ops["cpu"] else None


def _unit(v: dict[str, Any]) -> str:
    return f"{v['model']}.{v['prune']}" if v.get("prune") else v["model"]


def rows(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant that built (a failed one has no numbers: the compatibility view shows it)."""
    out = []
    for v in variants:
        if v.get("error"):
            continue
        est = v.get("estimate") or {}
        bench = v.get("benchmark") or {}
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
                "top1": (v.get("accuracy") or {}).get("top1_agreement"),
                "measured_ms": (bench.get("latency_ms") or {}).get("avg"),
                "first_ms": bench.get("first_ms"),  # includes the delegate's graph compilation
                "runtime_cpu": bool(bench.get("cpu_fallback_at_runtime")),
                "npu_ratio": _npu_ratio(v),
            }
        )
    return out


def regressions(current: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
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
        if mark:
            marks[r["id"]] = mark
    return marks


def layer_groups(variants: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Compiled variants with the same quantization, target and layer structure (op sequence)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for v in variants:
        if not v.get("layers"):
            continue
        shape = tuple(layer["op"] for layer in v["layers"])
        groups.setdefault((v["quantization"], v["target"], shape), []).append(v)
    return [g for g in groups.values() if len(g) > 1 and len({_unit(v) for v in g}) > 1]


def compatibility(variants: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], list[str]]]:
    """Models × targets: per cell, the schemes with their NPU share and estimated ms, or the failure.

    Schemes that failed the same way share one line: ``int8, a16w8: failed at import:m: …``.
    """
    units = list(dict.fromkeys(_unit(v) for v in variants))
    targets = list(dict.fromkeys(v["target"] for v in variants))
    grouped: dict[tuple[str, str], dict[str, list[str]]] = {}
    for v in variants:
        if v.get("error"):
            text = f"failed at {v['error']['step']}: {v['error']['message']}"
        else:
            ratio, est = _npu_ratio(v), (v.get("estimate") or {}).get("inference_ms")
            facts = [f"{ratio:.0%} NPU" if ratio is not None else "", f"{est:.2f} ms est." if est is not None else ""]
            text = ", ".join(f for f in facts if f) or "built"
        grouped.setdefault((_unit(v), v["target"]), {}).setdefault(text, []).append(v["quantization"])
    cells = {
        cell: [f"{', '.join(schemes)}: {text}" for text, schemes in texts.items()] for cell, texts in grouped.items()
    }
    return units, targets, cells


# --- plots -----------------------------------------------------------------------------------------


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def plots(variants: list[dict[str, Any]], table: list[dict[str, Any]]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    compiled = [r for r in table if r["est_ms"] is not None]
    if compiled:
        units = list(dict.fromkeys(f"{r['model']}{'.' + r['prune'] if r['prune'] else ''}" for r in compiled))
        fig, axes = plt.subplots(len(units), 1, figsize=(9, 1.2 + 0.32 * len(compiled)), squeeze=False)
        for ax, unit in zip(axes[:, 0], units, strict=True):
            mine = [r for r in compiled if f"{r['model']}{'.' + r['prune'] if r['prune'] else ''}" == unit]
            ax.barh([f"{r['quantization']}@{r['target']}" for r in mine], [r["est_ms"] for r in mine], color="#3b6fb6")
            for i, r in enumerate(mine):
                ax.text(r["est_ms"], i, f" {r['est_ms']:.2f}", va="center", fontsize=8)
            ax.set_title(unit, fontsize=9, loc="left")
            ax.invert_yaxis()
            ax.tick_params(labelsize=8)
        axes[-1, 0].set_xlabel("estimated inference time (ms, Vela)")
        fig.tight_layout()
        out["latency.png"] = _png(fig)
        plt.close(fig)

    both = [r for r in compiled if r["snr_db"] is not None]
    if both:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in both:
            ax.scatter(r["est_ms"], r["snr_db"], s=24)
            ax.annotate(r["id"], (r["est_ms"], r["snr_db"]), fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.set_xlabel("estimated inference time (ms)")
        ax.set_ylabel("SNR of the worst output vs float (dB)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out["latency_vs_accuracy.png"] = _png(fig)
        plt.close(fig)

    layered = [v for v in variants if v.get("layers")]
    if layered:
        fig, ax = plt.subplots(figsize=(9, 1 + 0.3 * len(layered)))
        cmap = plt.get_cmap("tab20")
        for i, v in enumerate(layered):
            left = 0.0
            npu = sorted((layer for layer in v["layers"] if layer["target"] == "NPU"), key=lambda x: -x["cycles"])
            for k, layer in enumerate(npu):
                share = layer["cycles_pct"]
                ax.barh(
                    i, share, left=left, color=cmap(k % 20) if k < 12 else "#c9d0d9", edgecolor="white", linewidth=0.3
                )
                left += share
            cpu = len(v["cpu_fallback"] or [])
            if cpu:
                ax.text(101, i, f"{cpu} CPU op{'s' if cpu > 1 else ''}", va="center", fontsize=7, color="#b3261e")
        ax.set_yticks(range(len(layered)), [v["id"] for v in layered], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 118)
        ax.set_xlabel("share of cycles per layer (%), largest first; red: ops left on the CPU")
        fig.tight_layout()
        out["layers.png"] = _png(fig)
        plt.close(fig)
    return out


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
    ("top1", "top-1 agreement"),
]


def _fmt(key: str, value: Any) -> str:
    if value is None or value == "":
        return "–"
    if key in ("est_ms", "measured_ms", "first_ms"):
        return f"{value:.2f}"
    if key in ("snr_db", "sram_kib", "dram_kib", "fps"):
        return f"{value:.1f}"
    if key == "top1":
        return f"{value:.0%}"
    if key in ("size", "macs"):
        return f"{value:,}"
    return str(value)


def _compatibility_html(variants: list[dict[str, Any]]) -> list[str]:
    e = html.escape
    units, targets, cells = compatibility(variants)
    parts = ["<h2>Compatibility</h2><table id='compatibility'><tr><th class='l'>model</th>"]
    parts += [f"<th class='l'>{e(t)}</th>" for t in targets] + ["</tr>"]
    for unit in units:
        parts.append(f"<tr><td class='l'>{e(unit)}</td>")
        for t in targets:
            lines = cells.get((unit, t), [])
            cls = "l cpu" if any(": failed at " in line for line in lines) else "l"
            parts.append(f"<td class='{cls}'>{'<br>'.join(e(x) for x in lines) or '–'}</td>")
        parts.append("</tr>")
    return [*parts, "</table>"]


def conversions(variants: list[dict[str, Any]]) -> list[tuple[str, list[list[str]]]]:
    """Per ONNX model (once): one row per input and output, ONNX name and shape → TFLite name and shape, axes."""
    seen: dict[str, list[list[str]]] = {}
    for v in variants:
        c = v.get("conversion")
        if not c or v["model"] in seen:
            continue
        seen[v["model"]] = [
            [side[:-1], t["onnx"], str(t["onnx_shape"]), t["tflite"], str(t["tflite_shape"]),
             "same" if t["axes"] == sorted(t["axes"]) else f"transposed {t['axes']}"]
            for side in ("inputs", "outputs") for t in c[side]
        ]  # fmt: skip
    return list(seen.items())


CONVERSION_COLUMNS = ("", "ONNX name", "ONNX shape", "TFLite name", "TFLite shape", "layout")
CONVERSION_NOTE = ("Converted with onnx2tf and checked against onnxruntime; calibration .npy samples may be given in "
                   "either layout")  # fmt: skip


def _conversions_html(variants: list[dict[str, Any]]) -> list[str]:
    e = html.escape
    found = conversions(variants)
    if not found:
        return []
    parts = [f"<h2>Converted from ONNX</h2><p class='muted'>{e(CONVERSION_NOTE)}.</p>"]
    for model, table in found:
        parts.append(f"<h3>{e(model)}</h3><table class='conversion'><tr>")
        parts += [f"<th class='l'>{e(c)}</th>" for c in CONVERSION_COLUMNS] + ["</tr>"]
        parts += ["<tr>" + "".join(f"<td class='l'>{e(x)}</td>" for x in row) + "</tr>" for row in table]
        parts.append("</table>")
    return parts


def _conversions_markdown(variants: list[dict[str, Any]]) -> list[str]:
    found = conversions(variants)
    lines = ["", "## Converted from ONNX", "", CONVERSION_NOTE + "."] if found else []
    for model, table in found:
        lines += ["", f"### {model}", "", "| " + " | ".join(CONVERSION_COLUMNS) + " |", "|---" * 6 + "|"]
        lines += ["| " + " | ".join(f"`{x}`" if i in (1, 3) else x for i, x in enumerate(row)) + " |" for row in table]
    return lines


def _counted(variants: list[dict[str, Any]]) -> str:
    failed = sum(1 for v in variants if v.get("error"))
    return f"{len(variants)} variants" + (f", {failed} failed (see Compatibility)" if failed else "")


def render_html(project: str, variants, table, images, marks, groups, baseline: str | None) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(project)}: NPUForge report</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(project)}</h1>",
             f"<p class='muted'>{_counted(variants)}. Estimates are Vela's; accuracy is against the float model on the "
             "validation set (a Vela artifact has the accuracy of the quantized model it was compiled from).</p>",
             "<h2>Variants</h2><table id='variants'><tr>"]  # fmt: skip
    parts += [f"<th class='{'l' if key == 'id' else ''}'>{e(title)}</th>" for key, title in COLUMNS]
    parts.append("</tr>")
    for r in table:
        mark = marks.get(r["id"], {})
        parts.append("<tr class='bad'>" if "regression" in mark.values() else "<tr>")
        for key, _ in COLUMNS:
            cls = "l" if key == "id" else {"regression": "reg", "improvement": "imp"}.get(mark.get(key, ""), "")
            arrow = {"regression": " ▲" if key in ("est_ms", "size") else " ▼", "improvement": " ✓"}.get(
                mark.get(key, ""), ""
            )
            if key == "measured_ms" and r["runtime_cpu"]:
                cls, arrow = "reg", " ⚠ partly on the CPU"
            parts.append(f"<td class='{cls}'>{e(_fmt(key, r[key]))}{arrow}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    parts += _compatibility_html(variants)
    parts += _conversions_html(variants)
    if baseline is not None:
        regressed = [vid for vid, m in marks.items() if "regression" in m.values()]
        parts.append(f"<p>Compared with <code>{e(baseline)}</code>: "
                     + (f"<span class='cpu'>{len(regressed)} variant(s) regressed</span> (▲ slower or larger, ▼ less accurate or fewer NPU ops)."
                        if regressed else "no regression.") + "</p>")  # fmt: skip
    titles = {"latency.png": "Estimated latency per variant", "latency_vs_accuracy.png": "Latency against accuracy",
              "layers.png": "Cycles per layer"}  # fmt: skip
    if images:
        parts.append("<h2>Plots</h2>")
        for name, data in images.items():
            parts.append(f"<h3>{e(titles[name])}</h3><img alt='{e(titles[name])}' src='data:image/png;base64,"
                         f"{base64.b64encode(data).decode()}'>")  # fmt: skip
    for group in groups:
        parts.append(
            f"<h2>Layer by layer: {' vs '.join(e(v['id']) for v in group)}</h2><table class='layers'><tr><th>#</th><th class='l'>op</th>"
        )
        parts += [
            f"<th>{e(_unit(v))} channels</th><th>{e(_unit(v))} cycles</th><th>{e(_unit(v))} MAC util %</th>"
            for v in group
        ]
        parts.append("</tr>")
        for i, layer in enumerate(group[0]["layers"]):
            if all(v["layers"][i]["cycles"] == 0 for v in group):
                continue
            parts.append(f"<tr><td>{i}</td><td class='l'>{e(layer['op'])}</td>")
            for v in group:
                x = v["layers"][i]
                util = "–" if x["mac_util_pct"] is None else f"{x['mac_util_pct']:.1f}"
                parts.append(f"<td>{x['out_channels'] or '–'}</td><td>{x['cycles']:,}</td><td>{util}</td>")
            parts.append("</tr>")
        parts.append("</table>")
    parts.append("<h2>Findings</h2>")
    for v in variants:
        found = v.get("findings")
        if not found:
            continue
        parts.append(f"<h3>{e(v['id'])}</h3><table class='findings'><tr><th class='l'>kind</th><th>cycles %</th>"
                     "<th class='l'>layer</th><th class='l'>detail</th><th class='l'>action</th></tr>")  # fmt: skip
        for f in found:
            pct = "–" if f["cycles_pct"] is None else f"{f['cycles_pct']:.1f}"
            kind_cls = "kind cpu" if f["kind"] == "cpu_fallback" else "kind"
            parts.append(f"<tr><td class='l {kind_cls}'>{e(f['kind'].replace('_', ' '))}</td><td>{pct}</td>"
                         f"<td class='l'>{e(f['layer'])}</td><td class='l'>{e(f['detail'])}</td><td class='l'>{e(f['action'])}</td></tr>")  # fmt: skip
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def render_markdown(project: str, variants, table, images, marks, groups) -> str:
    lines = [f"# {project}", "", "| " + " | ".join(t for _, t in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in table:
        mark = marks.get(r["id"], {})
        cells = [_fmt(k, r[k]) + (" **▲**" if mark.get(k) == "regression" else "") for k, _ in COLUMNS]
        if r["runtime_cpu"]:
            cells[[k for k, _ in COLUMNS].index("measured_ms")] += " ⚠ partly on the CPU"
        lines.append("| " + " | ".join(cells) + " |")
    units, targets, compat = compatibility(variants)
    lines += ["", "## Compatibility", "", "| model | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for unit in units:
        lines.append(f"| {unit} | " + " | ".join("<br>".join(compat.get((unit, t), [])) or "–" for t in targets) + " |")
    lines += _conversions_markdown(variants)
    lines.append("")
    lines += [f"![{name}]({name})" for name in images]
    for group in groups:
        lines += ["", f"## Layer by layer: {' vs '.join(v['id'] for v in group)}", "",
                  "| # | op | " + " | ".join(f"{_unit(v)} channels | {_unit(v)} cycles" for v in group) + " |",
                  "|---|---|" + "---|---|" * len(group)]  # fmt: skip
        for i, layer in enumerate(group[0]["layers"]):
            if all(v["layers"][i]["cycles"] == 0 for v in group):
                continue
            cells = " | ".join(f"{v['layers'][i]['out_channels'] or '–'} | {v['layers'][i]['cycles']:,}" for v in group)
            lines.append(f"| {i} | {layer['op']} | {cells} |")
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
    baseline = o.baseline
    data = json.loads(o.results.read_text())
    variants = data["variants"]
    table = rows(variants)
    marks: dict[str, dict[str, str]] = {}
    if baseline:
        base = json.loads(baseline.read_text())
        marks = regressions(table, rows(base["variants"]))
    failed = sum(1 for v in variants if v.get("error"))
    progress(f"plotting {len(variants) - failed} variants" + (f"; {failed} failed" if failed else ""))
    images = plots(variants, table)
    groups = layer_groups(variants)
    folder = o.out_dir
    for name, content in images.items():
        atomic.write_bytes(folder / name, content)
    atomic.write_text(o.markdown, render_markdown(data["project"], variants, table, images, marks, groups))
    atomic.write_text(
        o.index,
        render_html(data["project"], variants, table, images, marks, groups, str(baseline) if baseline else None),
    )
    regressed = sum("regression" in m.values() for m in marks.values())
    progress(f"wrote {o.index}" + (f"; {regressed} variant(s) regressed against the baseline" if baseline else ""))
