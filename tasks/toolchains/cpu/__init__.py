"""The quantized .tflite on the CPU, with TFLite's own kernels: nothing to compile, nothing to set."""

from __future__ import annotations

from typing import Any

from tasks.toolchains import base


def _read(raw: dict[str, Any], file_of: base.FileOf) -> base.Settings:
    return base.Settings()


TOOLCHAIN = base.Toolchain(
    name="cpu",
    doc="the quantized .tflite on the CPU (TFLite's own kernels)",
    compiler="none",
    reads=base.Reads(settings=base.Settings, read=_read, **base.TFLITE_KEYS),
    builds=base.Builds(quantizes=True, step_kinds=()),
    ships=base.Ships(artifact="quantized", path=base.quantized_model),
)
