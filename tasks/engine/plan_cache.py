"""The plan of an unchanged project, reused: a no-op `doit` neither validates nor plans again.

Validating project.yaml (jsonschema), composing it with line numbers and
planning every step cost more than doit's own no-op.  So the plan is kept in
two files: what doit needs of each step as plain data (names, files,
fingerprint; tasks/engine/wiring.py's tasks_data), read at every start, and the
Planning itself, pickled, loaded only when a step runs.  They are kept with
what the plan was made from:

- project.yaml's bytes, and its absolute path;
- every file or folder the project names (model sources, builder modules,
  vela.ini, dataset files, keys…): exists, size and mtime (a folder: of every
  file in it);
- every dataset glob's matches, globbed again;
- NPUForge's own code and schema (size and mtime of each file);
- the installed distributions (the names of site-packages' .dist-info
  folders carry their versions), and Python's version;
- the environment variables named NPUFORGE_* (but the running command's start), and the baseline file.

Any difference plans again (and keeps the new plan).  The plans live in
``~/.cache/npuforge/plans/`` (``NPUFORGE_PLANS`` moves them), one file per
project path; ``NPUFORGE_PLANS=off`` plans every time.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import pickle
import sys
import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.progress import COMMAND_STARTED

if TYPE_CHECKING:
    from tasks.config import Project
    from tasks.engine.plan import Planning

_PACKAGE = Path(__file__).resolve().parent.parent
_CODE = (_PACKAGE, _PACKAGE.parent / "schema")
_FORMAT = 2


def folder() -> Path | None:
    where = os.environ.get("NPUFORGE_PLANS")
    if where == "off":
        return None
    return Path(where) if where else Path.home() / ".cache" / "npuforge" / "plans"


class Plan:
    """The project's Planning, loaded (or made again) the first time a step asks for it."""

    def __init__(
        self,
        project_file: Path,
        baseline: Path | None,
        planning: Planning | None = None,
        kept: Path | None = None,
        token: str | None = None,
    ):
        self.project_file, self.baseline, self.kept, self.token = project_file, baseline, kept, token
        self._planning = planning
        self._lock = threading.Lock()
        self._store: Any = None

    def step_cache(self):
        """The project's step cache (tasks/cache/store.py), opened once per command; None without one."""
        settings = self.planning().project.cache
        if settings is None:
            return None
        with self._lock:
            if self._store is None:
                from tasks.cache import store as cache

                self._store = cache.open_store(settings)
            return self._store

    def planning(self) -> Planning:
        with self._lock:  # steps run side by side: one of them loads it
            if self._planning is None:
                from tasks import steps  # noqa: F401  the step table, whose rows a kept plan names

                loaded = _read(self.kept) if self.kept else None
                if loaded is not None and loaded.get("token") == self.token:
                    self._planning = loaded["planning"]
                else:
                    self._planning = _plan(self.project_file, self.baseline, [])  # warned when the command began
            return self._planning


def _plan(project_file: Path, baseline: Path | None, warnings: list[str] | None = None) -> Planning:
    """The project's Planning; project.yaml's warnings go to ``warnings`` (without it: to stderr)."""
    from tasks import config
    from tasks.engine import plan

    planning = plan.planning(config.load(project_file, warnings), baseline)
    planning.fingerprints()  # computed now, kept with the plan
    return planning


def planned(project_file: Path, baseline: Path | None, tasks_data: Callable[[Planning], dict]) -> tuple[dict, Plan]:
    """``tasks_data(planning)`` of the project, with project.yaml's warnings under ``warnings``, and its Plan:
    the kept ones if nothing they were made from changed, else new ones (kept)."""
    where = folder()
    stem = hashlib.sha256(str(project_file).encode()).hexdigest()[:24]
    light, full = (where / f"{stem}.tasks.pickle", where / f"{stem}.plan.pickle") if where else (None, None)
    fixed = _fixed(project_file, project_file.read_bytes(), baseline)
    if light is not None:
        kept = _read(light)
        if kept is not None and kept["fixed"] == fixed and kept["named"] == _stat_all(kept["paths"], kept["globs"]):
            return kept["tasks"], Plan(project_file, baseline, kept=full, token=kept["token"])
    warnings: list[str] = []
    planning = _plan(project_file, baseline, warnings)
    made = tasks_data(planning) | {"warnings": warnings}
    if light is not None and full is not None:
        token = os.urandom(8).hex()
        paths, globs = _named(planning.project)
        _write(full, {"format": _FORMAT, "token": token, "planning": planning})
        _write(
            light,
            {
                "format": _FORMAT,
                "token": token,
                "fixed": fixed,
                "paths": paths,
                "globs": globs,
                "named": _stat_all(paths, globs),
                "tasks": made,
            },
        )
    return made, Plan(project_file, baseline, planning)


def _read(store: Path) -> dict[str, Any] | None:
    try:
        with open(store, "rb") as f:
            kept = pickle.load(f)
    except Exception:  # none yet, or made by another NPUForge: plan again
        return None
    return kept if isinstance(kept, dict) and kept.get("format") == _FORMAT else None


def _write(store: Path, kept: dict[str, Any]) -> None:
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f".{store.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, store)
    except OSError:
        pass  # a read-only home: plan every time


def _fixed(project_file: Path, text: bytes, baseline: Path | None) -> tuple:
    """What the plan depends on that is known before reading project.yaml."""
    code = [_stat(p) for top in _CODE for p in sorted(top.rglob("*")) if p.suffix in (".py", ".json", ".txt")]
    dists = [
        sorted(n for n in os.listdir(d) if n.endswith(".dist-info")) if os.path.isdir(d) else [] for d in _site_dirs()
    ]
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("NPUFORGE_") and k != COMMAND_STARTED)
    return (
        str(project_file),
        hashlib.sha256(text).hexdigest(),
        code,
        dists,
        sys.version,
        env,
        _stat(baseline) if baseline else None,
    )


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys((paths["purelib"], paths["platlib"])))


def _named(project: Project) -> tuple[list[str], list[str]]:
    """Every path the project names (outside its build folder), and its datasets' globs (absolute)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Path):
            inside_build = value == project.build_dir or project.build_dir in value.parents
            if value != project.root and not inside_build and not (project.cache and value == project.cache.dir):
                found.add(str(value))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(project)
    globs = [str(project.root / p) for d in project.datasets.values() for p in d.patterns]
    return sorted(found), globs


def _stat(path: Path | str) -> tuple:
    """A file's size and mtime; a folder's (a SavedModel) files, each with its own."""
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None)
    if os.path.isdir(path):
        return (str(path), [_stat(p) for p in sorted(Path(path).rglob("*")) if p.is_file()])
    return (str(path), st.st_size, st.st_mtime_ns)


def _stat_all(paths: list[str], globs: list[str]) -> tuple:
    return [_stat(p) for p in paths], [sorted(glob.glob(g, recursive=True)) for g in globs]
