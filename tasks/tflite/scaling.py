"""A model's integer inputs and outputs against their float values: each tensor's scale and zero point.

numpy only, so the board's pipeline runner (tasks/model/pipeline_runner.py) takes it along with the host's
evaluation (tasks/model/accuracy.py) and agreement (tasks/model/agreement.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """A float sample as an interpreter input of ``detail``'s type (quantized with its scale and zero point)."""
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return x.astype(detail["dtype"])


def dequantized(value: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """An output's float values: an integer output through its (scale, zero point); any other as it is."""
    scale, zero = quantization
    if np.issubdtype(value.dtype, np.integer) and scale:
        return (value.astype(np.float32) - zero) * scale
    return value
