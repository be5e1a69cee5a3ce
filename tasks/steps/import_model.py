"""import: any source → canonical float32 .tflite (batch 1, one signature); the work is in tasks/model/importers.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.planning.options import added, input_file, output_file

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    source: Path  # a file, a SavedModel folder or a builder's .py file
    kind: str  # file | builder | pip
    function: str | None  # a builder's function
    args_json: str  # a builder's arguments, canonical JSON
    input_shape: tuple[int, ...] | None
    label: str  # YAML path of the model, for messages
    source_files: tuple[Path, ...] = input_file()  # every file of the source (a SavedModel has several)
    out: Path = output_file()
    facts: Path = output_file()
    keep_custom_ops: bool = False  # the model has prune variants: custom ops without a rewrite stay for them to cut off
    arrives_quantized: str | None = added(None)  # its activations' type when the source is quantized: kept as it is


def plan_import(planning: Planning) -> list[Step]:
    steps = []
    for name in planning.imported_models():
        model = planning.project.models[name]
        source, files = planning.source_of(model)
        options = Options(
            source=source,
            kind=model.source.kind,
            function=model.source.function,
            args_json=model.source.args_json,
            input_shape=None if model.onnx else model.input_shape,  # an ONNX model's is onnx2tf's (convert)
            label=f"models.{name}",
            source_files=files,
            out=planning.paths.float_model(name),
            facts=planning.paths.import_facts(name),
            keep_custom_ops=bool(model.prune),
            arrives_quantized=model.prequantized,
        )
        doc = "convert the source to a canonical float32 .tflite (batch 1, one signature)"
        if model.prequantized:
            doc = f"take the {model.prequantized} model as it arrives (batch 1, one signature); it is not re-quantized"
        steps.append(planning.new("import", name, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import importers

    shape = list(o.input_shape) if o.input_shape else None
    importers.run(
        o.source,
        o.kind,
        o.function,
        o.args_json,
        shape,
        o.out,
        o.facts,
        o.label,
        o.keep_custom_ops,
        o.arrives_quantized,
    )
