"""gates: check every rule of project.yaml's ``gates:`` against build/results.json.

A failed gate fails the build (doit exits non-zero) with a table of every
failing variant, metric, value and bound; nothing already built is removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.config import quality_gates as rules_
from tasks.errors import StepError
from tasks.planning.options import input_file, output_file
from tasks.progress import say

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step
    from tasks.results.records import GatesRecord, VariantRow


@dataclass(frozen=True, kw_only=True)
class Options:
    rules: tuple[dict[str, Any], ...]  # project.yaml's gates, as written
    results: Path = input_file()
    out: Path = output_file()


def plan_gates(planning: Planning) -> list[Step]:
    rules = all_rules(planning)
    if not rules:
        return []
    options = Options(rules=rules, results=planning.paths.results, out=planning.paths.gates)
    doc = f"check the quality gates of project.yaml against results.json ({len(rules)} rule(s))"
    return [planning.new("gates", "", doc, options)]


def all_rules(planning: Planning) -> tuple[dict[str, Any], ...]:
    """project.yaml's gates, as written, and each automatic scheme's goal and budget."""
    return tuple(g.as_dict() for g in planning.project.gates) + search_rules(planning) + budget_rules(planning)


def search_rules(planning: Planning) -> tuple[dict[str, Any], ...]:
    """An automatic scheme's goal and budget, as gates on the budget's target: a search that fell short fails."""
    rules = []
    built = {v.quantization for v in planning.project.variants}
    for name, q in planning.project.quantization.items():
        if q.type != "auto" or name not in built:
            continue
        where = {"quantization": name, "targets": q.budget.target}
        rules.append({**where, **q.goal.as_dict(), "source": f"quantization.{name}.goal"})
        rules.append(
            {**where, "metric": "est_inference_ms", "max": q.budget.max_ms, "source": f"quantization.{name}.budget"}
        )
    return tuple(rules)


def budget_rules(planning: Planning) -> tuple[dict[str, Any], ...]:
    """A pipeline's frame budget, as a gate on its pipeline_ms: a pipeline that does not keep up fails."""
    rules = []
    for name, p in planning.project.pipelines.items():
        if p.budget_ms is not None:
            source = f"pipelines.{name}." + ("fps" if p.fps else "budget_ms")
            rules.append({"pipelines": name, "metric": "pipeline_ms", "max": round(p.budget_ms, 4), "source": source})
        if p.search is not None:
            where = {"pipelines": name, "quantization": "search", "targets": p.search.target}
            rules.append({**where, **p.search.goal.as_dict(), "source": f"pipelines.{name}.search.goal"})
    return tuple(rules)


def run(o: Options) -> None:
    rules = list(o.rules)
    document = json.loads(o.results.read_text())
    variants: list[VariantRow] = document["variants"] + document.get("pipelines", [])
    checks, warnings = rules_.check(rules, variants)
    for line in warnings:
        say(f"   WARNING: {line}")
    record: GatesRecord = {"checks": checks, "warnings": warnings}
    atomic.write_json(o.out, record)
    failed = [c for c in checks if not c["passed"]]
    passed = len(checks) - len(failed)
    if failed:
        raise StepError(f"{len(failed)} gate check(s) failed, {passed} passed:\n{rules_.table(checks)}")
    say(f"   {passed} gate check(s) passed")
