"""The quantized .tflite run through a TFLite delegate on the board (VX, Arm NN, XNNPACK): no compile step."""

from __future__ import annotations

from tasks.planning.step import StepKind
from tasks.toolchains import base
from tasks.toolchains.delegate import analyse, settings

TOOLCHAIN = base.Toolchain(
    name="delegate",
    doc="the quantized .tflite through a TFLite delegate on the board (VX, Arm NN, XNNPACK)",
    compiler="none",
    claims=settings.claims,
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
        ),
    ),  # fmt: skip
    artifact="quantized",
    artifact_path=base.quantized_model,
    facts=("findings",),
    settings=settings.DelegateSettings,
    read=settings.read,
    target=settings.TARGET,
    **base.TFLITE_KEYS,  # the scheme, override, model and prune keys of TensorFlow Lite's quantizer
)
