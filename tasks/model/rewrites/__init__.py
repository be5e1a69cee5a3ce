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
    replaces: str  # the op Vela leaves on the CPU (or stops at)
    becomes: str  # what runs on the NPU instead
    default: bool = True  # applied to a model with a Vela target unless its rewrites: say otherwise

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
        Rewrite(
            name="hard_swish",
            module="tasks.model.rewrites.hard_swish",
            replaces="HARD_SWISH",
            becomes="ADD (fused RELU6), MUL, MUL: operators with int16x8 kernels",
            default=False,  # for int16x8 schemes only: in int8 HARD_SWISH is one NPU operator
        ),
    )
}
DEFAULT = tuple(name for name, r in REWRITES.items() if r.default)

# op Vela leaves on the CPU -> the rewrite that fixes it
FIXES = {r.replaces: r.name for r in REWRITES.values() if r.default}
# op left in float by an integer scheme -> the rewrite into operators that have integer kernels
IN_INTEGER = {r.replaces: r.name for r in REWRITES.values() if not r.default}

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
