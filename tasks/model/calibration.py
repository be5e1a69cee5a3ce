"""A model's calibration: TensorFlow Lite's calibrator's range of every activation, computed once and kept.

The calibrate step (tasks/steps/calibrate.py) runs the calibrator once per
float model and calibration dataset and keeps what it gives: the float model
with the min/max of every activation (``calibrated.tflite``) and those ranges
as JSON.  Every scheme of that model quantizes from them, so a model is
calibrated once, not once per scheme: int8 and int16x8 hand the calibrated
model to TensorFlow Lite's quantizers (the same bytes as calibrating inside
them), and a mixed scheme and each candidate of an automatic scheme's search
feed the ranges to ai-edge-quantizer, so the int8 layers of a mixed model get
exactly the scales of the plain int8 model.  ai-edge-quantizer's own
calibrator keeps a moving average (0.95 on the past) of each sample's
min/max: on a few samples that is about the first sample's range, and a
tensor that varies from sample to sample (MediaPipe's pose-flag logit, one
value per image) is clipped on the others.

``Calibration`` is what a quantize function is given: the calibrate step's
files, or samples to calibrate on where they are needed once (the limits
step's one sample).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.errors import StepError
from tasks.model import datasets
from tasks.progress import progress
from tasks.tflite import flatbuffer


def representative(xs: list, name: str):
    """The calibration samples as TensorFlow Lite's calibrator takes them, with about four progress lines."""
    total = len(xs)
    step = max(2, -(-total // 4))

    def feed():
        for i, x in enumerate(xs, 1):
            yield [x]
            if i % step == 0 or i == total:
                progress(f"calibration {i}/{total} samples ({name})")

    return feed


def tflite_failed(label: str, exc: Exception) -> StepError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StepError(f"{label}: TensorFlow Lite could not quantize the model: {first}")


def calibrated(content: bytes, xs: list, name: str, label: str) -> bytes:
    """The float model ``content`` as TensorFlow Lite's calibrator gives it after the samples ``xs``: with the
    intermediate tensors its quantizers need, and the min/max of every activation."""
    from tensorflow.lite.python.optimize import calibrator

    try:
        cal = calibrator.Calibrator(calibrator.add_intermediate_tensors(content))
        return bytes(cal.calibrate(representative(xs, name)))
    except (RuntimeError, ValueError) as exc:
        raise tflite_failed(label, exc) from None


def ranges(calibrated_content: bytes, label: str) -> dict[str, Any]:
    """{tensor name: {min, max, rank}} of every activation of a calibrated model (as ``calibrated`` gives it)."""
    model = flatbuffer.read_bytes(calibrated_content, label)
    found, missing = {}, []
    for t in (t for sg in model.subgraphs for t in sg.tensors):
        data = model.buffers[t.buffer].data
        if t.type != flatbuffer.schema.TensorType.FLOAT32 or (data is not None and len(data)):
            continue  # constants: ai-edge-quantizer quantizes them from their values
        q = t.quantization
        if q is None or q.min is None or len(q.min) != 1:
            missing.append(flatbuffer.tensor_name(t))
            continue
        found[flatbuffer.tensor_name(t)] = {"min": float(q.min[0]), "max": float(q.max[0]), "rank": len(t.shape)}
    if missing:
        raise StepError(f"{label}: TensorFlow Lite's calibrator recorded no range for {', '.join(missing[:5])}")
    return found


def _samples(content: bytes, dataset: datasets.Samples, label: str) -> list:
    xs = list(datasets.samples(dataset, flatbuffer.single_input_shape(flatbuffer.read_bytes(content, label), label)))
    if not xs:
        raise StepError(f"{label}: calibration dataset '{dataset.label}' has no samples")
    return xs


def run(
    model: Path, dataset: datasets.Samples, out: Path, model_out: Path, label: str, where: tuple[str, str] = ("", "")
) -> None:
    """The calibrate step: ``model_out`` the calibrated model, ``out`` its ranges and how many samples made them.

    ``where``: the unit's and the model's YAML paths, to name them when the model has custom operators."""
    from tasks.model.importers import refuse_custom_ops

    content = model.read_bytes()
    refuse_custom_ops(flatbuffer.read_bytes(content, label), where[0] or label, where[1] or label)
    xs = _samples(content, dataset, label)
    result = calibrated(content, xs, dataset.name, label)
    found = ranges(result, label)
    atomic.write_bytes(model_out, result)
    atomic.write_json(out, {"dataset": dataset.name, "part": dataset.part, "samples": len(xs), "ranges": found})
    progress(f"ranges of {len(found)} activations from {len(xs)} samples of '{dataset.label}'")


@dataclass(frozen=True)
class Calibration:
    """Where a scheme's calibration comes from: the calibrate step's files (``facts``, its ranges, and ``model``,
    the calibrated model), or ``dataset``, samples to calibrate on here."""

    facts: Path | None = None
    model: Path | None = None
    dataset: datasets.Samples | None = None

    def calibrated(self, content: bytes, label: str) -> tuple[bytes, int]:
        """The calibrated model (as ``calibrated`` gives it) of the float model ``content``, and its sample count."""
        if self.model is not None and self.facts is not None:
            return self.model.read_bytes(), json.loads(self.facts.read_text())["samples"]
        dataset = self._dataset(label)
        xs = _samples(content, dataset, label)
        return calibrated(content, xs, dataset.name, label), len(xs)

    def qsvs(self, content: bytes, label: str) -> tuple[dict[str, dict[str, Any]], int]:
        """The ranges as ai-edge-quantizer's quantization statistics, and their sample count."""
        if self.facts is not None:
            return read(self.facts)
        found, count = self.calibrated(content, label)
        return as_qsvs(ranges(found, label), count), count

    def _dataset(self, label: str) -> datasets.Samples:
        if self.dataset is None:
            raise StepError(f"{label}: this scheme needs calibration data; give the model a calibration dataset")
        return self.dataset


def as_qsvs(found: dict[str, Any], samples: int) -> dict[str, dict[str, Any]]:
    """Ranges (as ``ranges`` gives them) as ai-edge-quantizer's quantization statistics (QSVs)."""
    import numpy as np

    count = np.array(samples)
    return {
        name: {
            "min": np.full((1,) * r["rank"], r["min"], np.float32),  # the rank of the tensor, as it keeps them
            "max": np.full((1,) * r["rank"], r["max"], np.float32),
            "num_samples": count,
        }
        for name, r in found.items()
    }


def read(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """The calibrate step's ranges as QSVs, and how many samples made them."""
    facts = json.loads(Path(path).read_text())
    return as_qsvs(facts["ranges"], facts["samples"]), facts["samples"]
