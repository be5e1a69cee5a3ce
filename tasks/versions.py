"""Versions of the tools each step calls, read from package metadata (no import).

They are part of every step's fingerprint: upgrading Vela re-runs the
compiles, upgrading TensorFlow re-runs imports and quantization.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path

# step kind -> distributions whose code decides that step's output bytes
STEP_TOOLS: dict[str, tuple[str, ...]] = {
    "fetch": ("pip",),
    "import": ("tensorflow", "keras", "ai-edge-litert", "numpy"),
    "prune": ("ai-edge-litert",),
    "rewrite": ("ai-edge-litert", "numpy"),
    "quantize": ("tensorflow", "ai-edge-litert", "numpy", "pillow"),
    "compile": ("ethos-u-vela",),
    "metafile": ("pyyaml",),
    "evaluate": ("ai-edge-litert", "numpy", "pillow"),
    "report": ("matplotlib",),
    "benchmark": ("ai-edge-litert", "fabric", "paramiko"),
}

# step kind -> this package's files whose code decides that step's output
_STEP_CODE: dict[str, tuple[str, ...]] = {
    "fetch": ("steps/fetch.py", "digests.py"),
    "import": ("steps/import_model.py", "tflite.py"),
    "prune": ("steps/prune.py", "tflite.py"),
    "rewrite": ("steps/rewrite.py", "rewrites/__init__.py", "rewrites/depth_to_space.py", "tflite.py"),
    "quantize": ("steps/quantize.py", "datasets.py", "tflite.py", "quant_errors.py"),
    "compile": ("steps/compile.py", "adapters/vela.py", "tflite.py"),
    "metafile": ("steps/synap.py", "synap.py"),
    "synap": ("steps/synap.py", "adapters/synap.py"),
    "evaluate": ("steps/evaluate.py", "datasets.py", "tflite.py"),
    "results": ("steps/results.py",),
    "release": ("steps/release.py", "digests.py"),
    "gates": ("steps/gates.py", "gates.py"),
    "analyse": ("steps/analyse.py", "analysis.py", "rewrites/__init__.py"),
    "report": ("steps/report.py",),
    "benchmark": (
        "steps/benchmark.py",
        "boards.py",
        "adapters/benchmark_model.py",
        "runners/litert_benchmark.py",
        "digests.py",
    ),
}
_PACKAGE = Path(__file__).resolve().parent

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


@cache
def code_digest(kind: str) -> str:
    """Digest of the step's own implementation: a new NPUForge re-runs the steps it changed."""
    h = hashlib.sha256()
    for name in _STEP_CODE.get(kind, ()):
        h.update(name.encode() + b"\0" + (_PACKAGE / name).read_bytes())
    return h.hexdigest()[:16]


def python_version() -> str:
    import platform

    return platform.python_version()


def tool_versions(kind: str) -> dict[str, str]:
    return {"npuforge": code_digest(kind), **{dist: version(dist) for dist in STEP_TOOLS.get(kind, ())}}
