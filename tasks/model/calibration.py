"""A model's calibration statistics: TensorFlow Lite's calibrator's range of every activation, kept in a file.

Computed once per float model and calibration dataset (the calibrate step,
tasks/steps/calibrate.py) and reused by every quantization that takes
ranges: a mixed scheme, and each candidate of an automatic scheme's search,
which then costs a quantization, not a calibration (ai-edge-quantizer
calibrates once and quantizes many recipes the same way).  The int8 path
quantizes with these ranges, so the int8 layers of a mixed model get exactly
the scales of the plain int8 model.  ai-edge-quantizer's own calibrator keeps
a moving average (0.95 on the past) of each sample's min/max: on a few samples
that is about the first sample's range, and a tensor that varies from sample
to sample (MediaPipe's pose-flag logit, one value per image) is clipped on the
others.
"""

from __future__ import annotations

import json
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


def ranges(content: bytes, xs: list, name: str, label: str) -> dict[str, Any]:
    """{tensor name: {min, max, rank}} of every activation of the float model ``content`` over the samples ``xs``."""
    from tensorflow.lite.python.optimize import calibrator

    try:
        cal = calibrator.Calibrator(calibrator.add_intermediate_tensors(content))
        calibrated = flatbuffer.read_bytes(bytes(cal.calibrate(representative(xs, name))), label)
    except (RuntimeError, ValueError) as exc:
        raise tflite_failed(label, exc) from None
    found, missing = {}, []
    for t in (t for sg in calibrated.subgraphs for t in sg.tensors):
        data = calibrated.buffers[t.buffer].data
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


def run(model: Path, dataset: datasets.Samples, out: Path, label: str) -> None:
    content = model.read_bytes()
    xs = list(datasets.samples(dataset, flatbuffer.single_input_shape(flatbuffer.read_bytes(content, label), label)))
    if not xs:
        raise StepError(f"{label}: calibration dataset '{dataset.label}' has no samples")
    found = ranges(content, xs, dataset.name, label)
    atomic.write_json(out, {"dataset": dataset.name, "part": dataset.part, "samples": len(xs), "ranges": found})
    progress(f"ranges of {len(found)} activations from {len(xs)} samples of '{dataset.label}'")


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
