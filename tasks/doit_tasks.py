"""The one place that speaks doit: Steps → task dicts, and DOIT_CONFIG.

File paths handed to doit are relative to doit's working folder (the folder
of dodo.py), so the database stays valid when the project is moved or
restored from a CI cache at another path.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tasks import config, engine, plan
from tasks.errors import ConfigError

STEP_KINDS = (
    "fetch",
    "import",
    "prune",
    "rewrite",
    "quantize",
    "metafile",
    "evaluate",
    "compile",
    "analyse",
    "benchmark",
    "results",
    "report",
    "gates",
    "release",
    "verify-release",
)


class params_unchanged:
    """doit uptodate checker: the step's parameters equal those of its last success.

    Like doit's ``config_changed`` but keeps the parameters themselves (not a
    digest) in the database, so a later run can say which one changed.
    """

    def __init__(self, params: dict[str, Any]):
        self.text = json.dumps(params, sort_keys=True)

    def configure_task(self, task) -> None:
        task.value_savers.append(lambda: {"_params": self.text})

    def __call__(self, task, values) -> bool:
        return values.get("_params") == self.text


def _rel(path: Path) -> str:
    return os.path.relpath(path)


CACHED_KINDS = ("import", "prune", "quantize", "evaluate", "compile", "analyse")  # deterministic outputs


def _action(step: plan.Step, log: Path, cache_dir: Path | None = None, root: Path | None = None) -> Callable[..., Any]:
    def action(**positional):
        if cache_dir is None or step.kind not in CACHED_KINDS:
            return _run(step, log, positional)
        from tasks import cache

        entry = cache.key(step.kind, step.params, list(step.file_dep), root)
        if cache.restore(cache_dir, entry, list(step.targets)):
            print(f"   {step.task_name}: restored from cache ({entry[:12]})", flush=True)
            return None
        result = _run(step, log, positional)
        if result is None:
            cache.store(cache_dir, entry, list(step.targets))
        return result

    action.__name__ = f"run_{step.kind}"
    return action


def _run(step: plan.Step, log: Path, positional: dict[str, Any]):
    """Run the step: in a worker process when it runs native code, else here."""
    if step.isolated:
        from tasks import worker

        return worker.run(step.func, step.kwargs, log, step.task_name)
    import importlib

    from doit.exceptions import TaskFailed

    from tasks.errors import StepError

    module, function = step.func.split(":")
    try:
        getattr(importlib.import_module(module), function)(**step.kwargs, **positional)
    except StepError as exc:
        return TaskFailed(str(exc))
    return None


def task_dict(step: plan.Step, paths: plan.Paths) -> dict[str, Any]:
    log = paths.logs(step.kind, step.name or step.kind)
    action = _action(step, log, paths.project.cache_dir, paths.project.root)
    task: dict[str, Any] = {
        "actions": [action],
        "file_dep": [_rel(p) for p in step.file_dep],
        "targets": [_rel(p) for p in step.targets],
        "uptodate": [False] if step.always else [params_unchanged(step.params)],
        "doc": step.doc,
        "clean": True,
        "verbosity": 2,
    }
    if step.name:
        task["name"] = step.name
    if step.pos_arg:
        task["pos_arg"] = step.pos_arg
        task["actions"] = [(action, [], {})]
    return task


def resolve_project(value: str | None) -> Path:
    """``project=PATH`` (and ``baseline=PATH``) is relative to the folder the user typed the command in."""
    path = Path(value or "project.yaml").expanduser()
    if not path.is_absolute():
        typed_in = os.environ.get("PWD")
        base = Path(typed_in) if typed_in and Path(typed_in).is_dir() else Path.cwd()
        if not (base / path).exists() and (Path.cwd() / path).exists():
            base = Path.cwd()
        path = base / path
    return path


def load(
    project_arg: str | None, baseline_arg: str | None = None
) -> tuple[dict[str, Any], dict[str, Callable[[], Iterator[dict]]]]:
    """Plan the project; return DOIT_CONFIG and one task-creator per step kind.

    A configuration error ends the program with one ``ERROR:`` line.
    """
    try:
        project = config.load(resolve_project(project_arg))
        baseline = resolve_project(baseline_arg) if baseline_arg else None
        if baseline is not None and not baseline.is_file():
            raise ConfigError(f"baseline={baseline_arg}: no such file; give a results.json of an earlier build")
        steps = plan.plan(project, baseline)
        engine.prepare(project.build_dir)  # before doit opens the database: one writing build at a time
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"ERROR: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    paths = plan.Paths(project)
    doit_config = {
        "dep_file": _rel(project.build_dir / ".doit.db"),
        "backend": engine.BACKEND,  # tasks.engine.StateDB: each step committed as it succeeds
        "check_file_uptodate": "md5",
        "default_tasks": ["results", "report"] + (["gates"] if project.gates else []),
        "verbosity": 2,
        "reporter": "executed-only",  # one line per step that runs; silence for up-to-date ones
        "subtasks": True,  # `doit list` shows every step of every variant
    }
    if engine.session.writes and not os.environ.get(
        "NPUFORGE_NO_MTIME_REFRESH"
    ):  # doit's stock behaviour, for comparison
        from tasks import mtime_refresh

        mtime_refresh.refresh(Path(doit_config["dep_file"]))

    def creator(kind: str) -> Callable[[], Iterator[dict] | dict]:
        chosen = [s for s in steps if s.kind == kind]
        if kind in ("results", "report", "gates", "release", "verify-release") and chosen:

            def create():
                return task_dict(chosen[0], paths)

        else:

            def create():
                yield {"basename": kind, "name": None, "doc": plan.STEP_DOCS[kind]}
                for step in chosen:
                    yield task_dict(step, paths)

        create.__doc__ = plan.STEP_DOCS[kind]
        return create

    return doit_config, {kind: creator(kind) for kind in STEP_KINDS}
