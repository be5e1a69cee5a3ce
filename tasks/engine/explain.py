"""``doit explain [STEP ...]``: for every step that would run, why.  Runs nothing, writes nothing.

The reasons are doit's own up-to-date checks, made precise: which output is
missing, which input file changed (md5 recorded → now), which parameter changed
(old → new value), or which upstream step will run first.  Steps are listed in
the order doit would run them.
"""

from __future__ import annotations

import json
from typing import Any

from doit.cmd_base import DoitCmdBase
from doit.control import TaskControl
from doit.dependency import get_file_md5

from tasks.engine import commands as engine
from tasks.engine import doit_db
from tasks.engine.wiring import changed_outputs, params_unchanged

NEVER_RAN = "no record of an earlier run (a new step, or its record was forgotten)"


class Explain(DoitCmdBase):
    name = "explain"
    doc_purpose = "say why each step that would run will run (runs nothing)"
    doc_usage = "[STEP ...]"
    doc_description = (
        "With no STEP, explains the default build. Reasons: no record of an earlier run, a missing output,\n"
        "an input file that changed (md5 recorded → now), a parameter that changed (old → new),\n"
        "an upstream step that will run first, or a step that runs every time."
    )

    def __init__(self, task_loader=None, **kwargs):
        super().__init__(task_loader=engine.project_loader(self, task_loader, writes=False), **kwargs)

    def _execute(self, pos_args=None):
        control = TaskControl(self.task_list)
        control.process(self.sel_tasks)
        plan = explain(control.tasks, control.selected_tasks, self.dep_manager)
        out = self.outstream
        for name, reasons in plan.runs:
            out.write(f"{name}\n")
            for reason in reasons:
                out.write(f"    {reason}\n")
        if plan.runs:
            out.write(f"{len(plan.runs)} of {plan.considered} steps would run; nothing was run.\n")
        else:
            out.write(f"all {plan.considered} steps are up to date; nothing would run.\n")
        self.dep_manager.close()
        return 0


class Plan:
    def __init__(self):
        self.runs: list[tuple[str, list[str]]] = []
        self.considered = 0


def explain(tasks: dict, selected: list[str], dep) -> Plan:
    """Reasons for each task that would run among ``selected`` and their dependencies, in run order."""
    producers = {target: name for name, task in tasks.items() for target in task.targets}
    verdict: dict[str, bool] = {}
    plan = Plan()

    def visit(name: str, path: tuple[str, ...]) -> bool:
        if name in verdict:
            return verdict[name]
        task = tasks[name]
        for upstream in task.task_dep:
            if upstream not in path:
                visit(upstream, (*path, name))
        runs_upstream = [d for d in task.task_dep if verdict.get(d) and tasks[d].actions]
        if not task.actions:  # a group: runs when one of its members runs
            verdict[name] = bool(runs_upstream)
            return verdict[name]
        plan.considered += 1
        if dep.status_is_ignore(task):
            verdict[name] = False
            return False
        reasons = own_reasons(task, tasks, dep, producers)
        if reasons != [NEVER_RAN]:
            reasons += upstream_reasons(task, runs_upstream, producers)
        verdict[name] = bool(reasons)
        if reasons:
            plan.runs.append((name, reasons))
        return verdict[name]

    for name in selected:
        visit(name, ())
    return plan


def upstream_reasons(task, runs_upstream: list[str], producers: dict[str, str], shown: int = 3) -> list[str]:
    lines = []
    for upstream in runs_upstream[:shown]:
        rewrites = sorted(f for f in task.file_dep if producers.get(f) == upstream)
        if rewrites:
            lines.append(f"upstream {upstream} will run; this step follows if it rewrites {', '.join(rewrites)}")
        else:
            lines.append(f"upstream {upstream} will run first")
    if len(runs_upstream) > shown:
        lines.append(f"… and {len(runs_upstream) - shown} more upstream steps that will run")
    return lines


def own_reasons(task, tasks: dict, dep, producers: dict[str, str]) -> list[str]:
    """Why ``task`` itself is stale, upstream steps aside; empty when it is up to date."""
    always = [u for u, _, _ in task.uptodate if u is False]
    if always:
        return ["runs every time: it checks or measures, it does not build"]
    if not doit_db.has_record(dep, task.name):
        return [NEVER_RAN]
    status = dep.get_status(task, tasks, get_log=True)
    reasons: list[str] = []
    for utd, _args, _kwargs in status.reasons.get("uptodate_false", []):
        if isinstance(utd, params_unchanged):
            values = dep.get_values(task.name)
            old = values.get("_params")
            reasons.extend(parameter_changes(json.loads(old) if old else None, json.loads(utd.text)))
            reasons.extend(
                f"output changed since the step last succeeded: {path} (a run was stopped after writing it)"
                for path in changed_outputs(task.targets, values)
            )
        else:
            reasons.append(f"its up-to-date check {utd!r} says no")
    if status.reasons.get("checker_changed"):
        before, now = status.reasons["checker_changed"]
        reasons.append(f"file checker changed: {before} → {now}")
    for target in status.reasons.get("missing_target", []):
        reasons.append(f"missing output: {target}")
    for path in status.reasons.get("added_file_dep", []):
        reasons.append(f"new input: {path}")
    for path in status.reasons.get("removed_file_dep", []):
        reasons.append(f"input no longer used: {path}")
    for path in status.reasons.get("changed_file_dep", []):
        state = doit_db.recorded_file(dep, task.name, path)
        if state is None:
            reasons.append(f"new input: {path}")
        else:
            reasons.append(f"input changed: {path} (md5 {state[2][:8]} → {get_file_md5(path)[:8]})")
    for path in status.reasons.get("missing_file_dep", []):
        if path in producers:
            continue  # its producer will run: the upstream reason says it
        reasons.append(
            f"input missing: {path} (no step makes it; restore it or fix project.yaml)"
        )  # deleted after planning
    return list(dict.fromkeys(reasons))  # an input once, however many checks name it


def parameter_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """One line per changed parameter, ``kwargs.scheme.type: "int8" → "int16x8"``."""
    if old is None:
        return ["parameters: none recorded by the earlier run"]
    before, after = _flatten(old), _flatten(new)
    lines = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            lines.append(f"parameter {key}: (none) → {_show(after[key])}")
        elif key not in after:
            lines.append(f"parameter {key}: {_show(before[key])} → (none)")
        elif before[key] == after[key]:
            continue
        elif isinstance(before[key], list) and isinstance(after[key], list):
            dataset = after.get(key.removesuffix("files") + "name") if key.endswith("files") else None
            where = f" (datasets.{dataset}: its files, split or limit)" if isinstance(dataset, str) else ""
            lines.append(f"parameter {key}{where}: {_list_change(before[key], after[key])}")
        else:
            lines.append(f"parameter {key}: {_show(before[key])} → {_show(after[key])}")
    return lines or ["parameters changed"]


def _list_change(before: list, after: list, shown: int = 3) -> str:
    """What changed in a list (a dataset's files): the items that came and went, not two long lists that look alike."""
    old, new = [_show(x) for x in before], [_show(x) for x in after]
    gone, came = [x for x in old if x not in new], [x for x in new if x not in old]
    if not gone and not came:
        return f"the same {len(new)} items in another order"
    parts = [f"{len(old)} → {len(new)} items"]
    for sign, items in (("+", came), ("-", gone)):
        if items:
            more = f" … ({len(items) - shown} more)" if len(items) > shown else ""
            parts.append(", ".join(f"{sign}{x}" for x in items[:shown]) + more)
    return "; ".join(parts)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)  # parameters passed on as JSON text, e.g. a builder's args
        except ValueError:
            pass
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
