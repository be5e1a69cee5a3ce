"""The quantized .tflite run through a TFLite delegate on the board (VX, Arm NN, XNNPACK): no compile step."""

from __future__ import annotations

from tasks.planning.step import StepKind, whole
from tasks.toolchains import base
from tasks.toolchains.delegate import analyse, settings

TOOLCHAIN = base.Toolchain(
    name="delegate",
    doc="the quantized .tflite through a TFLite delegate on the board (VX, Arm NN, XNNPACK)",
    compiler="none",
    reads=base.Reads(
        claims=settings.claims,
        settings=settings.DelegateSettings,
        read=settings.read,
        target=settings.TARGET,
        **base.TFLITE_KEYS,
    ),
    builds=base.Builds(
        quantizes=True,
        step_kinds=(
            StepKind(
                name="analyse-delegate",
                doc="list the operators a TFLite delegate may leave on the CPU",
                run=analyse.delegated,
                options=analyse.DelegateOptions,
                plan=analyse.plan_analyse_delegate,
                basename="analyse",
                cached=True,
                isolated=False,
                cost=0.05,
                facts=whole("findings"),
            ),
        ),
    ),
    ships=base.Ships(artifact="quantized", path=base.quantized_model),
)
