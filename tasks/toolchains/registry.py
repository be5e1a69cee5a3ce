"""The toolchain registry: how a target's variants are built, and which project.yaml keys that uses.

A target's ``compiler`` (and, for ``none``, whether it names a delegate) picks
its toolchain.  The toolchain owns: the keys of a target, a quantization
scheme, a model and a prune variant it reads (any other key given for one of
its variants is an error naming the YAML path and the toolchain, never
silently dropped), the steps each variant gets, the artifact it ships, and the
facts it adds to results.json.  Pure data: imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_VELA_CONFIG = "Arm/vela.ini"  # the vela.ini Vela ships, resolved by Vela itself


@dataclass(frozen=True)
class Toolchain:
    name: str
    doc: str
    compiler: str  # targets.NAME.compiler
    quantizes: bool  # NPUForge imports and quantizes with TensorFlow Lite (else the toolchain does)
    steps: tuple[str, ...]  # step kinds (rows of tasks.steps.STEPS) each variant gets
    artifact: str  # what ships: "vela" (Vela's .tflite), "quantized" (the quantized .tflite), "synap"
    facts: tuple[str, ...]  # results.json keys it fills beyond the common ones
    target_keys: frozenset[str]
    quantization_keys: frozenset[str]
    quantization_types: tuple[str, ...]
    override_keys: frozenset[str]  # keys of one quantization override
    override_types: tuple[str, ...]
    model_keys: frozenset[str]  # keys of a model beyond source, input_shape, calibration, validation, task, prune
    prune_keys: frozenset[str]  # keys of a prune variant beyond outputs


_TFLITE_QUANT = frozenset({"type", "io", "per_channel", "overrides", "weights", "goal", "budget"})
_TFLITE_TYPES = ("int8", "int16x8", "auto", "float16", "dynamic")

TOOLCHAINS: tuple[Toolchain, ...] = (
    Toolchain(
        "vela", "Arm Ethos-U through the Vela compiler", "vela", True, ("compile", "analyse"), "vela",
        ("ops", "cpu_fallback", "estimate", "layers", "findings"),
        frozenset({"compiler", "accelerator", "system_config", "memory_mode", "config", "optimise", "arena_cache_size"}),
        _TFLITE_QUANT, _TFLITE_TYPES, frozenset({"type", "match", "from"}), ("int8", "int16x8", "float"),
        frozenset({"rewrites", "onnx2tf"}), frozenset({"inputs"}),
    ),
    Toolchain(
        "delegate", "the quantized .tflite through a TFLite delegate on the board (VX, Arm NN, XNNPACK)", "none",
        True, ("analyse-delegate",), "quantized", ("findings",),
        frozenset({"compiler", "delegate", "delegate_options"}),
        _TFLITE_QUANT, _TFLITE_TYPES, frozenset({"type", "match", "from"}), ("int8", "int16x8", "float"),
        frozenset({"rewrites", "onnx2tf"}), frozenset({"inputs"}),
    ),
    Toolchain(
        "tflite", "the quantized .tflite on the CPU (TFLite's own kernels)", "none", True, (), "quantized", (),
        frozenset({"compiler"}),
        _TFLITE_QUANT, _TFLITE_TYPES, frozenset({"type", "match", "from"}), ("int8", "int16x8", "float"),
        frozenset({"rewrites", "onnx2tf"}), frozenset({"inputs"}),
    ),
    Toolchain(
        "synap", "Synaptics SyNAP: synap convert quantizes and compiles the source model", "synap", False,
        ("metafile", "compile-synap"), "synap", ("model_info",),
        frozenset({"compiler", "soc", "toolkit"}),
        frozenset({"type", "overrides", "scheme", "algorithm", "goal", "budget"}),
        ("uint8", "int8", "int16", "int16x8", "auto", "float16"),
        frozenset({"type", "from"}), ("uint8", "int8", "int16", "int16x8", "float"),
        frozenset({"synap"}), frozenset({"synap"}),
    ),
)  # fmt: skip

BY_NAME = {t.name: t for t in TOOLCHAINS}
VELA, DELEGATE, TFLITE, SYNAP = TOOLCHAINS


def for_target(compiler: str, delegate: str | None) -> Toolchain:
    """The toolchain of a target with this ``compiler`` (and, for ``none``, this ``delegate``)."""
    if compiler == "none":
        return DELEGATE if delegate else TFLITE
    return next(t for t in TOOLCHAINS if t.compiler == compiler)
