"""What NPUForge adds to doit's engine: a kill-safe database, one build at a time, clean interrupts.

- ``StateDB`` is a doit backend (``backend: npuforge``): sqlite in WAL mode that
  commits each step's record as soon as doit saves it, so a killed build keeps
  every step that had finished.  ``ReadOnlyStateDB`` (``npuforge-read-only``)
  is the same table opened read-only, for the commands that only look.
- ``BuildLock`` (``build/.lock``): one writing command per project at a time;
  a second one waits and says for whom, or with ``--no-wait`` stops with an
  error.  ``list``, ``info``, ``help`` and ``explain`` never wait.
- Ctrl-C (and SIGTERM) stop the build: step processes are killed, temporary
  files removed, and the steps that finished stay recorded.

The commands below replace doit's own through the ``doit.COMMAND`` entry
points in pyproject.toml; each hands doit a ``tasks.loader.ProjectLoader``
that knows the command and whether it writes, then does what doit's does.
This module imports nothing heavy: it runs at every start.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import sqlite3
import sys
from pathlib import Path

from doit.cmd_base import DoitCmdBase
from doit.cmd_clean import Clean as _Clean
from doit.cmd_completion import TabCompletion as _TabCompletion
from doit.cmd_forget import Forget as _Forget
from doit.cmd_help import Help as _Help
from doit.cmd_ignore import Ignore as _Ignore
from doit.cmd_info import Info as _Info
from doit.cmd_list import List as _List
from doit.cmd_resetdep import ResetDep as _ResetDep
from doit.cmd_run import Run as _Run
from doit.cmd_strace import Strace as _Strace
from doit.dependency import DatabaseException

from tasks.errors import ConfigError

BACKEND = "npuforge"
READ_ONLY_BACKEND = "npuforge-read-only"
LOCK_NAME = ".lock"
TEMP_SUFFIX = ".tmp"  # every temporary name NPUForge makes is ".<name>...tmp"
INTERRUPTED_EXIT = 130


# ---------------------------------------------------------------- the database


class StateDB:
    """doit backend: doit's sqlite table, in WAL mode, each step committed as it succeeds.

    doit's own sqlite3 backend keeps every record in memory until the run
    ends; a killed run loses them all.  doit's ``save_success`` writes a step's
    ``deps:`` entry last, so that is when the step's whole record is written
    and committed (one transaction per step; WAL with synchronous=NORMAL
    survives the process being killed).
    """

    desc = "sqlite (WAL), each step's record committed when the step succeeds"
    COMMIT_KEYS = ("deps:", "ignore:")
    read_only = False

    def __init__(self, name, codec, *, module_name=None):
        self.name = name
        self.codec = codec
        self._cache: dict[str, dict] = {}
        self._dirty: set[str] = set()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        table = "CREATE TABLE IF NOT EXISTS doit (task_id TEXT NOT NULL PRIMARY KEY, task_data JSON)"
        try:
            if self.read_only and not os.path.exists(self.name):
                conn = sqlite3.connect(":memory:")  # nothing recorded yet, and nothing to create
                conn.execute(table)
            elif self.read_only:
                conn = sqlite3.connect(f"file:{os.path.abspath(self.name)}?mode=ro", uri=True, timeout=30)
            else:
                conn = sqlite3.connect(self.name, timeout=60, isolation_level=None)  # autocommit
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(table)
            conn.execute("SELECT count(*) FROM doit").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseException(
                f"{self.name}: the build database is unreadable ({exc}). "
                "Delete it to start afresh: every step then runs once more."
            ) from None
        return conn

    def _load(self, task_id: str) -> dict:
        if task_id not in self._cache:
            row = self._conn.execute("SELECT task_data FROM doit WHERE task_id = ?", (task_id,)).fetchone()
            self._cache[task_id] = self.codec.decode(row[0]) if row and row[0] else {}
        return self._cache[task_id]

    def get(self, task_id, dependency):
        return self._load(task_id).get(dependency)

    def in_(self, task_id) -> bool:
        if self._cache.get(task_id):
            return True
        return self._conn.execute("SELECT 1 FROM doit WHERE task_id = ?", (task_id,)).fetchone() is not None

    def set(self, task_id, dependency, value):
        if self.read_only:
            return
        if task_id not in self._cache:
            self._cache[task_id] = {}
        self._cache[task_id][dependency] = value
        self._dirty.add(task_id)
        if dependency in self.COMMIT_KEYS:
            self._write(task_id)

    def _write(self, task_id: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO doit VALUES (?, ?)", (task_id, self.codec.encode(self._cache[task_id]))
        )
        self._dirty.discard(task_id)

    def remove(self, task_id):
        self._cache.pop(task_id, None)
        self._dirty.discard(task_id)
        if not self.read_only:
            self._conn.execute("DELETE FROM doit WHERE task_id = ?", (task_id,))

    def remove_all(self):
        self._cache, self._dirty = {}, set()
        if not self.read_only:
            self._conn.execute("DELETE FROM doit")

    def dump(self):
        if not self.read_only:
            for task_id in sorted(self._dirty):
                self._write(task_id)
        self._conn.close()


class ReadOnlyStateDB(StateDB):
    """The same database for commands that only look: opened read-only, nothing created."""

    desc = "sqlite, read-only"
    read_only = True


# ---------------------------------------------------------------- the lock


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


# ---------------------------------------------------------------- the commands


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


_NO_WAIT = {
    "section": "NPUForge",
    "name": "no_wait",
    "long": "no-wait",
    "type": bool,
    "default": False,
    "help": "if another build of this project is running, stop with an error instead of waiting",
}


def project_loader(command: DoitCmdBase, given, writes: bool):
    """The loader a command hands doit: NPUForge's, knowing the command and whether it writes."""
    from tasks.loader import ProjectLoader

    if isinstance(given, ProjectLoader):  # a command made by another (`doit help run`)
        given = given.given
    return ProjectLoader(command, writes, given)


def _writing(base: type[DoitCmdBase], salvages: bool = False) -> type[DoitCmdBase]:
    class Command(base):
        __doc__ = base.__doc__
        name = base.get_name()
        cmd_options = (*base.cmd_options, _NO_WAIT)

        def __init__(self, task_loader=None, **kwargs):
            super().__init__(task_loader=project_loader(self, task_loader, writes=True), **kwargs)

        def execute(self, params, args):
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
            try:
                code = super().execute(params, args)
            except KeyboardInterrupt:
                self.loader.finish(interrupted=True)
                print(
                    "\ninterrupted: the steps that finished are recorded; run the same command to go on",
                    file=sys.stderr,
                )
                return INTERRUPTED_EXIT
            except BaseException:
                self.loader.finish(interrupted=True)
                raise
            finally:
                signal.signal(signal.SIGTERM, previous)
            if salvages and code != 0 and (self.sel_default_tasks or {"results", "report"} & set(args)):
                self.loader.salvage()  # results.json and the report of the variants that built
            self.loader.finish(interrupted=False)
            return code

    Command.__name__ = Command.__qualname__ = base.__name__
    return Command


def _reading(base: type[DoitCmdBase]) -> type[DoitCmdBase]:
    class Command(base):
        __doc__ = base.__doc__
        name = base.get_name()

        def __init__(self, task_loader=None, **kwargs):
            super().__init__(task_loader=project_loader(self, task_loader, writes=False), **kwargs)

    Command.__name__ = Command.__qualname__ = base.__name__
    return Command


Run = _writing(_Run, salvages=True)
Clean = _writing(_Clean)
Forget = _writing(_Forget)
Ignore = _writing(_Ignore)
ResetDep = _writing(_ResetDep)
Strace = _writing(_Strace)
List = _reading(_List)
Info = _reading(_Info)
Help = _reading(_Help)
TabCompletion = _reading(_TabCompletion)
