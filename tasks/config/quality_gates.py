"""Quality gates: rules over results.json that can fail the build.

Pure: a list of rule dicts and the results → a list of checks.  Kept apart
from doit so the same checks can run on any results.json.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from tasks.model.metrics import BUILTIN_METRICS

# the metrics a gate takes besides those of the models' tasks (tasks/model/metrics: top1_agreement, landmark_px_mean, …)
METRICS = (
    "snr_db",
    "cosine",
    "board_agreement",
    "npu_op_ratio",
    "est_inference_ms",
    "sram_kib",
    "size_bytes",
    "latency_ms",
    "delegated_ratio",
)
# a pipeline's own (a rule with pipelines: GLOB), besides its last stage's task metrics end to end
PIPELINE_METRICS = ("pipeline_ms", "pipeline_fps", "pipeline_miss_rate", "sram_kib", "flash_kib", "memory_fit")
KNOWN = tuple(dict.fromkeys(METRICS + PIPELINE_METRICS + BUILTIN_METRICS))  # and whatever a custom task metric returns


def pipeline_value(row: dict[str, Any], metric: str) -> tuple[float | None, str]:
    """A pipeline variant's value of ``metric`` and a note (why there is none)."""
    estimate, measured, memory = row.get("estimate"), row.get("measured"), row.get("memory") or {}
    if metric in ("pipeline_ms", "pipeline_fps"):
        if measured:  # a board's measurement, when there is one, over the sum of estimates
            found = measured["frame_ms"]["avg"] if metric == "pipeline_ms" else measured["fps"]
            return found, f"measured on {measured['board']}"
        if not estimate:
            return None, "no stage latency to add up (a stage has no Vela estimate) and no board measures it"
        return (estimate["ms"], "estimate") if metric == "pipeline_ms" else (estimate["fps"], "estimate")
    if metric in ("sram_kib", "flash_kib"):
        if memory.get(metric) is None:
            return None, "no Vela estimate of a stage's SRAM"
        return memory[metric], ""
    if metric == "memory_fit":
        if memory.get("fits") is None:
            return None, "the target declares no memory (targets.NAME.memory: {sram_kib, flash_kib})"
        return float(memory["fits"]), ""
    acc = row.get("accuracy") or {}
    if not acc:
        return None, "no end-to-end accuracy (the first stage's model has no validation dataset)"
    return task_metric(acc, metric)


def value(variant: dict[str, Any], metric: str, output: str | None = None) -> tuple[float | None, str]:
    """The variant's value of ``metric`` and a note (which output, or why there is none)."""
    if "pipeline" in variant:
        return pipeline_value(variant, metric)
    acc = variant.get("accuracy") or {}
    if metric in ("snr_db", "cosine"):
        outputs = acc.get("outputs") or {}
        if not outputs:
            return None, "no accuracy (the model has no validation dataset)"
        if output is not None:
            if output not in outputs:
                return None, f"no output '{output}' (outputs: {', '.join(outputs)})"
            return outputs[output][metric], output
        name = min(outputs, key=lambda n: outputs[n][metric])  # the worst output decides
        return outputs[name][metric], name
    if metric == "board_agreement":
        agreement = variant.get("board_agreement")
        if not agreement:
            return None, "not run on a board (give the board agreement: {samples: N})"
        return agreement["agreement"], agreement["board"]
    if metric in ("npu_op_ratio", "est_inference_ms", "sram_kib"):
        if metric == "npu_op_ratio":
            ops = variant.get("ops")
            if not ops:
                return None, "not compiled for an NPU"
            total = ops["npu"] + ops["cpu"]
            return (ops["npu"] / total if total else 0.0), ""
        estimate = variant.get("estimate")
        if not estimate:
            return None, "no Vela estimate (compiler: none)"
        return estimate["inference_ms" if metric == "est_inference_ms" else "sram_kib"], ""
    if metric == "size_bytes":
        return variant["size_bytes"], ""
    if metric == "latency_ms":
        bench = variant.get("benchmark") or {}
        if bench.get("latency_ms") is None:
            return None, "not benchmarked on a board"
        return bench["latency_ms"]["avg"], bench["board"]
    if metric == "delegated_ratio":
        delegated = (variant.get("benchmark") or {}).get("delegated")
        if not delegated or not delegated.get("total"):
            return None, "no delegate lines in the benchmark (no delegate, or not benchmarked)"
        return delegated["nodes"] / delegated["total"], variant["benchmark"]["board"]
    return task_metric(acc, metric)


def task_metric(acc: dict[str, Any], metric: str) -> tuple[float | None, str]:
    """A metric of the model's tasks (tasks/model/metrics), by name."""
    if not acc:
        return None, "no accuracy (the model has no validation dataset)"
    found = acc.get("metrics") or {}
    if metric not in found:
        given = ", ".join(found) or "none: give the model a task"
        return None, f"its tasks give no {metric} (they give {given})"
    if found[metric] is None:
        return None, f"{metric} is undefined on these samples (e.g. recall when the float model detected nothing)"
    return found[metric], "in-sample" if acc.get("in_sample") else ""


def selects(rule: dict[str, Any], variant: dict[str, Any]) -> bool:
    """Whether the rule checks this row: a pipeline rule (pipelines: GLOB) checks pipeline rows, any other variants."""
    if ("pipeline" in variant) != ("pipelines" in rule):
        return False
    if "pipeline" in variant:
        return (
            fnmatchcase(variant["pipeline"], rule["pipelines"])
            and fnmatchcase(variant["quantization"], rule.get("quantization", "*"))
            and fnmatchcase(variant["target"], rule.get("targets", "*"))
        )
    unit = f"{variant['model']}.{variant['prune']}" if variant.get("prune") else variant["model"]
    return (
        fnmatchcase(unit, rule.get("models", "*"))
        and fnmatchcase(variant["quantization"], rule.get("quantization", "*"))
        and fnmatchcase(variant["target"], rule.get("targets", "*"))
    )


def check(rules: list[dict[str, Any]], variants: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every (rule, variant) check, and warnings (variants a rule could not check, rules that check nothing)."""
    checks, warnings = [], []
    for i, rule in enumerate(rules):
        where = rule.get("source") or f"gates[{i}]"  # a scheme's goal and budget are rules too
        checked = 0
        for v in variants:
            if not selects(rule, v):
                continue
            got, note = value(v, rule["metric"], rule.get("output"))
            if got is None:
                warnings.append(f"{where}: {v['id']} has no {rule['metric']}: {note}; not checked")
                continue
            checked += 1
            low, high = rule.get("min"), rule.get("max")
            ok = (low is None or got >= low) and (high is None or got <= high)
            bound = f">= {low}" if low is not None else ""
            bound += (" and " if bound and high is not None else "") + (f"<= {high}" if high is not None else "")
            checks.append(
                {
                    "gate": i,
                    "variant": v["id"],
                    "metric": rule["metric"],
                    "output": note or None,
                    "value": got,
                    "bound": bound,
                    "passed": ok,
                    **_source(rule),
                }
            )
        if checked == 0:
            checks.append(
                {
                    "gate": i,
                    "variant": None,
                    "metric": rule["metric"],
                    "output": None,
                    "value": None,
                    "bound": "checks no variant",
                    "passed": False,
                    **_source(rule),
                }
            )
    return checks, warnings


def _source(rule: dict[str, Any]) -> dict[str, str]:
    return {"source": rule["source"]} if rule.get("source") else {}


def metric_label(check: dict[str, Any]) -> str:
    """A check's metric as people read it: ``snr_db (logits)`` when the rule names (or found) an output."""
    return check["metric"] + (f" ({check['output']})" if check.get("output") else "")


def table(checks: list[dict[str, Any]]) -> str:
    """Failing checks, one line each."""
    rows = [("gate", "variant", "metric", "value", "bound")]
    for c in checks:
        if c["passed"]:
            continue
        metric = metric_label(c)
        shown = "-" if c["value"] is None else f"{c['value']:.4g}"
        rows.append(
            (c.get("source") or f"gates[{c['gate']}]", c["variant"] or "(none matched)", metric, shown, c["bound"])
        )
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
