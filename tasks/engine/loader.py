"""doit's task loader for NPUForge projects, handed to doit by each of NPUForge's commands.

Where it finds the project:

- a dodo.py (doit's usual ``-f``/``-d``/``-k``/``DOIT_FILE`` rules) that declares
  ``NPUFORGE_PROJECT = "project.yaml"``: that project (``project=PATH`` on the
  command line overrides it), as NPUForge's own dodo.py does;
- no dodo.py, but a project.yaml in the folder (or ``project=PATH``): that
  project.  A folder holding only project.yaml builds with plain ``doit``;
- any other dodo.py: loaded exactly as doit's own loader does, so other doit
  projects keep working where NPUForge is installed.

The loader knows its command (given when the command is made, see
tasks/engine/commands.py): a writing command takes the build lock before doit opens the
database and gets the writing backend; a command that only looks gets the
read-only one and never waits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from doit import get_var
from doit.cmd_base import DodoTaskLoader
from doit.exceptions import InvalidDodoFile

from tasks.engine import lock as build_lock
from tasks.errors import ConfigError

MARKER = "NPUFORGE_PROJECT"
NO_PROJECT = (
    "NPUForge: no project.yaml here either; run doit in the folder of your project.yaml, "
    "or name it with project=PATH/project.yaml"
)


class ProjectLoader(DodoTaskLoader):
    """Loads an NPUForge project for one command; see the module's docstring."""

    def __init__(self, command, writes: bool, given=None):
        super().__init__()
        self.command = command
        self.writes = writes
        self.given = given
        if given is not None:  # what doit's own set-up gave the command: keep its configuration
            self.cmd_names, self.config, self.task_opts = given.cmd_names, given.config, given.task_opts
        self.project: Path | None = None
        self.plan = None  # the project's plan (tasks.engine.plan_cache.Plan), once loaded
        self.wait = True
        self.lock: build_lock.BuildLock | None = None
        self.shard: str | None = None  # shard=K/N: a share of the variants, no results.json
        self.build_dir: Path | None = None  # the project's build folder, once planned

    def setup(self, opt_values: dict[str, Any]) -> None:
        self.wait = not (opt_values.get("no_wait") or os.environ.get("NPUFORGE_NO_WAIT"))
        dodo = Path(opt_values.get("cwdPath") or ".") / opt_values["dodoFile"]
        explicit = opt_values["dodoFile"] != "dodo.py" or opt_values.get("seek_file")
        if explicit or dodo.exists() or not self._project_file(opt_values.get("cwdPath")):
            try:
                super().setup(opt_values)
            except InvalidDodoFile as exc:
                raise InvalidDodoFile(f"{exc}{NO_PROJECT}\n") from None
            if MARKER not in self.namespace:
                return  # somebody's own dodo.py: doit's behaviour
            self.project = resolve(get_var("project") or self.namespace[MARKER])
        else:
            if opt_values.get("cwdPath"):
                os.chdir(opt_values["cwdPath"])
            self.project = self._project_file(None)
        self.namespace = {}

    def _project_file(self, folder: str | None) -> Path | None:
        """project=PATH, else project.yaml in ``folder`` (the working folder), if there is one."""
        if get_var("project"):
            return resolve(get_var("project"))
        path = Path(folder or ".").absolute() / "project.yaml"
        return path if path.is_file() else None

    def load_doit_config(self) -> dict[str, Any]:
        if self.project is None:
            return super().load_doit_config()
        from tasks.engine import wiring as doit_tasks

        try:
            self.shard = get_var("shard")
            doit_config, creators, self.plan = doit_tasks.load(self.project, _baseline(), self, self.shard)
        except ConfigError as exc:
            for line in str(exc).splitlines():
                print(f"ERROR: {line}", file=sys.stderr)
            raise SystemExit(2) from None
        self.namespace = {f"task_{prefix}": create for prefix, create in creators.items()}
        return doit_config

    def take_lock(self, build_dir: Path) -> None:
        """A writing command: one writing build of the project at a time (before doit opens its database)."""
        self.build_dir = build_dir
        if self.writes and self.lock is None:
            self.lock = build_lock.take_lock(build_dir, self.wait)

    def salvage(self, built: set[str], interrupted: bool = False) -> None:
        """After a build that failed or was interrupted: results.json and the report of everything that built.

        doit does not run the results step when a step it depends on failed;
        this runs it (and the report) here, reading the failure records that
        still describe their steps' inputs, so the failed variants are listed
        with their step and error, and those with a step doit does not find up
        to date (``built``: the steps it does) as not built.  Then
        doit forgets the results and report steps: what they wrote is not
        what their inputs give once the build completes, so the next build
        runs them again.
        """
        from dataclasses import replace

        from tasks.engine import state_db
        from tasks.engine import wiring as doit_tasks
        from tasks.results import failures

        if self.plan is None or self.shard is not None:
            return
        planning = self.plan.planning()
        results = planning.step_of("results")
        upstream = {m.step for e in (*results.options.variants, *results.options.pipelines) for m in e.steps}
        if upstream | {"results", "report"} <= built:
            return  # results.json and the report are what their inputs give (a gate failed, or what stopped came after)
        failed = doit_tasks.current_failures(planning, built) & upstream
        if not failed and not interrupted and upstream | {"results"} <= built:
            # every variant built and results.json with it, but a gate failed before the report started: write the
            # report (it shows the gates' verdicts); doit runs it again next time, its record not being kept
            report = planning.find("report")
            error = doit_tasks.run_now(report, planning) if report else None
            if error is not None:
                print(f"ERROR: report: {failures.first_line(error.get_msg())}", file=sys.stderr)
            return
        if not failed and not interrupted and upstream <= built:
            return
        said = f"{len(failed)} step(s) failed" if failed else "the build stopped"
        print(f"{said}; writing results.json and the report for what built", file=sys.stderr)
        stopped = (
            "the build was interrupted; run doit again to go on"
            if interrupted
            else "the build stopped at a failure; `doit --continue` builds every variant it can"
        )
        options = replace(results.options, stopped=stopped, built=frozenset(built))
        steps = [replace(results, options=options), planning.find("report")]
        state_db.forget(planning.project.build_dir / ".doit.db", [s.task_name for s in steps if s])
        for step in steps:
            if step is None:
                continue
            error = doit_tasks.run_now(step, planning)
            if error is not None:
                print(f"ERROR: {step.task_name}: {failures.first_line(error.get_msg())}", file=sys.stderr)
                return

    def finish(self, interrupted: bool) -> None:
        from tasks.engine import worker

        worker.stop_workers(kill=interrupted)
        lock, self.lock = self.lock, None
        build_lock.release_lock(lock, interrupted)


def _baseline() -> Path | None:
    """``baseline=PATH``: an earlier build's results.json, the report's comparison."""
    given = get_var("baseline")
    if not given:
        return None
    baseline = resolve(given)
    if not baseline.is_file():
        raise ConfigError(f"baseline={given}: no such file; give a results.json of an earlier build")
    return baseline


def resolve(value: str) -> Path:
    """``project=PATH`` (and ``baseline=PATH``) is relative to the folder the user typed the command in."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        typed_in = os.environ.get("PWD")
        base = Path(typed_in) if typed_in and Path(typed_in).is_dir() else Path.cwd()
        if not (base / path).exists() and (Path.cwd() / path).exists():
            base = Path.cwd()
        path = base / path
    return path.absolute()
