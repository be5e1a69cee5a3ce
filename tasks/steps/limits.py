"""limits: the quantization limits check, calibrating on one sample and evaluating on that same sample.

A model calibrated on the very sample it is evaluated on has the best ranges
that sample can have: what is left of the error is the precision of the
scheme itself.  So the check tells a dataset problem from a precision
problem (the manual check of Synaptics' and NXP's quantization notes): when
the one-sample model is much better on that sample than the model calibrated
on the dataset, the calibration set's ranges do not fit it (more or more
representative calibration data); when it is no better, the scheme's
precision is the limit (int16x8, or a mixed scheme).  A worst output of
GOOD_DB or more calibrated on the dataset is no problem.  The work is in
tasks/model/limits.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model.datasets import Samples
from tasks.model.schemes import Scheme
from tasks.planning.options import input_file, output_file
from tasks.planning.step import scheme_of

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step

GAP_DB = 6.0  # the one-sample model this much better on the worst output: the calibration set is the problem
GOOD_DB = 30.0  # the worst output this good calibrated on the dataset: no problem to tell apart


@dataclass(frozen=True, kw_only=True)
class Options:
    scheme: Scheme
    label: str
    sample: Samples  # the first validation sample
    start: Path = input_file()  # the float model quantize starts from
    float_model: Path = input_file()  # what evaluate compares with
    quantized: Path = input_file()  # the model calibrated on the dataset
    out: Path = output_file()
    gap_db: float = GAP_DB
    good_db: float = GOOD_DB


def plan_limits(planning: Planning) -> list[Step]:
    steps = []
    for model_name, unit, quant in planning.tflite_quantized():
        model = planning.project.models[model_name]
        quantize = planning.step_of("quantize", scheme_of(unit, quant)).options
        if not (quantize.scheme.row.quantize and quantize.scheme.row.calibrated) or not model.validation:
            continue
        validation, _ = planning.validation_samples(model)
        one = replace(validation, files=validation.files[:1], take=1)  # its file alone: the step reads no other
        options = Options(
            scheme=quantize.scheme,
            label=quantize.label,
            sample=one,
            start=quantize.model,
            float_model=planning.paths.float_model(unit),
            quantized=quantize.out,
            out=planning.paths.limits(unit, quant),
        )
        doc = "calibrate on one validation sample and evaluate on it: a dataset problem, or the scheme's precision?"
        steps.append(planning.new("limits", scheme_of(unit, quant), doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import limits

    limits.run(o.start, o.float_model, o.quantized, o.out, o.scheme, o.sample, o.label, o.gap_db, o.good_db)
