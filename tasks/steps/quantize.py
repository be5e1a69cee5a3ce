"""quantize: float .tflite → quantized .tflite, its facts and the per-layer error table.

int8 and int16x8 use TensorFlow Lite's quantizers; dynamic and float16 (and
mixed precision) use ai-edge-quantizer.  A calibrated scheme quantizes from the
calibrate step's calibration of its model, shared by all its schemes.  The work
is in tasks/model/quantizer.py; calibration order is fixed, so the same inputs
give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model.datasets import Samples
from tasks.model.schemes import Scheme, Where
from tasks.planning.options import input_file, output_file, unfingerprinted
from tasks.planning.step import scheme_of

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    scheme: Scheme
    label: str
    where: Where = unfingerprinted()  # the YAML names of the scheme and the model (label says the same)
    model: Path = input_file()  # the float (or rewritten float) model
    out: Path = output_file()
    facts: Path = output_file()
    errors_dataset: Samples | None = None  # samples for the per-layer error table
    errors_csv: Path | None = output_file(None)
    ranges: Path | None = input_file(None)  # the calibrate step's ranges (calibrated schemes)
    calibrated: Path | None = input_file(None)  # and its calibrated model
    search: Path | None = input_file(None)  # an automatic scheme's choice (the search step's)


def plan_quantize(planning: Planning) -> list[Step]:
    steps = []
    for model_name, unit, quant_name in planning.tflite_quantized():
        model = planning.project.models[model_name]
        q = planning.project.quantization[quant_name]
        scheme = Scheme(
            type=q.type,
            io=q.io,
            per_channel=q.per_channel,
            overrides=tuple(o.as_dict() for o in q.overrides),
            weights=q.weights,
        )
        calibrate = planning.step_of("calibrate", unit) if q.calibrated else None
        errors, _ = planning.validation_samples(model)
        search = planning.step_of("search", scheme_of(unit, quant_name))
        options = Options(
            scheme=scheme,
            label=scheme_of(unit, quant_name),
            where=Where(scheme=quant_name, model=f"models.{model_name}", unit=planning.unit_path(unit)),
            model=planning.start_of(unit),
            out=planning.paths.quantized(unit, quant_name),
            facts=planning.paths.quantize_facts(unit, quant_name),
            errors_dataset=errors,
            errors_csv=planning.paths.quant_errors(unit, quant_name) if errors else None,
            ranges=calibrate.options.out if calibrate else None,
            calibrated=calibrate.options.calibrated if calibrate else None,
            search=search.options.out if search else None,
        )
        dataset = calibrate.options.dataset if calibrate else None
        steps.append(planning.new("quantize", scheme_of(unit, quant_name), _doc(scheme, dataset), options))
    return steps


def _doc(scheme: Scheme, dataset: Samples | None) -> str:
    return (
        f"quantize the float model: {scheme.type}, io {scheme.io}, "
        f"{'per-channel' if scheme.per_channel else 'per-tensor'}"
        + (f", {len(scheme.overrides)} override(s)" if scheme.overrides else "")
        + (f", {scheme.weights} weights" if scheme.weights != "min_max" else "")
        + (f", calibrated on '{dataset.name}' (the calibrate step's ranges)" if dataset else "")
    )


def run(o: Options) -> None:
    from tasks.model import quantizer
    from tasks.model.calibration import Calibration

    calibration = Calibration(facts=o.ranges, model=o.calibrated) if o.ranges else None
    quantizer.run(
        o.model, o.out, o.facts, o.scheme, calibration, o.label, o.where, o.errors_dataset, o.errors_csv, o.search
    )
