"""int8 and int16x8: TensorFlow Lite's quantizers.

The path ``TFLiteConverter`` takes after conversion, applied to the canonical
float .tflite as TensorFlow Lite's calibrator calibrated it (the calibrate
step's model, tasks/model/calibration.py): int8 through the MLIR quantizer,
int16x8 through the quantizer ``TFLiteConverter`` uses for 16-bit activations.
Both give the bytes they give when they calibrate themselves; calibration order
is fixed, so the same inputs give the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.model.calibration import Calibration
    from tasks.model.schemes import Scheme


def int8(content: bytes, scheme: Scheme, calibration: Calibration | None, label: str) -> tuple[bytes, int]:
    return _quantized(content, scheme, calibration, label)


def int16x8(content: bytes, scheme: Scheme, calibration: Calibration | None, label: str) -> tuple[bytes, int]:
    return _quantized(content, scheme, calibration, label)


def _quantized(content: bytes, scheme: Scheme, calibration: Calibration | None, label: str) -> tuple[bytes, int]:
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    from tasks.model.calibration import Calibration, tflite_failed

    calibrated, samples = (calibration or Calibration()).calibrated(content, label)
    io = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16}[scheme.io]
    per_tensor = not scheme.per_channel
    try:
        if scheme.type == "int8":
            progress(f"quantizing to int8, ranges of {samples} samples")
            result = convert.mlir_quantize(calibrated, per_tensor, input_data_type=io, output_data_type=io)
            return bytes(result), samples
        progress(f"quantizing to int16 activations, int8 weights, ranges of {samples} samples")
        # What Calibrator.calibrate_and_quantize does after feeding the samples, on a model that has their ranges
        # already.  Ops without a 16x8 kernel stay float (allow_float; TFLiteConverter does the same with
        # EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 + TFLITE_BUILTINS).
        number = {t: np.dtype(t.as_numpy_dtype()).num for t in (io, tf.int16, tf.int64)}
        quantizer = calibrator.Calibrator(calibrated)._calibrator  # the wrapper: Calibrator has no quantize-only call
        bits, bias = number[tf.int16], number[tf.int64]
        result = quantizer.QuantizeModel(number[io], number[io], True, bits, bias, per_tensor, False)
        return bytes(result), samples
    except (RuntimeError, ValueError) as exc:
        raise tflite_failed(label, exc) from None
