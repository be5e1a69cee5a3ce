"""Synaptics SyNAP (VS680, SL1680, …): synap convert quantizes and compiles the source model from a metafile."""

from __future__ import annotations

from tasks.model import schemes
from tasks.planning.step import StepKind, picked
from tasks.toolchains import base
from tasks.toolchains.synap import rules, runtime, settings, steps

TOOLCHAIN = base.Toolchain(
    name="synap",
    doc="Synaptics SyNAP: synap convert quantizes and compiles the source model",
    compiler="synap",
    reads=base.Reads(
        settings=settings.SynapSettings,
        read=settings.read,
        rules=(
            base.ToolchainRule(
                name="prune synap outputs",
                doc="a prune variant's synap outputs are at most its kept outputs",
                check=rules.prune_outputs,
            ),
            base.ToolchainRule(
                name="synap calibration", doc="SyNAP calibrates on files", check=rules.calibrates_on_files
            ),
            base.ToolchainRule(
                name="synap boards",
                doc="a SyNAP target's models run on a SyNAP board (synap_cli)",
                check=rules.boards_run_synap_cli,
            ),
        ),
        hints={
            "io": "io is a TensorFlow Lite setting; for variant {id} say dequantize: per output under "
            "the model's synap: outputs",
            "per_channel": "per_channel is a TensorFlow Lite setting; variant {id} is quantized by SyNAP, which "
            "would drop it: use scheme: perchannel_symmetric_affine for SyNAP, "
            "or build this scheme for TensorFlow Lite "
            "targets only",
            "match": "SyNAP picks layers by name, not by pattern (variant {id}); use from: LAYER "
            "(that layer and every layer after it)",
        },
        target=settings.TARGET,
        quantization_keys=frozenset({"type", "overrides", "scheme", "algorithm", "goal", "budget"}),
        quantization_types=tuple(s.name for s in schemes.SCHEMES if s.synap),
        override_keys=frozenset({"type", "from"}),
        override_types=(*(s.name for s in schemes.SCHEMES if s.synap and s.override), schemes.FLOAT),
        model_keys=frozenset({"synap"}),
        prune_keys=frozenset({"synap"}),
    ),
    builds=base.Builds(
        quantizes=False,
        step_kinds=(
            StepKind(
                name="metafile",
                doc="write SyNAP's conversion metafile (inputs, outputs, quantization) from project.yaml",
                run=steps.metafile,
                options=steps.MetafileOptions,
                plan=steps.plan_metafile,
                tools=("pyyaml",),
                isolated=False,
                cost=0.05,
            ),
            StepKind(
                name="compile-synap",
                doc="compile for a Synaptics SoC with the SyNAP toolkit (synap convert)",
                run=steps.convert,
                options=steps.ConvertOptions,
                plan=steps.plan_convert,
                basename="compile",
                cost=30,
                facts=picked(("model_info",), file="facts"),
            ),
        ),
        imports=settings.needs_import,
    ),
    ships=base.Ships(artifact="synap", path=settings.model_path, runtime="synap_cli", runner=runtime),
)
