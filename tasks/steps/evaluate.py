"""evaluate: the quantized model against its float original, on the validation set.

Per output tensor: max abs error, RMSE, SNR (dB) and cosine similarity; and
the metrics of the model's tasks (tasks/model/metrics): the float and the quantized
model's outputs decoded as the application decodes them, and compared.  The
work is in tasks/model/accuracy.py.  A Vela artifact has the accuracy of the
quantized model it was compiled from (Vela does not change the arithmetic),
so this runs once per quantized model.  Samples the model was also calibrated
on are marked in-sample.  For a variant a board's agreement step compares, it
keeps the quantized model's outputs on the first samples (host-outputs.npz):
the host's half of that comparison, not computed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.model.datasets import Samples
from tasks.planning.options import added, input_file, output_file
from tasks.planning.step import scheme_of
from tasks.steps import float_outputs

if TYPE_CHECKING:
    from tasks.config import Task
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """One of the model's tasks: a row of tasks.model.metrics.TASKS and its settings."""

    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    metric_file: Path | None = input_file(None)  # custom: FILE.py of metric: FILE.py:FUNCTION
    function: str | None = None

    @classmethod
    def of(cls, task: Task) -> TaskOptions:
        return cls(type=task.type, settings=task.settings, metric_file=task.metric_file, function=task.function)

    def spec(self) -> dict[str, Any]:
        """The task as its decoder takes it."""
        custom = {"metric": f"{self.metric_file}:{self.function}"} if self.metric_file else {}
        return {"type": self.type, **self.settings, **custom}


@dataclass(frozen=True, kw_only=True)
class Options:
    float_model: Path | None = input_file()  # None: a model that arrives quantized, without a float reference
    quantized: Path = input_file()
    dataset: Samples
    tasks: tuple[TaskOptions, ...]
    in_sample: bool  # the validation samples are calibration samples too
    label: str
    out: Path = output_file()
    pruned: bool = False  # a prune variant: a task whose output was cut away is skipped, not an error
    reference: str | None = added(None)  # a model that arrives quantized: the models: name of its float model
    keep: int = added(0)  # the samples a board's agreement compares: the quantized model's outputs on them …
    kept: Path | None = added(None, role="out")  # … kept here, for the agreement steps (host-outputs.npz)
    expected: Path | None = added(None, role="in")  # the float model's outputs on the samples (float-outputs)


def plan_evaluate(planning: Planning) -> list[Step]:
    steps = []
    keep: dict[tuple[str, str], int] = {}  # (unit, quantization): the most samples a board's agreement compares
    for v, board in planning.agreements():
        keep[v.unit, v.quantization] = max(keep.get((v.unit, v.quantization), 0), board.agreement_samples)
    for model_name, unit, quant_name in planning.evaluated():
        model = planning.project.models[model_name]
        if not model.validation:
            continue
        paths = planning.paths
        dataset, in_sample = planning.validation_samples(model, labelled=True)
        float_model = paths.float_model(unit)
        if model.prequantized:  # its float model is the reference's, of the whole model only
            float_model = paths.float_model(model.reference) if model.reference and unit == model_name else None
        options = Options(
            float_model=float_model,
            quantized=paths.quantized(unit, quant_name),
            dataset=dataset,
            tasks=tuple(TaskOptions.of(t) for t in model.tasks),
            in_sample=in_sample,
            label=scheme_of(unit, quant_name),
            out=paths.accuracy(unit, quant_name),
            pruned=unit != model_name,
            reference=model.reference if model.prequantized and float_model else None,
            keep=keep.get((unit, quant_name), 0),
            kept=paths.host_outputs(unit, quant_name) if (unit, quant_name) in keep else None,
            expected=float_outputs.kept_for(planning, float_model, dataset) if float_model else None,
        )
        doc = f"compare the quantized model with the float model on the validation set '{dataset.label}'"
        if float_model is None:
            doc = f"evaluate the model as it arrived against the labels of '{dataset.label}'"
        steps.append(
            planning.new("evaluate", scheme_of(unit, quant_name), doc + (" (in-sample)" if in_sample else ""), options)
        )
    return steps


def run(o: Options) -> None:
    from tasks.model import accuracy

    specs = tuple(t.spec() for t in o.tasks)
    kept = (o.kept, o.keep) if o.kept else None
    accuracy.run(
        o.float_model,
        o.quantized,
        o.out,
        o.dataset,
        specs,
        o.label,
        o.in_sample,
        o.pruned,
        o.reference,
        kept,
        o.expected,
    )


def row_accuracy(record: dict[str, Any], compiled: bool) -> dict[str, Any]:
    """results.json's ``accuracy``: the evaluate step's record, and what it was measured on."""
    source = "the quantized model" + (" it was compiled from (Vela does not change the arithmetic)" if compiled else "")
    return {"accuracy": {**record, "measured_on": source}}
