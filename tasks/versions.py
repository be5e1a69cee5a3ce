"""Versions of the tools each step calls, read from package metadata (no import).

They are part of every step's fingerprint: upgrading Vela re-runs the
compiles, upgrading TensorFlow re-runs imports and quantization.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

# step kind -> distributions whose code decides that step's output bytes
STEP_TOOLS: dict[str, tuple[str, ...]] = {
    "fetch": ("pip",),
    "import": ("tensorflow", "keras", "ai-edge-litert", "numpy"),
    "quantize": ("tensorflow", "ai-edge-litert", "numpy", "pillow"),
    "compile": ("ethos-u-vela",),
}

# distributions that provide the same import under another name
_ALIASES = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


@cache
def version(dist: str) -> str:
    for name in _ALIASES.get(dist, (dist,)):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def tool_versions(kind: str) -> dict[str, str]:
    return {dist: version(dist) for dist in STEP_TOOLS.get(kind, ())}
