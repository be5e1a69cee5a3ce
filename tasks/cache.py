"""A shared, content-addressed step cache (``cache: {dir: PATH}`` or NPUFORGE_CACHE).

A step's key is the sha256 of its kind, its fingerprinted parameters (tool
versions included) and the sha256 of each input file.  An entry is a folder
named by the key holding the step's outputs and ENTRY.json with their sha256.
Entries are written under a temporary name and renamed, so two CI jobs sharing
an NFS folder never see half an entry; an entry whose files do not match
ENTRY.json is ignored (and replaced by the next store).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.digests import sha256_file

ENTRY = "ENTRY.json"


def key(kind: str, params: dict[str, Any], inputs: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "params": params}, sort_keys=True).encode())
    for path in inputs:
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = path.name
        h.update(f"\0{name}\0{sha256_file(path)}".encode())
    return h.hexdigest()


def restore(cache_dir: Path, entry_key: str, targets: list[Path]) -> bool:
    """Copy a complete, intact entry's files to ``targets``; False when there is none."""
    entry = cache_dir / entry_key[:2] / entry_key
    try:
        recorded = json.loads((entry / ENTRY).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    names = [t.name for t in targets]
    if sorted(recorded) != sorted(names):
        return False
    for name, digest in recorded.items():
        stored = entry / name
        if not stored.is_file() or sha256_file(stored) != digest:
            return False  # corrupt or half-deleted: ignored, replaced by the next store
    for target in targets:
        atomic.copy_file(entry / target.name, target)
    return True


def store(cache_dir: Path, entry_key: str, targets: list[Path]) -> None:
    """Add the step's outputs as an entry; an intact existing entry is kept."""
    final = cache_dir / entry_key[:2] / entry_key
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry_key[:12]}.", suffix=".tmp", dir=final.parent))
    try:
        files = {}
        for target in targets:
            shutil.copyfile(target, work / target.name)
            files[target.name] = sha256_file(work / target.name)
        (work / ENTRY).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
        if final.exists():
            if _intact(final, files):
                return
            broken = final.with_name(f".{entry_key[:12]}.broken.{os.getpid()}")
            os.replace(final, broken)
            shutil.rmtree(broken, ignore_errors=True)
        try:
            os.replace(work, final)
        except OSError:  # another job stored the same entry first
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _intact(entry: Path, files: dict[str, str]) -> bool:
    try:
        recorded = json.loads((entry / ENTRY).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    return recorded == files and all((entry / n).is_file() and sha256_file(entry / n) == d for n, d in files.items())
