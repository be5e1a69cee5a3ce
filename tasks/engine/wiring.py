"""The one place that speaks doit: Steps → task dicts, and DOIT_CONFIG.

File paths handed to doit are relative to doit's working folder (the folder
of dodo.py), so the database stays valid when the project is moved or
restored from a CI cache at another path.

A task is made from a plain record of its step (names, files, fingerprint,
doc), kept with the plan (tasks/engine/plan_cache.py): a build in which nothing
changed reads the kept task data and never loads the plan, the project's config or
the step modules.  A step's action loads the plan when it runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.engine import capacity, plan_cache, shard, state_db
from tasks.engine.machine import MACHINE
from tasks.progress import say

if TYPE_CHECKING:
    from tasks.engine import plan
    from tasks.planning.step import Step


class params_unchanged:
    """doit uptodate checker: the step's parameters equal those of its last success, and so do its outputs.

    Like doit's ``config_changed`` but keeps the parameters themselves (not a
    digest) in the database, so a later run can say which one changed.  It
    keeps each output's size, mtime and md5 too: a step stopped after it
    renamed a new output into place, but before doit recorded its success,
    leaves another run's output under the last success's record, which doit
    (it checks only that outputs exist) would take as up to date.
    """

    def __init__(self, text: str):  # the parameters as JSON, keys sorted (task_data())
        self.text = text

    def configure_task(self, task) -> None:
        task.value_savers.append(lambda: {"_params": self.text, "_outputs": outputs_state(task.targets)})

    def __call__(self, task, values) -> bool:
        return values.get("_params") == self.text and not changed_outputs(task.targets, values)


def outputs_state(paths: list[str]) -> dict[str, list]:
    """Each output's [size, mtime_ns, md5], as a success leaves it."""
    from doit.dependency import get_file_md5

    found = {}
    for path in paths:
        if os.path.isfile(path):
            st = os.stat(path)
            found[path] = [st.st_size, st.st_mtime_ns, get_file_md5(path)]
    return found


def changed_outputs(paths: list[str], values: dict[str, Any]) -> list[str]:
    """The outputs that are not what the last success wrote (a missing one is doit's own reason); none when that
    success kept no state of them (an older NPUForge).  A new mtime alone (a build restored elsewhere) costs an md5."""
    from doit.dependency import get_file_md5

    saved = values.get("_outputs")
    if saved is None:
        return []
    changed = []
    for path in paths:
        state = saved.get(path)
        if state is None or not os.path.isfile(path):
            continue
        st = os.stat(path)
        if st.st_size != state[0] or (st.st_mtime_ns != state[1] and get_file_md5(path) != state[2]):
            changed.append(path)
    return changed


def _rel(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` (os.getcwd()), as os.path.relpath gives it: a plain absolute path inside
    ``cwd`` by cutting its prefix (relpath costs ~15 µs a path, and a plan has thousands)."""
    plain = "//" not in path and "/./" not in path and "/../" not in path and not path.endswith(("/.", "/.."))
    if plain and path.startswith(cwd) and path[len(cwd) : len(cwd) + 1] == os.sep:
        return path[len(cwd) + 1 :]
    return os.path.relpath(path, cwd)


def _action(record: dict[str, Any], plans: plan_cache.Plan) -> Callable[..., Any]:
    def action(**positional):
        import time

        from tasks.engine import worker
        from tasks.results import failures

        planning = plans.planning()
        step = planning.find(record["task"])
        project = planning.project
        params = planning.fingerprints()[step.task_name]
        alone = record.get("alone", False) and not os.environ.get("NPUFORGE_NO_MACHINE_HOLD")  # for comparison
        with MACHINE.use(alone=alone):
            started = time.monotonic()
            result = _cached_run(step, params, _log(step, planning), plans.step_cache(), project.root, positional)
        if result is None:
            failures.clear(project.build_dir, step.task_name)
        elif not worker.killed():  # killed by Ctrl-C, it did not fail (and the build is sweeping its temporary files)
            inputs = failures.inputs_digest(record["params"], record["file_dep"])
            failures.record(project.build_dir, step.task_name, result.get_msg(), inputs)
        took = time.monotonic() - started
        say(f"   {step.task_name}: {'done' if result is None else 'FAILED'} in {took:.1f} s")
        return result

    action.__name__ = f"run_{record['prefix']}"
    return action


def _cached_run(step: Step, params: dict[str, Any], log: Path, store, root: Path, positional: dict[str, Any]):
    """Restore the step from the step cache, or run it (and store what it made)."""
    if store is None or not step.kind.cached:
        return _run(step, log, positional)
    from tasks.cache import store as cache

    entry = cache.key(step.kind.task_prefix, params, list(step.file_dep), root)
    if store.restore(entry, list(step.targets), step.task_name):
        say(f"   {step.task_name}: restored from cache ({entry[:12]})")
        return None
    result = _run(step, log, positional)
    if result is None:
        store.store(entry, list(step.targets))
    return result


def _run(step: Step, log: Path, positional: dict[str, Any]):
    """Run the step: in a worker process when it runs native code, else here."""
    if step.kind.isolated:
        from tasks.engine import worker
        from tasks.planning import options as opts

        options_type = f"{step.kind.options.__module__}:{step.kind.options.__qualname__}"
        family = worker.family(step.kind.tools, step.kind.name)
        return worker.run(step.kind.function, options_type, opts.to_json(step.options), log, step.task_name, family)
    from doit.exceptions import TaskFailed

    from tasks.errors import StepError

    try:
        step.kind.run(step.options, **positional)
    except StepError as exc:
        return TaskFailed(str(exc))
    return None


def _log(step: Step, planning: plan.Planning) -> Path:
    return planning.paths.logs(step.kind.task_prefix, step.name or step.kind.task_prefix)


def task_data(step: Step, planning: plan.Planning, priority: float = 0.0) -> dict[str, Any]:
    """What doit needs of a step, in plain data (kept with the plan)."""
    return {
        "priority": priority,
        "task": step.task_name,
        "prefix": step.kind.task_prefix,
        "name": step.name,
        "file_dep": [str(p) for p in step.file_dep],
        "targets": [str(p) for p in step.targets],
        "params": params_text(step, planning),
        "doc": step.doc,
        "always": step.kind.always,
        "alone": bool(step.kind.alone and step.kind.alone(step.options)),
        "pos_arg": step.kind.pos_arg,
    }


def params_text(step: Step, planning: plan.Planning) -> str:
    """The step's parameters as the JSON text doit keeps (params_unchanged) and a failure record digests."""
    return json.dumps(planning.fingerprints()[step.task_name], sort_keys=True)


def tasks_data(planning: plan.Planning) -> dict[str, Any]:
    """The plan as doit needs it: the task name prefixes in step-table order, each with its steps' task data."""
    from tasks.steps import STEPS

    groups: dict[str, dict[str, Any]] = {}
    for kind in STEPS:
        groups.setdefault(
            kind.task_prefix, {"prefix": kind.task_prefix, "single": kind.single, "doc": kind.doc, "kinds": []}
        )["kinds"].append(kind.name)
    priority = priorities(planning.steps)
    for group in groups.values():
        group["steps"] = [
            task_data(s, planning, priority[s.task_name]) for s in planning.steps if s.kind.name in group["kinds"]
        ]
    project = planning.project
    gated = any(s.kind.name == "gates" for s in planning.steps)  # project.yaml's gates, or an automatic scheme's goal
    return {
        "build_dir": str(project.build_dir),
        "gates": gated,
        "groups": list(groups.values()),
        "shard_units": shard.shard_units(planning),
    }


def priorities(steps: list[Step]) -> dict[str, float]:
    """Each step's expected seconds to the end of the build along its longest chain of dependents (the step
    table's ``cost`` of each): the build's runner starts the ready step with the longest chain first, so the
    critical path (on the example, the automatic scheme's search) does not wait behind steps that can run any
    time."""
    from tasks.engine.plan import producers

    made_by = producers(steps)
    users: dict[str, set[str]] = {s.task_name: set() for s in steps}
    for s in steps:
        for dep in s.file_dep:
            if dep in made_by:
                users[made_by[dep].task_name].add(s.task_name)
    cost = {s.task_name: s.kind.cost for s in steps}
    found: dict[str, float] = {}

    def chain(name: str) -> float:
        if name not in found:
            found[name] = round(cost[name] + max((chain(u) for u in users[name]), default=0.0), 2)
        return found[name]

    for s in steps:
        chain(s.task_name)
    return found


def task_dict(record: dict[str, Any], plans: plan_cache.Plan) -> dict[str, Any]:
    action = _action(record, plans)
    cwd = os.getcwd()
    task: dict[str, Any] = {
        "actions": [action],
        "file_dep": [_rel(str(p), cwd) for p in record["file_dep"]],
        "targets": [_rel(str(p), cwd) for p in record["targets"]],
        "uptodate": [False] if record["always"] else [params_unchanged(record["params"])],
        "doc": record["doc"],
        "clean": True,
        "verbosity": 2,
        # doit captures a Python action's output by swapping sys.stdout for the action's time: steps side by
        # side (threads) would swap it under each other; they print whole lines to the terminal instead
        "io": {"capture": False},
    }
    if record["name"]:
        task["name"] = record["name"]
    # alone: run when no other step runs; priority: the longest first among ready steps (tasks/engine/machine.py)
    task["meta"] = {"alone": record["alone"], "priority": record.get("priority", 0.0)}
    if record["pos_arg"]:
        task["pos_arg"] = record["pos_arg"]
        task["actions"] = [(action, [], {})]
    return task


def creators(kept: dict[str, Any], plans: plan_cache.Plan) -> dict[str, Callable[[], Iterator[dict] | dict]]:
    """One doit task creator per task name prefix, in step-table order."""
    return {group["prefix"]: _creator(group, plans) for group in kept["groups"]}


def _creator(group: dict[str, Any], plans: plan_cache.Plan) -> Callable[[], Iterator[dict] | dict]:
    chosen = group["steps"]
    if group["single"] and chosen:

        def create():
            return task_dict(chosen[0], plans)

    else:

        def create():
            yield {"basename": group["prefix"], "name": None, "doc": group["doc"]}
            for record in chosen:
                yield task_dict(record, plans)

    create.__doc__ = group["doc"]
    return create


def load(
    project_file: Path, baseline: Path | None, loader, shard_arg: str | None = None
) -> tuple[dict[str, Any], dict[str, Callable], plan_cache.Plan]:
    """Plan the project (or take its kept plan); return DOIT_CONFIG, one task creator per task name prefix,
    and the plan (loaded when a step runs).

    ``shard_arg`` (``shard=K/N``): the default tasks are shard K's steps (see shard()), not results,
    the report and the gates, which an assemble run makes from the step cache.

    ``loader`` is the running command's tasks.engine.loader.ProjectLoader: it takes the
    build lock for a writing command.  Raises ConfigError for a bad project.
    """
    kept, plans = plan_cache.planned(Path(project_file).absolute(), baseline, tasks_data)
    for line in kept["warnings"]:  # every time: a kept plan does not read project.yaml again
        print(f"WARNING: {line}", file=sys.stderr)
    default_tasks = ["results", "report"] + (["gates"] if kept["gates"] else [])
    if shard_arg is not None:
        k, n, units = shard.shard(shard_arg, kept["shard_units"])
        wanted = {name: cost for unit in units for name, cost in unit["steps"].items()}
        default_tasks = [r["task"] for g in kept["groups"] for r in g["steps"] if r["task"] in wanted]
        if loader.writes:
            variants = sum(len(u["variants"]) for u in units)
            pipelines = sum(1 for u in units if u.get("pipeline"))
            expected = sum(wanted.values())
            say(
                f"shard {k}/{n}: {variants} variant(s) of {len(units) - pipelines} model/scheme pair(s)"
                + (f", {pipelines} pipeline(s)" if pipelines else "")
                + f", {len(default_tasks)} step(s), about {expected:.0f} s of work"
            )
    build_dir = Path(kept["build_dir"])
    loader.take_lock(build_dir)  # before doit opens the database
    doit_config = {
        "dep_file": _rel(str(build_dir / ".doit.db"), os.getcwd()),
        # each step committed as it succeeds; commands that only look open it read-only
        "backend": state_db.BACKEND if loader.writes else state_db.READ_ONLY_BACKEND,
        "check_file_uptodate": "md5",
        "default_tasks": default_tasks,
        "verbosity": 2,
        "reporter": "executed-only",  # one line per step that runs; silence for up-to-date ones
        "num_process": capacity.jobs(),  # independent steps side by side; `-n 1` builds one step at a time
        "par_type": "thread",  # the threads only wait: each step runs in a worker process (tasks/engine/worker.py)
        "subtasks": True,  # `doit list` shows every step of every variant
    }
    if loader.writes and not os.environ.get("NPUFORGE_NO_MTIME_REFRESH"):  # doit's stock behaviour, for comparison
        from tasks.engine import doit_db

        doit_db.refresh_mtimes(Path(doit_config["dep_file"]))
    return doit_config, creators(kept, plans), plans


def run_now(step: Step, planning: plan.Planning):
    """Run one planned step outside doit (see ProjectLoader.salvage); None, or doit's failure."""
    return _run(step, _log(step, planning), {})


def current_failures(planning: plan.Planning, built: set[str]) -> set[str]:
    """The steps whose failure records describe their inputs now; the other records are removed.

    A record is stale when doit finds its step up to date (``built``), or when the
    step's parameters or input files changed since it failed (the failure was fixed).
    """
    from tasks.results import failures

    build = planning.paths.build
    failed = set()
    for path in sorted((build / failures.FOLDER).glob("*.json")):
        step = planning.find(failures.step_of(path))
        if (
            step is not None
            and step.task_name not in built
            and failures.read(build, step.task_name, _inputs(step, planning))
        ):
            failed.add(step.task_name)
        else:
            path.unlink(missing_ok=True)
    return failed


def _inputs(step: Step, planning: plan.Planning) -> str:
    from tasks.results import failures

    return failures.inputs_digest(params_text(step, planning), [str(p) for p in step.file_dep])
