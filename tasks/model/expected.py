"""A float model's outputs on the validation samples, kept once for every step that compares with them.

The evaluate step of each of a unit's schemes, and every candidate of its
automatic scheme's search, compare a quantized model with the float model on
the same validation samples.  The float-outputs step (tasks/steps/float_outputs.py)
runs the float model once and writes its outputs here, with a digest of each
sample; a step that reads them takes them only when its own samples have those
digests, and runs the float model itself otherwise.

Heavy modules (numpy) are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model import host_outputs

if TYPE_CHECKING:
    import numpy as np


def write(out: Path, xs: list[np.ndarray], outputs: list[dict[str, np.ndarray]]) -> None:
    """The float model's ``outputs`` on the samples ``xs``, with a digest of each sample, as one .npz at ``out``."""
    import numpy as np

    names = sorted(outputs[0])
    arrays = {"names": np.array(names)}
    arrays |= {f"output_{k}": np.stack([o[name] for o in outputs]) for k, name in enumerate(names)}
    host_outputs.write(out, [host_outputs.digest(x) for x in xs], arrays)


def read(path: Path | None, xs: list[np.ndarray]) -> list[dict[str, np.ndarray]] | None:
    """The float model's outputs for the samples ``xs`` (the first ones of what was kept), or None when the
    kept ones are of other samples or fewer (then the float model runs where they were wanted)."""
    arrays = host_outputs.read(path, xs)
    if arrays is None:
        return None
    try:
        names = [str(n) for n in arrays["names"]]
        stacks = [arrays[f"output_{k}"] for k in range(len(names))]
    except KeyError:  # not a file this step wrote: the float model runs where it was wanted
        return None
    return [{name: stack[i] for name, stack in zip(names, stacks, strict=True)} for i in range(len(xs))]
