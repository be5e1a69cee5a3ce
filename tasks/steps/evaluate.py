"""evaluate: the quantized model against its float original, on the validation set.

Per output tensor: max abs error, RMSE, SNR (dB) and cosine similarity; for
classifiers also top-1 agreement (tasks/accuracy.py).  A Vela artifact has the
accuracy of the quantized model it was compiled from (Vela does not change the
arithmetic), so this runs once per quantized model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.datasets import Samples
from tasks.options import input_file, output_file

if TYPE_CHECKING:
    from tasks.plan import Planning
    from tasks.step import Step


@dataclass(frozen=True)
class Options:
    float_model: Path = input_file()
    quantized: Path = input_file()
    dataset: Samples
    task: str | None  # "classification" adds top-1 agreement
    label: str
    out: Path = output_file()


def plan_evaluate(planning: Planning) -> list[Step]:
    steps = []
    for model_name, unit, quant_name in planning.tflite_quantized():
        model = planning.project.models[model_name]
        if not model.validation:
            continue
        paths = planning.paths
        options = Options(paths.float_model(unit), paths.quantized(unit, quant_name), planning.samples(model.validation, model),
                          model.task, f"{unit}/{quant_name}", paths.accuracy(unit, quant_name))  # fmt: skip
        doc = f"compare the quantized model with the float model on the validation set '{model.validation}'"
        steps.append(planning.new("evaluate", f"{unit}/{quant_name}", doc, options))
    return steps


def run(o: Options) -> None:
    from tasks import accuracy

    accuracy.run(o.float_model, o.quantized, o.out, o.dataset, o.task, o.label)
