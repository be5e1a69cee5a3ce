"""The toolchain registry: one row per toolchain folder, in planning order of their steps.

A target's ``compiler`` (and, among one compiler's toolchains, the row's
``claims``: for ``none``, whether the target names a delegate) picks its
toolchain.  The toolchain owns: the keys of a target, a quantization scheme,
a model and a prune variant it reads (any other key given for one of its
variants is an error naming the YAML path and the toolchain, never silently
dropped), the steps each variant gets, the artifact it ships, and the facts
it adds to results.json.  Pure data: imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

from tasks.toolchains import base, cpu, delegate, synap, vela
from tasks.toolchains.base import Toolchain

TOOLCHAINS: tuple[Toolchain, ...] = (vela.TOOLCHAIN, delegate.TOOLCHAIN, cpu.TOOLCHAIN, synap.TOOLCHAIN)

BY_NAME = base.register(TOOLCHAINS)
COMPILERS = tuple(dict.fromkeys(t.compiler for t in TOOLCHAINS))


def for_target(raw: dict[str, Any]) -> Toolchain:
    """The toolchain of a target as project.yaml writes it (``targets.NAME``)."""
    return next(t for t in TOOLCHAINS if t.compiler == raw["compiler"] and t.reads.claims(raw))


def step_kinds() -> tuple:
    """Every toolchain's step kinds, in registry order: their rows of the step table."""
    return tuple(kind for t in TOOLCHAINS for kind in t.builds.step_kinds)
