"""What every toolchain folder shares: the registry row's type, its settings' base, TensorFlow Lite's key tables.

Pure data: imports nothing heavy (config loading and planning read it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.keys import Keys
from tasks.model import schemes

if TYPE_CHECKING:
    from tasks.config import Model, Variant
    from tasks.config.rules import Context
    from tasks.engine.plan import Paths
    from tasks.planning.step import StepKind

Found = Iterator[tuple[tuple, str]]  # what a rule yields: (YAML path, message)
FileOf = Callable[[str, str], Path]  # (key, what it is) -> the project file a target's key names, checked


@dataclass(frozen=True, kw_only=True)
class Settings:
    """A target's own settings, as its toolchain reads them from ``targets.NAME`` (``compiler`` aside)."""

    def board_delegate(self) -> tuple[str | None, dict[str, Any] | None]:
        """The TFLite delegate a board runs this target's artifact with (a name or a library) and its options."""
        return None, None


def quantized_model(paths: Paths, v: Variant) -> Path:
    """The quantized .tflite: what a toolchain without a compiler ships."""
    return paths.quantized(v.unit, v.quantization)


@dataclass(frozen=True, kw_only=True)
class ToolchainRule:
    """A check of the loaded project that only this toolchain's targets need (see tasks/config/rules.py)."""

    name: str
    doc: str
    check: Callable[[Context], Found]


@dataclass(frozen=True, kw_only=True)
class Reads:
    """What a toolchain reads from project.yaml: its targets' keys and settings, and the scheme, model and prune
    keys it takes (any other key given for one of its variants is an error naming the YAML path)."""

    target: Keys = Keys(())  # the keys of targets.NAME it reads beside compiler: their types, defaults and docs
    settings: type[Settings]
    read: Callable[[dict[str, Any], FileOf], Settings]  # targets.NAME -> its settings
    claims: Callable[[dict[str, Any]], bool] = lambda raw: True  # among one compiler's toolchains: is a target mine
    rules: tuple[ToolchainRule, ...] = ()
    quantization_keys: frozenset[str]
    quantization_types: tuple[str, ...]
    override_keys: frozenset[str]  # keys of one quantization override
    override_types: tuple[str, ...]
    model_keys: frozenset[str]  # keys of a model beyond source, input_shape, calibration, validation, task, prune
    prune_keys: frozenset[str]  # keys of a prune variant beyond outputs
    hints: dict[str, str] = field(default_factory=dict)  # another toolchain's key given to my variant {id} -> words

    @property
    def target_keys(self) -> frozenset[str]:
        return self.target.names() | {"compiler"}


@dataclass(frozen=True, kw_only=True)
class Builds:
    """How a toolchain's variants are built."""

    quantizes: bool  # NPUForge imports and quantizes with TensorFlow Lite (else the toolchain does)
    step_kinds: tuple[StepKind, ...]  # rows of the step table (tasks.steps.STEPS) each variant gets
    imports: Callable[[Paths, Model], bool] = lambda paths, model: True  # needs the import step's float .tflite
    rewrites: bool = False  # its NPU wants the rewrites (tasks/model/rewrites) unless a model names its own
    # warm workers: (a distribution its steps import, the family of workers that have it imported) — tasks/engine/worker
    warm: tuple[str, str] | None = None
    # an ``auto`` scheme's latency budget may name its targets: the oracle candidates are measured with
    latency: Callable[..., Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Ships:
    """What a toolchain ships and how a board runs it (what it adds to results.json: its step kinds' facts)."""

    artifact: str  # what ships, in words: "vela" (Vela's .tflite), "quantized" (the quantized .tflite), "synap"
    path: Callable[[Paths, Variant], Path]  # where it is
    runtime: str = "litert"  # what runs it on a board: the LiteRT runner (or benchmark_model), or synap_cli
    # the module that runs its artifact on a board when LiteRT does not: NAME, its command and its output's parser
    runner: Any = None


@dataclass(frozen=True, kw_only=True, eq=False)  # a row is itself: compared and hashed by identity
class Toolchain:
    """One row of the registry (tasks/toolchains/registry.py): a name and its three parts."""

    name: str
    doc: str
    compiler: str  # targets.NAME.compiler
    reads: Reads
    builds: Builds
    ships: Ships

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(kind.name for kind in self.builds.step_kinds)

    @property
    def facts(self) -> tuple[str, ...]:
        """The results.json keys its own steps fill (their rows' facts), beyond the common ones."""
        return tuple(k for kind in self.builds.step_kinds if kind.facts for k in kind.facts.keys)

    def __reduce__(self):  # a kept plan (tasks/engine/plan_cache.py) names its rows: they are the registry's
        return _row, (self.name,)


_ROWS: dict[str, Toolchain] = {}  # the registry's rows by name, once it is registered


def register(rows: tuple[Toolchain, ...]) -> dict[str, Toolchain]:
    _ROWS.update((row.name, row) for row in rows)
    return dict(_ROWS)


def _row(name: str) -> Toolchain:
    return _ROWS[name]


# What the toolchains that quantize with TensorFlow Lite read (vela, delegate, cpu).
TFLITE_QUANTIZATION_KEYS = frozenset({"type", "io", "per_channel", "overrides", "weights", "goal", "budget"})
TFLITE_TYPES = schemes.names(tflite=True)
TFLITE_OVERRIDE_KEYS = frozenset({"type", "match", "from"})
TFLITE_OVERRIDE_TYPES = (*schemes.names(override=True, tflite=True), schemes.FLOAT)
TFLITE_MODEL_KEYS = frozenset({"rewrites", "onnx2tf"})
TFLITE_PRUNE_KEYS = frozenset({"inputs"})
TFLITE_HINTS = {
    "scheme": "scheme is a SyNAP setting; variant {id} is quantized by TensorFlow Lite "
    "(use per_channel there), so build this scheme for synap targets only",
    "algorithm": "algorithm is a SyNAP setting; variant {id} is quantized by TensorFlow Lite "
    "(use per_channel there), so build this scheme for synap targets only",
}
# a TensorFlow Lite toolchain's ``Reads`` takes these as they are: **TFLITE_KEYS
TFLITE_KEYS = {
    "quantization_keys": TFLITE_QUANTIZATION_KEYS,
    "quantization_types": TFLITE_TYPES,
    "override_keys": TFLITE_OVERRIDE_KEYS,
    "override_types": TFLITE_OVERRIDE_TYPES,
    "model_keys": TFLITE_MODEL_KEYS,
    "prune_keys": TFLITE_PRUNE_KEYS,
    "hints": TFLITE_HINTS,
}
