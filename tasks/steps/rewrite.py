"""rewrite: replace float-graph patterns Vela cannot map by equivalent ones it can (tasks/model/rewrites/).

Each run proves itself: the rewritten float model must give the original's outputs on random
inputs (max abs difference ≤ 1e-5 of each output's range), else the step fails naming the rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.planning.options import input_file, output_file

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    rewrites: tuple[str, ...]  # names in tasks.model.rewrites.REWRITES, in the order they run
    label: str
    model: Path = input_file()
    out: Path = output_file()
    facts: Path = output_file()


def plan_rewrite(planning: Planning) -> list[Step]:
    steps = []
    for model_name, prune_name in planning.tflite_units():
        names = planning.model_rewrites(model_name)
        if not names:
            continue
        unit = f"{model_name}.{prune_name}" if prune_name else model_name
        options = Options(
            rewrites=names,
            label=planning.task_name("rewrite", unit),
            model=planning.paths.float_model(unit),
            out=planning.paths.rewritten(unit),
            facts=planning.paths.rewrite_facts(unit),
        )
        doc = (
            "rewrite ops Vela leaves on the CPU as equivalent ones it maps to the NPU, proven on random inputs: "
            + ", ".join(names)
        )
        steps.append(planning.new("rewrite", unit, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model.rewrites import apply

    apply.run(o.model, o.out, o.facts, list(o.rewrites), o.label)


def row_rewrites(facts: dict[str, Any], compiled: bool) -> dict[str, Any]:
    """results.json's ``rewrites``: what the rewrite step changed."""
    return {"rewrites": facts.get("records")}
