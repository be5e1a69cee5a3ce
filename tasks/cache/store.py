"""A shared, content-addressed step cache: a folder (``cache: {dir: PATH}``) or object storage (``cache: {url}``).

A step's key is the sha256 of its kind, its fingerprinted parameters (tool
versions included) and the sha256 of each input file.  Both stores answer
the same two calls, ``restore(key, targets, task)`` and ``store(key, targets)``;
the object store is tasks/cache/remote.py, this module is the folder.

In a folder an entry is a folder named by the key holding the step's outputs
and ENTRY.json with their sha256.  Entries are written under a temporary name
and renamed, so two CI jobs sharing an NFS folder never see half an entry; an
entry whose files do not match ENTRY.json is ignored (and replaced by the next
store).  A restore touches ENTRY.json: with ``max_size_gb`` the least recently
used entries are removed when a store takes the folder past it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tasks import atomic
from tasks.digests import sha256_file
from tasks.progress import say

if TYPE_CHECKING:
    from tasks.config import StepCache

ENTRY = "ENTRY.json"


class Store(Protocol):
    def restore(self, key: str, targets: list[Path], task: str) -> bool: ...

    def store(self, key: str, targets: list[Path]) -> None: ...


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


def open_store(settings: StepCache) -> Store:
    """The store ``settings`` names (NPUFORGE_CACHE_READ_ONLY=1 makes any of them read-only)."""
    read_only = settings.read_only or os.environ.get("NPUFORGE_CACHE_READ_ONLY", "") not in ("", "0")
    if settings.url is not None:
        from tasks.cache import remote as remote_cache

        return remote_cache.Remote(settings.url, read_only)
    assert settings.dir is not None
    return Folder(settings.dir, read_only, settings.max_bytes)


class Folder:
    """The cache in a folder (local, or NFS shared by CI runners)."""

    def __init__(self, root: Path, read_only: bool = False, max_bytes: int | None = None):
        self.root, self.read_only, self.max_bytes = root, read_only, max_bytes
        self._trimming = threading.Lock()

    def restore(self, key: str, targets: list[Path], task: str = "") -> bool:
        """Copy a complete, intact entry's files to ``targets``; False when there is none."""
        entry = self.root / key[:2] / key
        try:
            recorded = json.loads((entry / ENTRY).read_text())["files"]
        except (OSError, ValueError, KeyError):
            return False
        if sorted(recorded) != sorted(t.name for t in targets):
            return False
        for name, digest in recorded.items():
            stored = entry / name
            if not stored.is_file() or sha256_file(stored) != digest:
                return False  # corrupt or half-deleted: ignored, replaced by the next store
        for target in targets:
            atomic.copy_file(entry / target.name, target)
        if not self.read_only:
            try:
                os.utime(entry / ENTRY)  # last used, for the size bound
            except OSError:
                pass
        return True

    def store(self, key: str, targets: list[Path]) -> None:
        """Add the step's outputs as an entry; an intact existing entry is kept."""
        if self.read_only:
            return
        final = self.root / key[:2] / key
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=final.parent))
        try:
            files = {}
            for target in targets:
                shutil.copyfile(target, work / target.name)
                files[target.name] = sha256_file(work / target.name)
            (work / ENTRY).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
            if final.exists():
                if _intact(final, files):
                    return
                broken = final.with_name(f".{key[:12]}.broken.{os.getpid()}")
                os.replace(final, broken)
                shutil.rmtree(broken, ignore_errors=True)
            try:
                os.replace(work, final)
            except OSError:  # another job stored the same entry first
                pass
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if self.max_bytes is not None:
            self.trim(self.max_bytes)

    def trim(self, max_bytes: int) -> list[Path]:
        """Remove the least recently used entries until the folder holds at most ``max_bytes``; those removed."""
        with self._trimming:
            entries = []
            for entry in self.root.glob("??/*"):
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                try:
                    used = (entry / ENTRY).stat().st_mtime
                    size = sum(f.stat().st_size for f in entry.iterdir())
                except OSError:
                    continue  # being replaced by another job
                entries.append((used, entry.name, entry, size))
            total = sum(e[3] for e in entries)
            removed = []
            for _, _, entry, size in sorted(entries):
                if total <= max_bytes:
                    break
                gone = entry.with_name(f".{entry.name[:12]}.trimmed.{os.getpid()}")
                try:
                    os.replace(entry, gone)
                except OSError:
                    continue
                shutil.rmtree(gone, ignore_errors=True)
                total -= size
                removed.append(entry)
            if removed:
                say(
                    f"step cache {self.root}: removed {len(removed)} least recently used entr"
                    f"{'y' if len(removed) == 1 else 'ies'} to stay within {max_bytes / 2**30:.3g} GB"
                )
            return removed


def _intact(entry: Path, files: dict[str, str]) -> bool:
    try:
        recorded = json.loads((entry / ENTRY).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    return recorded == files and all((entry / n).is_file() and sha256_file(entry / n) == d for n, d in files.items())
