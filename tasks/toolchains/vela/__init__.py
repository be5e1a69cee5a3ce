"""Arm Ethos-U (U55, U65, U85) through the Vela compiler: the quantized .tflite compiled, its layers analysed."""

from __future__ import annotations

from tasks.planning.step import StepKind, picked, whole
from tasks.toolchains import base
from tasks.toolchains.vela import analyse, compile, rules, settings

TOOLCHAIN = base.Toolchain(
    name="vela",
    doc="Arm Ethos-U through the Vela compiler",
    compiler="vela",
    reads=base.Reads(
        settings=settings.VelaSettings,
        read=settings.read,
        rules=(
            base.ToolchainRule(
                name="vela sections",
                doc="system_config and memory_mode are sections of the target's vela.ini",
                check=rules.vela_sections_exist,
            ),
            base.ToolchainRule(
                name="vela ignore_ops",
                doc="ignore_ops names TFLite builtin operators",
                check=rules.vela_ignore_ops_known,
            ),
        ),
        target=settings.TARGET,
        **base.TFLITE_KEYS,
    ),
    builds=base.Builds(
        quantizes=True,
        step_kinds=(
            StepKind(
                name="compile",
                doc="compile for the NPU with Vela",
                run=compile.run,
                options=compile.Options,
                plan=compile.plan_compile,
                tools=("ethos-u-vela",),
                cached=True,
                cost=0.3,
                facts=picked(("ops", "cpu_fallback", "estimate", "layers"), file="facts"),
            ),
            StepKind(
                name="analyse",
                doc="find hot, padded, memory-bound and CPU-bound layers in Vela's per-layer numbers",
                run=analyse.run,
                options=analyse.Options,
                plan=analyse.plan_analyse,
                isolated=False,
                cached=True,
                cost=0.05,
                facts=whole("findings"),
            ),
        ),
        warm=("ethos-u-vela", "vela"),
        latency=compile.Latency,
        rewrites=True,
    ),
    ships=base.Ships(artifact="vela", path=settings.model_path),
)
