"""analyse: findings from Vela's per-layer facts of a compiled variant (see tasks/model/analysis.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model import analysis
from tasks.planning.options import input_file, output_file

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    label: str
    facts: Path = input_file()  # compile.json of the variant
    out: Path = output_file()
    rewrites: Path | None = input_file(None)  # rewrite.json of its unit, when rewrites ran


def plan_analyse(planning: Planning) -> list[Step]:
    steps = []
    for v in planning.variants_with("analyse"):
        folder = planning.paths.compile_dir(v)
        rewrite = planning.step_of("rewrite", v.unit)
        options = Options(
            label=planning.task_name("analyse", v.id),
            facts=folder / "compile.json",
            out=folder / "findings.json",
            rewrites=rewrite.options.facts if rewrite else None,
        )
        doc = "find hot, padded, memory-bound and CPU-bound layers in Vela's per-layer numbers"
        steps.append(planning.new("analyse", v.id, doc, options))
    return steps


def run(o: Options) -> None:
    records = json.loads(o.rewrites.read_text())["records"] if o.rewrites else None
    analysis.write(analysis.findings(json.loads(o.facts.read_text()), records), o.out, o.label)
