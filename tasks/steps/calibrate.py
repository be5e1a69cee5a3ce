"""calibrate: a float model's activation ranges on its calibration set, once for all of its schemes.

Every calibrated scheme of the model quantizes from them instead of calibrating
again: int8 and int16x8 from the calibrated model, a mixed scheme and every
candidate of an automatic scheme's search from the ranges.  The work is in
tasks/model/calibration.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model.datasets import Samples
from tasks.planning.options import input_file, output_file, unfingerprinted

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    label: str
    dataset: Samples
    model: Path = input_file()  # the float model quantize starts from
    out: Path = output_file()  # the ranges
    calibrated: Path = output_file()  # the calibrated model
    where: tuple[str, str] = unfingerprinted(("", ""))  # the unit's and the model's YAML paths, for messages


def plan_calibrate(planning: Planning) -> list[Step]:
    steps, seen = [], set()
    for model_name, unit, quant_name in planning.tflite_quantized() + planning.searched():
        q = planning.project.quantization[quant_name]
        if unit in seen or not q.calibrated:
            continue
        seen.add(unit)
        model = planning.project.models[model_name]
        dataset = planning.samples(model.calibration, model)
        options = Options(
            label=unit,
            dataset=dataset,
            model=planning.start_of(unit),
            out=planning.paths.calibration(unit),
            calibrated=planning.paths.calibrated(unit),
            where=(planning.unit_path(unit), f"models.{model_name}"),
        )
        doc = f"record the activation ranges on '{dataset.label}' for every scheme that quantizes with them"
        steps.append(planning.new("calibrate", unit, doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import calibration

    calibration.run(o.model, o.dataset, o.out, o.calibrated, o.label, o.where)
