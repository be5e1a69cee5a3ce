"""A SyNAP target's settings (``compiler: synap``), its artifact's path and its facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from tasks.keys import Keys, string
from tasks.toolchains.base import FileOf, Settings

if TYPE_CHECKING:
    from tasks.config import Model, Variant
    from tasks.engine.plan import Paths

# targets.NAME of compiler synap, beside compiler
TARGET = Keys(
    (
        string(
            "soc",
            "SyNAP target, e.g. VS680, VS640, SL1680 (synap convert --target).",
            pattern="^[A-Za-z0-9_-]+$",
            required=True,
        ),
        string("toolkit", "The command that runs the SyNAP toolkit (default: synap on PATH), e.g. a docker run line."),
    )
)


@dataclass(frozen=True, kw_only=True)
class SynapSettings(Settings):
    soc: str  # synap convert --target (VS680, SL1680, …)
    toolkit: str | None = None  # the command that runs the SyNAP toolkit; None: `synap` on PATH


def read(raw: dict[str, Any], file_of: FileOf) -> SynapSettings:
    return SynapSettings(soc=raw.get("soc"), toolkit=raw.get("toolkit"))


def model_path(paths: Paths, v: Variant) -> Path:
    """SyNAP's compiled model of a variant: what a SyNAP target ships."""
    return paths.compile_dir(v) / f"{v.unit}_{v.quantization}.synap"


def source_as_is(paths: Paths, model: Model) -> Path | None:
    """The model file SyNAP converts as it is (.onnx, .tflite); None when it needs the import step."""
    if model.source.kind == "pip":
        return paths.fetched(model)
    if model.source.kind == "file" and model.source.path.suffix in (".onnx", ".tflite"):
        return model.source.path
    return None


def source(paths: Paths, model: Model) -> Path:
    """What synap convert reads: the source as it is, else the import step's float .tflite."""
    return source_as_is(paths, model) or paths.float_model(model.name)


def needs_import(paths: Paths, model: Model) -> bool:
    return source_as_is(paths, model) is None


class Facts(TypedDict):
    """compile.json of a SyNAP compile; model_info is what it adds to a variant's results.json row."""

    compiler: str  # "synap"
    soc: str
    toolkit: str  # the command that ran
    size_bytes: int
    model_info: dict[str, Any]  # SyNAP's model_info.txt: inputs, outputs (name, shape, …), layers
