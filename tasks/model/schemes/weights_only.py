"""dynamic and float16: ai-edge-quantizer on the float .tflite, weights only (no calibration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.progress import progress

if TYPE_CHECKING:
    from tasks.model.calibration import Calibration
    from tasks.model.schemes import Scheme


def dynamic(content: bytes, scheme: Scheme, calibration: Calibration | None, label: str) -> tuple[bytes, None]:
    return _weights(content, scheme, dynamic=True), None


def float16(content: bytes, scheme: Scheme, calibration: Calibration | None, label: str) -> tuple[bytes, None]:
    return _weights(content, scheme, dynamic=False), None


def _weights(content: bytes, scheme: Scheme, dynamic: bool) -> bytes:
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    qt = quantizer.Quantizer(bytearray(content))
    ops = qtyping.TFLOperationName.ALL_SUPPORTED
    granularity = qtyping.QuantGranularity.CHANNELWISE if scheme.per_channel else qtyping.QuantGranularity.TENSORWISE
    if dynamic:
        progress("dynamic-range quantization: int8 weights, float activations")
        qt.add_dynamic_config(".*", ops, 8, granularity)
    else:
        progress("float16 weights")
        qt.add_weight_only_config(".*", ops, 16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    return bytes(qt.quantize(enable_progress_report=False).quantized_model)
