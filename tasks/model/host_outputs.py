"""The quantized model's outputs on the host, as the evaluate step keeps them for the agreement steps.

The evaluate step runs the quantized model on every validation sample; for a
variant a board's agreement step compares, it keeps the raw outputs of the
first samples, with a digest of each input as the model took it
(``UNIT/QUANT/host-outputs.npz``).  The agreement step takes them instead of
running the model again when its own inputs have those digests
(tasks/model/agreement.py), and runs the model otherwise.

Heavy modules (numpy) are imported inside the functions.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

        from tasks import atomic

        arrays = {"input_sha256": np.array(self.digests, dtype="U64")}
        arrays |= {f"output_{i}": np.stack(v) for i, v in sorted(self.values.items()) if v}
        atomic.write_bytes(path, npz_bytes(arrays, compressed=True))


def taken(path: Path | None, stacks: list[np.ndarray], outs: list[dict[str, Any]]) -> list[np.ndarray] | None:
    """The host's outputs for ``stacks`` as the evaluate step kept them, or None when it kept other inputs, fewer
    samples or not every output (then the model runs here)."""
    import numpy as np

    if path is None or not path.is_file() or len(stacks) != 1:
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            count = len(stacks[0])
            digests = [str(d) for d in npz["input_sha256"]][:count]
            names = [f"output_{int(d['index'])}" for d in outs]
            if digests != [digest(x) for x in stacks[0]] or not set(names) <= set(npz.files):
                return None
            return [npz[name][:count] for name in names]
    except UNREADABLE:  # a damaged file: the model runs here
        return None
