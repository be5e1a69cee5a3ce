"""The one place that reads doit's dependency records beyond doit's own public API.

- ``has_record`` / ``recorded_file``: what ``doit explain`` needs, through the
  backend interface every doit backend implements (``in_``, ``get``).
- ``refresh_mtimes``: NPUForge's own table (tasks/engine/commands.py's StateDB), updated
  in place before doit reads it.

Refreshing mtimes: record new mtimes of unchanged input files in the database.

doit's md5 checker compares a file's mtime first and its md5 only when the
mtime differs, but it stores a file's state only when a step runs.  After a CI
cache restore (or any checkout) every mtime is new, so every later run would
hash every input again.  Before doit reads the database, this pass records the
new mtime of each file whose size and md5 are still those recorded: only the
first run after a restore pays for the hashing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path


def refresh_mtimes(db_path: Path) -> int:
    """Update stored mtimes where only the mtime changed; return how many entries were updated."""
    if not db_path.is_file():
        return 0
    from doit.dependency import get_file_md5

    try:
        db = sqlite3.connect(str(db_path), timeout=30)
    except sqlite3.Error:
        return 0
    updated = 0
    digests: dict[str, str | None] = {}
    try:
        with db:
            rows = db.execute("SELECT task_id, task_data FROM doit").fetchall()
            for task_id, raw in rows:
                try:
                    data = json.loads(raw)
                except (TypeError, ValueError):
                    continue
                changed = False
                for dep in data.get("deps:", []):
                    state = data.get(dep)
                    if not isinstance(state, list) or len(state) != 3:
                        continue
                    try:
                        stat = os.stat(dep)
                    except OSError:
                        continue
                    if stat.st_mtime == state[0] or stat.st_size != state[1]:
                        continue
                    if dep not in digests:
                        digests[dep] = get_file_md5(dep)
                    if digests[dep] == state[2]:
                        data[dep] = [stat.st_mtime, stat.st_size, state[2]]
                        changed = True
                        updated += 1
                if changed:
                    db.execute("UPDATE doit SET task_data = ? WHERE task_id = ?", (json.dumps(data), task_id))
    except sqlite3.Error:
        return updated  # a busy or foreign database: doit's own check still holds
    finally:
        db.close()
    return updated


def has_record(dep, task_name: str) -> bool:
    """Whether ``dep`` (doit's Dependency) holds a record of an earlier success of the task."""
    return bool(dep.backend.in_(task_name))


def recorded_file(dep, task_name: str, path: str):
    """The (mtime, size, md5) doit recorded for input ``path`` of the task, or None."""
    return dep.backend.get(task_name, path)
