"""Rewrites of the float graph that put on the NPU what Vela would leave on the CPU.

One module per rewrite, registered in ``REWRITES`` below (in the order they run).  A module has
``apply(model) -> records``: it finds its pattern and builds the equivalent ops in place, one
record per match (``done`` true, or false with the ``reason`` it was left).  The rewrite step
then proves the whole rewritten model equal to the original on random inputs.

This table imports nothing heavy: planning and the analyse step read it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True, kw_only=True)
class Rewrite:
    name: str
    module: str
    replaces: str  # the op Vela leaves on the CPU
    becomes: str  # what runs on the NPU instead

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


REWRITES = {
    r.name: r
    for r in (
        Rewrite(
            name="depth_to_space",
            module="tasks.model.rewrites.depth_to_space",
            replaces="DEPTH_TO_SPACE",
            becomes="TRANSPOSE_CONV",
        ),
    )
}

# op Vela leaves on the CPU -> the rewrite that fixes it
FIXES = {r.replaces: r.name for r in REWRITES.values()}

# custom operators the import step turns into builtin ones (proven equal to the original there)
CUSTOM_OPS = {
    r.replaces: r
    for r in (
        Rewrite(
            name="transpose_conv_bias",
            module="tasks.model.rewrites.transpose_conv_bias",
            replaces="Convolution2DTransposeBias",
            becomes="TRANSPOSE_CONV",
        ),
    )
}
