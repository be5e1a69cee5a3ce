"""calibrate: a float model's activation ranges on its calibration set, once for every scheme that reuses them.

A mixed scheme's quantization and every candidate of an automatic scheme's
search read these ranges instead of calibrating again.  The work is in
tasks/model/calibration.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model.datasets import Samples
from tasks.planning.options import input_file, output_file

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    label: str
    dataset: Samples
    model: Path = input_file()  # the float model quantize starts from
    out: Path = output_file()


def plan_calibrate(planning: Planning) -> list[Step]:
    steps, seen = [], set()
    for model_name, unit, quant_name in planning.tflite_quantized() + planning.searched():
        q = planning.project.quantization[quant_name]
        if unit in seen or not q.uses_ranges:
            continue
        seen.add(unit)
        model = planning.project.models[model_name]
        dataset = planning.samples(model.calibration, model)
        options = Options(
            label=unit, dataset=dataset, model=planning.start_of(unit), out=planning.paths.calibration(unit)
        )
        doc = f"record the activation ranges on '{dataset.label}' for the schemes that quantize with them"
        steps.append(planning.new("calibrate", unit, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import calibration

    calibration.run(o.model, o.dataset, o.out, o.label)
