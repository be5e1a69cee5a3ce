"""The one place that speaks doit: Steps → task dicts, and DOIT_CONFIG.

File paths handed to doit are relative to doit's working folder (the folder
of dodo.py), so the database stays valid when the project is moved or
restored from a CI cache at another path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tasks import config, engine, plan
from tasks import options as opts
from tasks.errors import ConfigError
from tasks.step import Step
from tasks.steps import STEPS


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


def _action(step: Step, params: dict[str, Any], log: Path, project: config.Project) -> Callable[..., Any]:
    def action(**positional):
        from tasks import failures

        result = _cached_run(step, params, log, project, positional)
        if result is None:
            failures.clear(project.build_dir, step.task_name)
        else:
            failures.record(project.build_dir, step.task_name, result.get_msg())
        return result

    action.__name__ = f"run_{step.kind.task_prefix}"
    return action


def _cached_run(step: Step, params: dict[str, Any], log: Path, project: config.Project, positional: dict[str, Any]):
    """Restore the step from the step cache, or run it (and store what it made)."""
    if project.cache_dir is None or not step.kind.cached:
        return _run(step, log, positional)
    from tasks import cache

    entry = cache.key(step.kind.task_prefix, params, list(step.file_dep), project.root)
    if cache.restore(project.cache_dir, entry, list(step.targets)):
        print(f"   {step.task_name}: restored from cache ({entry[:12]})", flush=True)
        return None
    result = _run(step, log, positional)
    if result is None:
        cache.store(project.cache_dir, entry, list(step.targets))
    return result


def _run(step: Step, log: Path, positional: dict[str, Any]):
    """Run the step: in a worker process when it runs native code, else here."""
    if step.kind.isolated:
        from tasks import worker

        options_type = f"{step.kind.options.__module__}:{step.kind.options.__qualname__}"
        return worker.run(step.kind.function, options_type, opts.to_json(step.options), log, step.task_name)
    from doit.exceptions import TaskFailed

    from tasks.errors import StepError

    try:
        step.kind.run(step.options, **positional)
    except StepError as exc:
        return TaskFailed(str(exc))
    return None


def _log(step: Step, planning: plan.Planning) -> Path:
    return planning.paths.logs(step.kind.task_prefix, step.name or step.kind.task_prefix)


def task_dict(step: Step, planning: plan.Planning) -> dict[str, Any]:
    params = planning.fingerprint(step)
    action = _action(step, params, _log(step, planning), planning.project)
    task: dict[str, Any] = {
        "actions": [action],
        "file_dep": [_rel(p) for p in step.file_dep],
        "targets": [_rel(p) for p in step.targets],
        "uptodate": [False] if step.kind.always else [params_unchanged(params)],
        "doc": step.doc,
        "clean": True,
        "verbosity": 2,
    }
    if step.name:
        task["name"] = step.name
    if step.kind.pos_arg:
        task["pos_arg"] = step.kind.pos_arg
        task["actions"] = [(action, [], {})]
    return task


def creators(planning: plan.Planning) -> dict[str, Callable[[], Iterator[dict] | dict]]:
    """One doit task creator per task name prefix, in step-table order."""
    by_prefix: dict[str, list] = {}
    for kind in STEPS:
        by_prefix.setdefault(kind.task_prefix, []).append(kind)
    return {prefix: _creator(prefix, kinds, planning) for prefix, kinds in by_prefix.items()}


def _creator(prefix: str, kinds: list, planning: plan.Planning) -> Callable[[], Iterator[dict] | dict]:
    chosen = [s for s in planning.steps if s.kind in kinds]
    if kinds[0].single and chosen:

        def create():
            return task_dict(chosen[0], planning)

    else:

        def create():
            yield {"basename": prefix, "name": None, "doc": kinds[0].doc}
            for step in chosen:
                yield task_dict(step, planning)

    create.__doc__ = kinds[0].doc
    return create


def load(
    project_file: Path, baseline_arg: str | None, loader
) -> tuple[dict[str, Any], dict[str, Callable], plan.Planning]:
    """Plan the project; return DOIT_CONFIG, one task creator per task name prefix, and the plan.

    ``loader`` is the running command's tasks.loader.ProjectLoader: it takes the
    build lock for a writing command.  Raises ConfigError for a bad project.
    """
    from tasks.loader import resolve

    project = config.load(project_file)
    baseline = resolve(baseline_arg) if baseline_arg else None
    if baseline is not None and not baseline.is_file():
        raise ConfigError(f"baseline={baseline_arg}: no such file; give a results.json of an earlier build")
    planning = plan.planning(project, baseline)
    loader.take_lock(project.build_dir)  # before doit opens the database
    doit_config = {
        "dep_file": _rel(project.build_dir / ".doit.db"),
        # each step committed as it succeeds; commands that only look open it read-only
        "backend": engine.BACKEND if loader.writes else engine.READ_ONLY_BACKEND,
        "check_file_uptodate": "md5",
        "default_tasks": ["results", "report"] + (["gates"] if project.gates else []),
        "verbosity": 2,
        "reporter": "executed-only",  # one line per step that runs; silence for up-to-date ones
        "subtasks": True,  # `doit list` shows every step of every variant
    }
    if loader.writes and not os.environ.get("NPUFORGE_NO_MTIME_REFRESH"):  # doit's stock behaviour, for comparison
        from tasks import doit_db

        doit_db.refresh_mtimes(Path(doit_config["dep_file"]))
    return doit_config, creators(planning), planning


def run_now(step: Step, planning: plan.Planning):
    """Run one planned step outside doit (see ProjectLoader.salvage); None, or doit's failure."""
    return _run(step, _log(step, planning), {})
