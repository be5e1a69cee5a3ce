"""`doit shard=K/N`: the project's work shared out over N CI jobs, deterministically and by expected seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.errors import ConfigError

if TYPE_CHECKING:
    from tasks.engine import plan


def shard_units(planning: plan.Planning) -> list[dict[str, Any]]:
    """What `doit shard=K/N` shares out: the variants of one float model and scheme (they share their
    quantize and evaluate steps), each with its model, every step it needs and the expected seconds of each;
    and each pipeline, with every step its rows need (its stages' variants' steps too)."""
    results = planning.step_of("results")
    if results is None:
        return []
    cost = {s.task_name: s.kind.cost for s in planning.steps}
    units: dict[str, dict[str, Any]] = {}
    for e in results.options.variants:
        name = f"{e.model}{f'.{e.prune}' if e.prune else ''}/{e.quantization}"
        unit = units.setdefault(name, {"name": name, "model": e.model, "variants": [], "steps": {}})
        unit["variants"].append(e.id)
        unit["steps"].update({m.step: cost.get(m.step, 0.0) for m in e.steps})
        graph = planning.step_of("graph", name)  # the report's view of the model: the assemble run restores it
        if graph is not None:
            unit["steps"][graph.task_name] = graph.kind.cost
    from tasks.engine.plan import producers

    made_by = producers(planning.steps)
    for step in planning.steps:
        if step.kind.name == "pipeline":  # a pipeline variant's row: what it reads, and what that reads, …
            name = f"pipeline:{step.options.pipeline}"
            unit = units.setdefault(name, {"name": name, "model": name, "variants": [], "steps": {}, "pipeline": True})
            unit["steps"].update(_needs(step, made_by))
    return [units[name] for name in sorted(units)]


def _needs(step: Any, made_by: dict[Any, Any]) -> dict[str, float]:
    """``step`` and every step that makes a file it reads, and so on: the expected seconds of each."""
    found: dict[str, float] = {}
    todo = [step]
    while todo:
        s = todo.pop()
        if s.task_name not in found:
            found[s.task_name] = s.kind.cost
            todo += [made_by[f] for f in s.file_dep if f in made_by]
    return found


def shard(spec: str, units: list[dict[str, Any]]) -> tuple[int, int, list[dict[str, Any]]]:
    """``spec`` is K/N: shard K's units (numbered from 1), a deterministic share.

    A model's variants stay together when there are at least N models (its fetch, conversion and import
    then run once, in one shard); with fewer, its model/scheme pairs are shared out.  Largest first, each
    to the shard it adds the fewest seconds to (steps a shard already runs cost nothing again), ties to
    the lowest shard.  Then the pipelines, the same way: a pipeline's unit holds its stages' steps too, so it
    goes where they already run unless another shard, building them again, ends sooner.
    """
    try:
        k, n = (int(x) for x in spec.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise ConfigError(f"shard={spec}: give shard=K/N with 1 <= K <= N, e.g. shard=1/4") from None
    plain = [u for u in units if not u.get("pipeline")]
    if len({u["model"] for u in plain}) >= n:
        by_model: dict[str, list[dict[str, Any]]] = {}
        for unit in plain:
            by_model.setdefault(unit["model"], []).append(unit)
        groups = list(by_model.values())
    else:
        groups = [[unit] for unit in plain]
    loads: list[dict[str, float]] = [{} for _ in range(n)]
    chosen: list[list[dict[str, Any]]] = [[] for _ in range(n)]

    def steps(group: list[dict[str, Any]]) -> dict[str, float]:
        return {name: c for unit in group for name, c in unit["steps"].items()}

    def after(i: int, needs: dict[str, float]) -> float:
        return sum(loads[i].values()) + sum(c for name, c in needs.items() if name not in loads[i])

    def largest_first(groups: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        return sorted(groups, key=lambda g: (-sum(steps(g).values()), g[0]["name"]))

    pipelines = [[u] for u in units if u.get("pipeline")]
    for group in largest_first(groups) + largest_first(pipelines):
        needs = steps(group)
        best = min(range(n), key=lambda i: (after(i, needs), i))
        loads[best].update(needs)
        chosen[best] += group
    return k, n, chosen[k - 1]
