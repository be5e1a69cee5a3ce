"""The quantization limits check: the work of the limits step (tasks/steps/limits.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tasks import atomic
from tasks.errors import StepError
from tasks.model import datasets
from tasks.model.accuracy import Runner, compare
from tasks.progress import progress
from tasks.tflite import flatbuffer

if TYPE_CHECKING:
    from tasks.model.schemes import Scheme
    from tasks.results.records import Limits


def run(
    start: Path,
    float_model: Path,
    quantized: Path,
    out: Path,
    scheme: Scheme,
    sample: datasets.Samples,
    label: str,
    gap_db: float,
    good_db: float,
) -> None:
    from tasks.model import quantizer
    from tasks.model.calibration import Calibration

    content = start.read_bytes()
    shape = flatbuffer.single_input_shape(flatbuffer.read_bytes(content, label), label)
    xs = list(datasets.samples(sample, shape))
    if not xs:
        raise StepError(f"{label}: validation dataset '{sample.label}' has no samples")
    progress(f"calibrating on one validation sample of '{sample.label}'")
    one, _ = quantizer.quantize_content(content, scheme, Calibration(dataset=sample), label)
    (x,) = xs
    expected = Runner(float_model.read_bytes())(x)
    dataset_model, one_model = Runner(quantized.read_bytes())(x), Runner(one)(x)
    outputs = {
        name: {
            "snr_db": compare(ref, dataset_model[name].reshape(ref.shape))["snr_db"],
            "snr_db_one_sample": compare(ref, one_model[name].reshape(ref.shape))["snr_db"],
        }
        for name, ref in expected.items()
    }
    worst = min(outputs, key=lambda n: outputs[n]["snr_db"])
    gap = outputs[worst]["snr_db_one_sample"] - outputs[worst]["snr_db"]
    verdict = "none" if outputs[worst]["snr_db"] >= good_db else "calibration" if gap >= gap_db else "precision"
    result: Limits = {
        "sample": _name(sample),
        "outputs": {n: {k: round(v, 3) for k, v in o.items()} for n, o in outputs.items()},
        "worst_output": worst,
        "gap_db": round(gap, 3),
        "verdict": verdict,
        "advice": advice(verdict, worst, outputs[worst], gap),
    }
    atomic.write_json(out, result)
    progress(
        f"{worst}: {outputs[worst]['snr_db']:.1f} dB calibrated on the dataset, "
        f"{outputs[worst]['snr_db_one_sample']:.1f} dB calibrated on this sample alone: {result['advice']}"
    )


def _name(sample: datasets.Samples) -> str:
    if sample.kind == "random":
        return f"{sample.name} #{sample.skip}"
    return sample.files[0].name if sample.files else sample.name


def advice(verdict: str, output: str, snr: dict[str, float], gap: float) -> str:
    """One sentence: what the two numbers say, and what to do."""
    if verdict == "none":
        return f"no problem: {output} is {snr['snr_db']:.1f} dB or better, calibrated on the dataset"
    if verdict == "calibration":
        return (
            f"a dataset problem: calibrated on this sample alone, {output} is {gap:.1f} dB better, so the "
            "calibration set's ranges do not fit the validation data; calibrate on more samples like it"
        )
    return (
        f"a precision problem: even calibrated on this very sample, {output} reaches only "
        f"{snr['snr_db_one_sample']:.1f} dB; more calibration data will not help, more bits will "
        "(int16x8, or a mixed scheme on the layers that lose most)"
    )
