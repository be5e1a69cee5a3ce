"""prune: keep only the part of the float model that computes the named tensors.

The SyNAP-style output pruning: drop output branches (and, with ``inputs``,
leading preprocessing) the application does not use, before calibration, so
the smaller model is what gets quantized and compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks import atomic
from tasks.planning.options import input_file, output_file
from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    outputs: tuple[str, ...]  # tensors to keep computing, in this order
    inputs: tuple[str, ...] | None  # tensors to start from (None: the model's inputs)
    label: str
    model: Path = input_file()
    out: Path = output_file()
    facts: Path = output_file()


def plan_prune(planning: Planning) -> list[Step]:
    steps = []
    for model_name, prune_name in planning.tflite_units():
        if prune_name is None:
            continue
        cut = planning.project.models[model_name].prune[prune_name]
        unit = f"{model_name}.{prune_name}"
        options = Options(
            outputs=cut.outputs,
            inputs=cut.inputs,
            label=f"models.{model_name}.prune.{prune_name}",
            model=planning.paths.float_model(model_name),
            out=planning.paths.float_model(unit),
            facts=planning.paths.prune_facts(unit),
        )
        doc = f"keep only the operators that compute the named outputs: {', '.join(cut.outputs)}"
        steps.append(planning.new("prune", unit, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.tflite import flatbuffer, pruning, runtime

    original = flatbuffer.read(o.model)
    before = sum(len(sg.operators) for sg in original.subgraphs)
    pruned = pruning.prune(original, list(o.outputs), list(o.inputs) if o.inputs else None, o.label)
    content = flatbuffer.to_bytes(pruned)
    after = len(pruned.subgraphs[0].operators)
    progress(f"kept {after} of {before} ops for outputs {', '.join(o.outputs)}")
    atomic.write_bytes(o.out, content)
    atomic.write_json(o.facts, runtime.describe(content, ops_before=before, ops_after=after))
