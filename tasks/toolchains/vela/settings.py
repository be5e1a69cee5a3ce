"""A Vela target's settings (``targets.NAME`` with ``compiler: vela``), its artifact's path and its facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from tasks.keys import Keys, boolean, enum, integer, string, strings
from tasks.planning.options import added, input_file
from tasks.toolchains.base import FileOf, Settings

if TYPE_CHECKING:
    from tasks.config import Variant
    from tasks.engine.plan import Paths

DEFAULT_VELA_CONFIG = "Arm/vela.ini"  # the vela.ini Vela ships, resolved by Vela itself
ACCELERATORS = (  # Vela's --accelerator-config values
    "ethos-u55-32",
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
    "ethos-u65-512",
    "ethos-u85-128",
    "ethos-u85-256",
    "ethos-u85-512",
    "ethos-u85-1024",
    "ethos-u85-2048",
)

# targets.NAME of compiler vela, beside compiler
TARGET = Keys(
    (
        enum(
            "accelerator",
            ACCELERATORS,
            "Vela's accelerator configuration: the Ethos-U and its MACs per cycle (e.g. ethos-u65-256 on an NXP "
            "i.MX93).",
            required=True,
        ),
        string(
            "system_config",
            "A System_Config section of the Vela config (clocks, memory ports), e.g. Ethos_U65_High_End.",
            required=True,
        ),
        string(
            "memory_mode",
            "A Memory_Mode section of the Vela config, e.g. Shared_Sram, Dedicated_Sram, Sram_Only.",
            required=True,
        ),
        string(
            "config", f"A vela.ini of the project, relative to project.yaml. Default: Vela's own {DEFAULT_VELA_CONFIG}."
        ),
        enum("optimise", ("Performance", "Size"), "What Vela's scheduler optimises for.", default="Performance"),
        integer(
            "arena_cache_size",
            "Size in bytes of the SRAM Vela may use as a cache for the tensor arena (Dedicated_Sram); default: Vela's, "
            "from the memory mode.",
            minimum=1,
        ),
        strings(
            "ignore_ops",
            "TFLite builtin operators Vela leaves on the CPU (--ignore-ops), e.g. [RESIZE_BILINEAR]: to compare "
            "with an NPU mapping, or to keep an operator the NPU computes differently from the reference.",
        ),
        enum(
            "tensor_allocator",
            ("HillClimb", "LinearAlloc", "Greedy"),
            "How Vela places tensors in the arena (--tensor-allocator); default: Vela's, HillClimb.",
        ),
        boolean(
            "separate_io_regions",
            "Put the input and output tensors in regions of their own, so the application can hand buffers in and out "
            "without copies (--separate-io-regions, with the COP2 command format it needs).",
            default=False,
        ),
    )
)


@dataclass(frozen=True, kw_only=True)
class VelaSettings(Settings):
    accelerator: str  # e.g. ethos-u65-256
    system_config: str  # a System_Config section of the Vela config
    memory_mode: str  # a Memory_Mode section of the Vela config
    config: Path | None = input_file(None)  # a project vela.ini; None: Vela's own Arm/vela.ini
    optimise: str = TARGET.default("optimise")  # Performance | Size
    arena_cache_size: int | None = None
    ignore_ops: tuple[str, ...] = added(())  # builtin operator names, upper case
    tensor_allocator: str | None = added(None)
    separate_io_regions: bool = added(False)


def read(raw: dict[str, Any], file_of: FileOf) -> VelaSettings:
    return VelaSettings(
        accelerator=raw.get("accelerator"),
        system_config=raw.get("system_config"),
        memory_mode=raw.get("memory_mode"),
        config=file_of("config", "Vela config") if "config" in raw else None,
        optimise=raw.get("optimise", TARGET.default("optimise")),
        arena_cache_size=raw.get("arena_cache_size"),
        ignore_ops=tuple(op.upper() for op in raw.get("ignore_ops", ())),
        tensor_allocator=raw.get("tensor_allocator"),
        separate_io_regions=raw.get("separate_io_regions", False),
    )


def model_path(paths: Paths, v: Variant) -> Path:
    """Vela's optimised .tflite of a variant: what a Vela target ships."""
    return paths.compile_dir(v) / f"{v.unit}_{v.quantization}_vela.tflite"


class Estimate(TypedDict):
    """Vela's performance estimate of the whole model (its summary CSV)."""

    inference_ms: float
    fps: float
    cycles: int | None
    npu_cycles: int | None
    sram_access_cycles: int | None
    dram_access_cycles: int | None
    macs: int | None
    sram_kib: float
    dram_kib: float
    weights_bytes: int | None
    clock_hz: int | None


class Fallback(TypedDict):
    op: str  # the TFLite operator Vela left on the CPU
    name: str  # its output tensor
    reason: str  # Vela's words


class Facts(TypedDict):
    """compile.json: what a Vela compile adds to a variant's results.json row (ops, cpu_fallback, estimate,
    layers; the analyse step adds findings)."""

    estimate: Estimate
    ops: dict[str, int]  # npu, cpu: operator counts of the compiled model
    cpu_fallback: list[Fallback]
    layers: list[dict[str, Any]]  # one per operator of Vela's per-layer table: name, op, target, cycles, …
    size_bytes: int  # of the optimised .tflite
    arch: dict[str, Any]  # accelerator, macs (per cycle), cores, channel_block
