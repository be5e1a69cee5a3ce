"""The quantized model's outputs on the host, as the evaluate step keeps them for the agreement steps.

The evaluate step runs the quantized model on every validation sample; for a
variant a board's agreement step compares, it keeps the raw outputs of the
first samples, with a digest of each input as the model took it
(``UNIT/QUANT/host-outputs.npz``).  The agreement step takes them instead of
running the model again when its own inputs have those digests
(tasks/model/agreement.py), and runs the model otherwise.  ``write`` and
``read`` are the kept file's format (the samples' digests beside the arrays),
shared with the float model's kept outputs (tasks/model/expected.py).

Heavy modules (numpy) are imported inside the functions.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)  # npz members' time stamp: the same inputs give the same bytes (uploaded once)
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)  # what np.load of a damaged .npz raises


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    """``arrays`` as an .npz whose bytes depend on the arrays only (no time stamps)."""
    import numpy as np

    buffer, how = io.BytesIO(), zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w") as npz:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            npz.writestr(zipfile.ZipInfo(f"{name}.npy", _EPOCH), member.getvalue(), compress_type=how)
    return buffer.getvalue()


def write(path: Path, digests: list[str], arrays: dict[str, np.ndarray], compressed: bool = False) -> None:
    """Outputs kept for other steps: ``arrays``, with the digest of each sample they are of, as one .npz."""
    import numpy as np

    from tasks import atomic

    atomic.write_bytes(path, npz_bytes({"input_sha256": np.array(digests, dtype="U64"), **arrays}, compressed))


def read(path: Path | None, samples: Sequence[np.ndarray]) -> dict[str, np.ndarray] | None:
    """The arrays of a file ``write`` made, when its first samples are ``samples`` (by digest); None when it is
    missing, damaged, or of other or fewer samples (then the model runs where its outputs were wanted)."""
    import numpy as np

    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            digests = [str(d) for d in npz["input_sha256"]]
            if len(samples) > len(digests) or digests[: len(samples)] != [digest(x) for x in samples]:
                return None
            return {name: npz[name] for name in npz.files if name != "input_sha256"}
    except UNREADABLE:
        return None


def digest(array: np.ndarray) -> str:
    import hashlib

    import numpy as np

    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype.str}{list(array.shape)}".encode() + array.tobytes()).hexdigest()


class Keeper:
    """The evaluate step's side: the quantized model's inputs (their digests) and raw outputs on its first ``count``
    samples, written as one .npz the agreement steps read instead of running the model again."""

    def __init__(self, outputs: dict[str, dict[str, Any]], count: int):
        self.index = {name: int(d["index"]) for name, d in outputs.items()}  # signature name → tensor index
        self.count = count
        self.digests: list[str] = []
        self.values: dict[int, list[np.ndarray]] = {i: [] for i in self.index.values()}

    def add(self, given: np.ndarray, raw: dict[str, np.ndarray]) -> None:
        if len(self.digests) < self.count:
            self.digests.append(digest(given))
            for name, value in raw.items():
                self.values[self.index[name]].append(value.copy())

    def write(self, path: Path) -> None:
        import numpy as np

        arrays = {f"output_{i}": np.stack(v) for i, v in sorted(self.values.items()) if v}
        write(path, self.digests, arrays, compressed=True)


def taken(path: Path | None, stacks: list[np.ndarray], outs: list[dict[str, Any]]) -> list[np.ndarray] | None:
    """The host's outputs for ``stacks`` as the evaluate step kept them, or None when it kept other inputs, fewer
    samples or not every output (then the model runs here)."""
    if len(stacks) != 1:
        return None
    arrays = read(path, stacks[0])
    names = [f"output_{int(d['index'])}" for d in outs]
    if arrays is None or not set(names) <= set(arrays):
        return None
    return [arrays[name][: len(stacks[0])] for name in names]
