"""Write every artifact under a temporary name, then rename it into place.

A killed build leaves either the complete old file, the complete new one, or
nothing, never half a file; the next run redoes only what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def temp_path(final: Path) -> Path:
    """A fresh temporary name beside ``final`` (same folder, so rename is atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp makes 0600; artifacts are for sharing
    return Path(name)


def publish(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)


def write_bytes(final: Path, data: bytes) -> None:
    tmp = temp_path(final)
    try:
        tmp.write_bytes(data)
        publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(final: Path, text: str) -> None:
    write_bytes(final, text.encode())


def write_json(final: Path, data: Any) -> None:
    write_text(final, json.dumps(data, indent=2, sort_keys=False) + "\n")


def copy_file(src: Path, final: Path) -> None:
    tmp = temp_path(final)
    try:
        shutil.copyfile(src, tmp)
        publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
