"""The gates' verdicts where people look: the overview's first lines, each row and cell, report.md.

Pure: the checks of tasks/config/quality_gates.check in, text and HTML out.
A check is one (rule, variant) pair; a row passes when every check of its
variant does, and a cell is marked when a failing check reads its number.
"""

from __future__ import annotations

import html
from typing import Any

from tasks.config.quality_gates import METRICS, metric_label
from tasks.model.metrics import LABEL_METRICS, LABELS, metric_text

e = html.escape

# the overview column that shows the number a gate metric reads (a task metric: the "task" column)
COLUMN_OF = {
    "snr_db": "snr_db",
    "cosine": "snr_db",
    "est_inference_ms": "est_ms",
    "latency_ms": "measured_ms",
    "size_bytes": "size",
    "npu_op_ratio": "ops",
}


def by_variant(checks: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for c in checks:
        if c["variant"]:
            found.setdefault(c["variant"], []).append(c)
    return found


def column(metric: str) -> str | None:
    """The overview column showing ``metric``'s number: None when the overview has none (it is on the page)."""
    if metric in COLUMN_OF:
        return COLUMN_OF[metric]
    return None if metric in METRICS else "task"  # the gates' own metrics; any other is a task's


def value_text(c: dict[str, Any]) -> str:
    if c["value"] is None:
        return "–"
    return metric_text(c["metric"], c["value"]) if column(c["metric"]) == "task" else f"{c['value']:.4g}"


def where(c: dict[str, Any]) -> str:
    return c.get("source") or f"gates[{c['gate']}]"


def failing_line(c: dict[str, Any]) -> str:
    """``variant metric value, needs bound (gates[i])``: one failing check as a person reads it."""
    metric = metric_label(c)
    return f"{c['variant'] or '(no variant matched)'}: {metric} {value_text(c)}, needs {c['bound']} ({where(c)})"


def counted(checks: list[dict[str, Any]]) -> str:
    """``Gates: 5 checks pass, 3 fail`` (or that the project has none)."""
    if not checks:
        return "Gates: none (project.yaml has no gates: to check)"
    failed = sum(1 for c in checks if not c["passed"])
    return f"Gates: {len(checks) - failed} check(s) pass, {failed} fail"


def summary_html(checks: list[dict[str, Any]], page_name) -> str:
    """The overview's first section: the count, and every failing check with its variant, value and bound."""
    failed = [c for c in checks if not c["passed"]]
    cls = "verdict fail" if failed else "verdict pass" if checks else "verdict none"
    parts = [f"<div class='{cls}' id='gates'><strong>{e(counted(checks))}</strong>"]
    if failed:
        parts.append(
            "<table><tr><th class='l'>variant</th><th class='l'>metric</th><th>value</th><th class='l'>bound</th>"
            "<th class='l'>gate</th></tr>"
        )
        for c in failed:
            variant = c["variant"]
            link = f"<a href='{page_name(variant)}'>{e(variant)}</a>" if variant else "(no variant matched)"
            metric = metric_label(c)
            parts.append(
                f"<tr><td class='l'>{link}</td><td class='l'>{e(metric)}</td><td class='reg'>{e(value_text(c))}"
                f"</td><td class='l'>{e(c['bound'])}</td><td class='l'>{e(where(c))}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts) + "</div>"


def summary_markdown(checks: list[dict[str, Any]]) -> list[str]:
    lines = [f"**{counted(checks)}**"]
    failed = [c for c in checks if not c["passed"]]
    if failed:
        lines += ["", "| variant | metric | value | bound | gate |", "|---|---|---|---|---|"]
        for c in failed:
            metric = metric_label(c)
            lines.append(
                f"| {c['variant'] or '(no variant matched)'} | {metric} | {value_text(c)} | {c['bound']} | {where(c)} |"
            )
    return lines


def row_verdict(checks: list[dict[str, Any]]) -> tuple[str, str]:
    """(text, CSS class) of a variant's gates cell: ``✓ 3`` when all pass, ``✗ 1 of 3`` when one fails."""
    if not checks:
        return "–", ""
    failed = sum(1 for c in checks if not c["passed"])
    return (f"✗ {failed} of {len(checks)}", "reg") if failed else (f"✓ {len(checks)}", "imp")


def failed_cells(checks: list[dict[str, Any]]) -> dict[str, str]:
    """Overview column → why its number fails (``needs >= 20 (gates[0])``), for the failing checks."""
    cells: dict[str, str] = {}
    for c in checks:
        if not c["passed"]:
            key = column(c["metric"]) or "gates"
            cells[key] = "; ".join(filter(None, (cells.get(key), f"{c['metric']} needs {c['bound']} ({where(c)})")))
    return cells


def task_shown(metrics: dict[str, Any], checks: list[dict[str, Any]], headline: tuple[str, float] | None):
    """The task metric a row shows: the one a gate checks (a failing one first), else the task's worst share
    among those that go with its headline (a detector's precision beside its recall), else the headline."""
    gated = sorted(
        (c for c in checks if column(c["metric"]) == "task" and c["value"] is not None), key=lambda c: c["passed"]
    )
    if gated:
        return gated[0]["metric"], gated[0]["value"]
    if headline is None:
        return None
    pair = _pair(metrics, headline[0])
    return min(pair, key=lambda p: p[1]) if pair else headline


def task_beside(metrics: dict[str, Any], shown: tuple[str, float] | None):
    """What goes with the shown number: a label metric's drop against the float model (or, when the drop is shown,
    the value it is the drop of); the share that goes with a recall or precision when it is worse (a detector's
    precision beside a gated recall)."""
    if shown is None:
        return None
    partner = _label_partner(shown[0])
    if partner is not None:
        return (partner, metrics[partner]) if metrics.get(partner) is not None else None
    worse = [p for p in _pair(metrics, shown[0]) if p[0] != shown[0] and p[1] < shown[1]]
    return worse[0] if worse else None


def _label_partner(name: str) -> str | None:
    """A label metric's drop (``top1_accuracy`` → ``top1_accuracy_drop``), a drop's metric, else None."""
    if name in LABEL_METRICS:
        return f"{name}_drop"
    stem = name.removesuffix("_drop")
    return stem if stem != name and stem in LABEL_METRICS else None


def label_shown(shown: tuple[str, float] | None, beside: tuple[str, float] | None) -> tuple[str, float] | None:
    """The label metric (name, quantized value) of a row's task cell, whichever of the two shows it."""
    return next((p for p in (shown, beside) if p is not None and p[0] in LABEL_METRICS), None)


def task_text(shown: tuple[str, float] | None, beside: tuple[str, float] | None = None) -> str:
    """A row's task cell: ``top-1 acc. 97.8% (−0.3 pts)`` (a label metric and its change against the float model,
    in points), ``recall 100.0% · precision 45.5%`` (a gated share and the worse one beside it), or the one metric."""
    if shown is None:
        return "–"
    if beside is not None and _label_partner(shown[0]) == beside[0]:
        value, drop = (shown, beside[1]) if shown[0] in LABEL_METRICS else (beside, shown[1])
        return f"{_named(value)} ({points(-drop, 1)} pts)"
    return _named(shown) + (f" · {_named(beside)}" if beside else "")


def _named(pair: tuple[str, float]) -> str:
    name, value = pair
    stem = name.removesuffix("_drop")
    label = LABELS.get(name) or (f"{LABELS[stem]} drop" if stem != name and stem in LABELS else name)
    return f"{label} {metric_text(name, value)}"


def points(value: float, decimals: int = 2) -> str:
    """A change in points with its sign, a true minus for a loss: ``+0.32``, ``−0.3`` (no ``−0.0``)."""
    shown = round(value, decimals) + 0.0  # -0.0 + 0.0 is 0.0
    return f"{shown:+.{decimals}f}".replace("-", "−")


def _pair(metrics: dict[str, Any], name: str) -> list[tuple[str, float]]:
    """A recall and its precision (or the other way round), where the task gives both."""
    if not name.endswith(("_recall", "_precision")):
        return []
    stem = name.rsplit("_", 1)[0]
    return [(m, metrics[m]) for m in (f"{stem}_recall", f"{stem}_precision") if metrics.get(m) is not None]
