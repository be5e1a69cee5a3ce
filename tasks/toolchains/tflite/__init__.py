"""The quantized .tflite on the CPU, with TFLite's own kernels: nothing to compile, nothing to set."""

from __future__ import annotations

from typing import Any

from tasks.toolchains import base


def _read(raw: dict[str, Any], file_of: base.FileOf) -> base.Settings:
    return base.Settings()


TOOLCHAIN = base.Toolchain(
    name="tflite",
    doc="the quantized .tflite on the CPU (TFLite's own kernels)",
    compiler="none",
    quantizes=True,
    step_kinds=(),
    artifact="quantized",
    artifact_path=base.quantized_model,
    facts=(),
    settings=base.Settings,
    read=_read,
    hints=base.TFLITE_HINTS,
    target_keys=frozenset({"compiler"}),
    quantization_keys=base.TFLITE_QUANTIZATION_KEYS,
    quantization_types=base.TFLITE_TYPES,
    override_keys=base.TFLITE_OVERRIDE_KEYS,
    override_types=base.TFLITE_OVERRIDE_TYPES,
    model_keys=base.TFLITE_MODEL_KEYS,
    prune_keys=base.TFLITE_PRUNE_KEYS,
)
