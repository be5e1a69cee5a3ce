"""The build database: doit's sqlite table, kill-safe.

``StateDB`` is a doit backend (``backend: npuforge``): sqlite in WAL mode that
commits each step's record as soon as doit saves it, so a killed build keeps
every step that had finished.  ``ReadOnlyStateDB`` (``npuforge-read-only``)
is the same table opened read-only, for the commands that only look.
"""

from __future__ import annotations

import os
import sqlite3

from doit.dependency import DatabaseException

BACKEND = "npuforge"
READ_ONLY_BACKEND = "npuforge-read-only"


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


def forget(path: os.PathLike | str, task_ids: list[str]) -> None:
    """Drop the records of ``task_ids``, as `doit forget` does: doit runs them again next time."""
    if not os.path.exists(path):
        return
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        conn.executemany("DELETE FROM doit WHERE task_id = ?", [(t,) for t in task_ids])
    finally:
        conn.close()
