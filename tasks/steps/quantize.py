"""quantize: float .tflite → quantized .tflite.

int8 and int16x8 use TensorFlow Lite's calibrator and quantizer (the path
``TFLiteConverter`` takes after conversion, applied to the canonical float
.tflite); dynamic and float16 use ai-edge-quantizer, which works on .tflite
directly.  Calibration order is fixed, so the same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks import atomic, datasets, tflite
from tasks.errors import StepError
from tasks.worker import progress


def run(model: str, out: str, facts: str, scheme: dict[str, Any], dataset: dict[str, Any] | None, label: str) -> None:
    content = Path(model).read_bytes()
    kind = scheme["type"]
    samples = None
    if kind in ("int8", "int16x8"):
        result, samples = _calibrated(content, scheme, dataset, label)
    elif kind == "dynamic":
        result = _ai_edge(content, scheme, dynamic=True)
    elif kind == "float16":
        result = _ai_edge(content, scheme, dynamic=False)
    else:
        raise StepError(f"quantization type {kind!r} is not one of dynamic, float16, int8, int16x8")
    atomic.write_bytes(Path(out), result)
    atomic.write_json(Path(facts), tflite.describe(result, scheme=scheme, calibration_samples=samples))


def _calibrated(content: bytes, scheme: dict[str, Any], dataset: dict[str, Any], label: str) -> tuple[bytes, int]:
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    model = tflite.read_bytes(content, label)
    sg = model.subgraphs[0]
    if len(sg.inputs) != 1:
        raise StepError(f"{label}: calibration supports single-input models; this one has {len(sg.inputs)} inputs")
    shape = [int(d) for d in sg.tensors[sg.inputs[0]].shape]
    xs = list(datasets.samples(dataset, shape))
    total = len(xs)
    step = max(2, -(-total // 4))  # about four progress lines per calibration

    def representative():
        for i, x in enumerate(xs, 1):
            yield [x]
            if i % step == 0 or i == total:
                progress(f"calibration {i}/{total} samples ({dataset['name']})")

    io = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16}[scheme["io"]]
    per_tensor = not scheme["per_channel"]
    try:
        cal = calibrator.Calibrator(calibrator.add_intermediate_tensors(content))
        if scheme["type"] == "int8":
            calibrated = cal.calibrate(representative)
            progress("quantizing to int8")
            return bytes(convert.mlir_quantize(calibrated, per_tensor, input_data_type=io, output_data_type=io)), total
        progress("calibrating, then quantizing to int16 activations, int8 weights")
        # Ops without a 16x8 kernel stay float (TFLiteConverter does the same with
        # EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 + TFLITE_BUILTINS).
        result = cal.calibrate_and_quantize(
            representative, io, io, True, tf.int16, tf.int64, disable_per_channel=per_tensor
        )
        return bytes(result), total
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StepError(f"{label}: TensorFlow Lite could not quantize the model: {first}") from None


def _ai_edge(content: bytes, scheme: dict[str, Any], dynamic: bool) -> bytes:
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    qt = quantizer.Quantizer(bytearray(content))
    ops = qtyping.TFLOperationName.ALL_SUPPORTED
    granularity = qtyping.QuantGranularity.CHANNELWISE if scheme["per_channel"] else qtyping.QuantGranularity.TENSORWISE
    if dynamic:
        progress("dynamic-range quantization: int8 weights, float activations")
        qt.add_dynamic_config(".*", ops, 8, granularity)
    else:
        progress("float16 weights")
        qt.add_weight_only_config(".*", ops, 16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    return bytes(qt.quantize(enable_progress_report=False).quantized_model)
