"""One writing build of a project at a time (``build/.lock``), and the temporary files a killed one left.

A second writing command waits and says for whom, or with ``--no-wait`` stops
with an error; ``list``, ``info``, ``help`` and ``explain`` never wait.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import sys
from pathlib import Path

from tasks.errors import ConfigError

LOCK_NAME = ".lock"
TEMP_SUFFIX = ".tmp"  # every temporary name NPUForge makes is ".<name>...tmp"


class BuildLock:
    """An exclusive POSIX lock on build/.lock, held for the life of the process.

    POSIX (``lockf``) locks belong to the process: step processes do not
    inherit them, and the kernel drops them when the holder dies, even by
    SIGKILL.  The file says who holds it and whether that build ended cleanly.
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.previous = ""

    def _read(self) -> str:
        return os.pread(self.fd, 200, 0).decode(errors="replace")

    def acquire(self, wait: bool) -> None:
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = self._read().split()
            who = f"pid {holder[0]}" if holder else "pid unknown"
            if not wait:
                raise ConfigError(
                    f"another build of this project is running ({who}, lock {self.path}); "
                    "wait for it to end, or run without --no-wait to queue behind it"
                ) from None
            print(f"waiting for another build of this project ({who}) …", file=sys.stderr, flush=True)
            fcntl.lockf(self.fd, fcntl.LOCK_EX)
        self.previous = self._read()
        self._state("running")

    def _state(self, state: str) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()} {state}\n".encode(), 0)

    @property
    def previous_ended_cleanly(self) -> bool:
        return not self.previous or self.previous.split()[-1:] == ["done"]

    def release(self, state: str) -> None:
        self._state(state)
        fcntl.lockf(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def sweep(build_dir: Path) -> list[Path]:
    """Remove NPUForge's temporary files and folders under ``build_dir``; return what went.

    Only safe under the build lock: no other process of this project is writing.
    """
    removed = []
    for folder, dirs, files in os.walk(build_dir):
        for name in [*dirs, *files]:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                path = Path(folder) / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        dirs[:] = [d for d in dirs if not (d.startswith(".") and d.endswith(TEMP_SUFFIX))]
    return removed


def take_lock(build_dir: Path, wait: bool) -> BuildLock:
    """Before doit opens the database of a writing command: one writing build of a project at a time."""
    lock = BuildLock(build_dir / LOCK_NAME)
    lock.acquire(wait)
    if not lock.previous_ended_cleanly:
        left = sweep(build_dir)
        if left:
            print(f"removed {len(left)} temporary file(s) left by an interrupted build", file=sys.stderr)
    return lock


def release_lock(lock: BuildLock | None, interrupted: bool) -> None:
    if lock is None:
        return
    if interrupted:
        sweep(lock.path.parent)
    lock.release("interrupted" if interrupted else "done")
