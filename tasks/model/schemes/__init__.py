"""The scheme table: every type ``quantization.NAME.type`` can name, one row each, in the schema's order.

A scheme type is one row here and, when NPUForge quantizes it itself, one
module of this package with its quantize function.  The row says whether the
type needs calibration data, its activation bits (for an override that names
it, and for ai-edge-quantizer's recipes), which ``io`` types fit it, which
toolchains may build it, the keys only it reads, and its words in the schema.
Config's rules, the toolchains' key tables, the quantize step and
schema/project.schema.json read it; nothing else lists scheme types.

``Scheme`` is what the quantize step hands to tasks/model/quantizer.py: the
settings of one scheme, typed.  Quantize functions import their tools
(TensorFlow, ai-edge-quantizer) inside, so this table is light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tasks.keys import Key
from tasks.model.schemes import converter, weights_only

if TYPE_CHECKING:
    from tasks.model.calibration import Calibration

# (content, scheme, its calibration, label) -> (the quantized model, how many samples calibrated it)
Quantize = Callable[[bytes, "Scheme", "Calibration | None", str], tuple[bytes, int | None]]


@dataclass(frozen=True, kw_only=True)
class SchemeType:
    """One row of the scheme table."""

    name: str  # quantization.NAME.type
    doc: str  # its words in the schema: what it does
    calibrated: bool  # needs calibration data (models.NAME.calibration)
    bits: int | None = None  # activation bits when integer inside (8 or 16); an override naming it picks these
    quantize: Quantize | None = None  # its own quantize function; None: a recipe (auto) or a toolchain quantizes it
    io: tuple[str, ...] = ("float32",)  # the io types that fit it
    override: bool = False  # an override may name it (a layer's precision)
    tflite: bool = True  # TensorFlow Lite's toolchains build it (else only one that quantizes itself: SyNAP)
    synap: str | None = None  # SyNAP's data type for it (None: SyNAP does not take it)
    keys: tuple[Key, ...] = ()  # quantization keys only this type reads
    declared: bool = True  # project.yaml may name it (else NPUForge gives it: a model that arrives quantized)

    @property
    def integer(self) -> bool:
        """Integer inside: operators a converter leaves in float are reported."""
        return self.bits is not None


GOAL = Key(
    "goal",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["metric"],
        "properties": {
            "metric": {
                "type": "string",
                "minLength": 1,
                "description": "A task metric (landmark_px_mean, top1_agreement, ...) or snr_db / cosine.",
            },
            "output": {
                "type": "string",
                "minLength": 1,
                "description": "For snr_db / cosine: this output (default: the worst output).",
            },
            "min": {"type": "number", "description": "The metric must be at least this."},
            "max": {"type": "number", "description": "The metric must be at most this."},
        },
    },
    "Type auto: what the chosen model must reach, measured on the validation set like a gate: a task metric, "
    "or snr_db / cosine (of output, default the worst).",
)
BUDGET = Key(
    "budget",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["target", "max_ms"],
        "properties": {
            "target": {
                "type": "string",
                "minLength": 1,
                "description": "A target with compiler vela: every candidate is compiled for it.",
            },
            "max_ms": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Vela's estimated inference time, in milliseconds.",
            },
        },
    },
    "Type auto: the latency the chosen model may cost, Vela's estimate for a vela target.",
)

SCHEMES: tuple[SchemeType, ...] = (
    SchemeType(
        name="int8",
        doc="integer inside, calibrated",
        calibrated=True,
        bits=8,
        quantize=converter.int8,
        io=("float32", "int8", "uint8"),
        override=True,
        synap="int8",
    ),
    SchemeType(
        name="int16x8",
        doc="16-bit activations, 8-bit weights",
        calibrated=True,
        bits=16,
        quantize=converter.int16x8,
        io=("float32", "int16"),
        override=True,
        synap="int16",
    ),
    SchemeType(
        name="auto",
        doc="int8 with the layers a search picks in int16x8, to reach goal within budget",
        calibrated=True,
        bits=8,
        io=("float32", "int8"),
        synap="int8",
        keys=(GOAL, BUDGET),
    ),
    SchemeType(
        name="float16",
        doc="float16 weights",
        calibrated=False,
        quantize=weights_only.float16,
        synap="float16",
    ),
    SchemeType(
        name="dynamic",
        doc="int8 weights, float activations",
        calibrated=False,
        quantize=weights_only.dynamic,
    ),
    SchemeType(
        name="prequantized",
        doc="a model that arrives quantized (int8, uint8 or int16 activations), built as it is: no quantize step",
        calibrated=False,
        declared=False,
    ),
    SchemeType(
        name="uint8",
        doc="a SyNAP data type (synap targets only)",
        calibrated=True,
        override=True,
        tflite=False,
        synap="uint8",
    ),
    SchemeType(
        name="int16",
        doc="a SyNAP data type (synap targets only)",
        calibrated=True,
        override=True,
        tflite=False,
        synap="int16",
    ),
)

BY_NAME: dict[str, SchemeType] = {s.name: s for s in SCHEMES}
FLOAT = "float"  # an override's precision that keeps its layers float
AUTO = "auto"  # the type a search chooses the layers of (tasks/model/mixed_search.py)
PREQUANTIZED = "prequantized"  # the scheme (and its name) of every variant of a model that arrives quantized


def names(**where: Any) -> tuple[str, ...]:
    """The types whose rows have these values, in table order: ``names(calibrated=True)``."""
    return tuple(s.name for s in SCHEMES if all(getattr(s, k) == v for k, v in where.items()))


def override_bits(kind: str) -> int | None:
    """An override's activation bits (None: float)."""
    return None if kind == FLOAT else BY_NAME[kind].bits


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """The settings one quantize step quantizes with (quantization.NAME, or the search's choice for auto)."""

    type: str  # a type of the scheme table: int8, int16x8, auto (int8 with the overrides its search chose), …
    io: str = "float32"
    per_channel: bool = True
    overrides: tuple[dict[str, str], ...] = ()  # {type, match} or {type, from}, later entries win
    weights: str = "min_max"  # int8 weight rounding: min_max | octav | mse

    @property
    def row(self) -> SchemeType:
        return BY_NAME[self.type]

    @property
    def recipe(self) -> bool:
        """Quantized by an ai-edge-quantizer recipe (overrides, searched weights) rather than its row's function."""
        return bool(self.overrides) or self.weights != "min_max"

    def chosen(self, choice: dict[str, Any]) -> Scheme:
        """This scheme with a search's choice (search.json's ``chosen.scheme``: type, weights, overrides)."""
        return replace(
            self,
            type=choice["type"],
            weights=choice.get("weights", self.weights),
            overrides=tuple(choice.get("overrides") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class Where:
    """Whose model a quantize step quantizes, as project.yaml names it: for messages, never parsed from a label."""

    scheme: str  # quantization.NAME's NAME
    model: str  # models.NAME
    unit: str  # models.NAME, or models.NAME.prune.VARIANT for a pruned output
