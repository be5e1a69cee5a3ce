"""int8 and int16x8: TensorFlow Lite's calibrator and quantizer.

The path ``TFLiteConverter`` takes after conversion, applied to the canonical
float .tflite.  Calibration order is fixed, so the same inputs give the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.model.datasets import Samples
    from tasks.model.schemes import Scheme


def int8(content: bytes, scheme: Scheme, dataset: Samples | None, label: str) -> tuple[bytes, int]:
    return _calibrated(content, scheme, dataset, label)


def int16x8(content: bytes, scheme: Scheme, dataset: Samples | None, label: str) -> tuple[bytes, int]:
    return _calibrated(content, scheme, dataset, label)


def _calibrated(content: bytes, scheme: Scheme, dataset: Samples, label: str) -> tuple[bytes, int]:
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    from tasks.model import calibration, datasets
    from tasks.tflite import flatbuffer

    shape = flatbuffer.single_input_shape(flatbuffer.read_bytes(content, label), label)
    xs = list(datasets.samples(dataset, shape))
    representative = calibration.representative(xs, dataset.name)
    io = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16}[scheme.io]
    per_tensor = not scheme.per_channel
    try:
        cal = calibrator.Calibrator(calibrator.add_intermediate_tensors(content))
        if scheme.type == "int8":
            calibrated = cal.calibrate(representative)
            progress("quantizing to int8")
            result = convert.mlir_quantize(calibrated, per_tensor, input_data_type=io, output_data_type=io)
            return bytes(result), len(xs)
        progress("calibrating, then quantizing to int16 activations, int8 weights")
        # Ops without a 16x8 kernel stay float (TFLiteConverter does the same with
        # EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 + TFLITE_BUILTINS).
        result = cal.calibrate_and_quantize(
            representative, io, io, True, tf.int16, tf.int64, disable_per_channel=per_tensor
        )
        return bytes(result), len(xs)
    except (RuntimeError, ValueError) as exc:
        raise calibration.tflite_failed(label, exc) from None
