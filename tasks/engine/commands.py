"""What NPUForge adds to doit's engine: a kill-safe database, one build at a time, clean interrupts.

- the database (tasks/engine/state_db.py) commits each step as it finishes;
- the build lock (tasks/engine/lock.py): one writing command per project at a time;
- Ctrl-C (and SIGTERM) stop the build: step processes are killed, temporary
  files removed, and the steps that finished stay recorded.

The commands below replace doit's own through the ``doit.COMMAND`` entry
points in pyproject.toml; each hands doit a ``tasks.engine.loader.ProjectLoader``
that knows the command and whether it writes, then does what doit's does.
This module imports nothing heavy: it runs at every start.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

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

from tasks.engine.loader import ProjectLoader
from tasks.progress import COMMAND_STARTED

INTERRUPTED_EXIT = 130


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
    if isinstance(given, ProjectLoader):  # a command made by another (`doit help run`)
        given = given.given
    return ProjectLoader(command, writes, given)


@contextmanager
def _runner() -> Iterator[None]:
    """doit's thread runner replaced by the build's (tasks/engine/machine.py) while a command runs.

    doit's ``run`` picks its runner class by name in its own module, with no setting
    for another: the name is swapped for the command's time.
    """
    from doit import cmd_run

    from tasks.engine.machine import Runner

    stock, cmd_run.MThreadRunner = cmd_run.MThreadRunner, Runner
    try:
        yield
    finally:
        cmd_run.MThreadRunner = stock


def _writing(base: type[DoitCmdBase], salvages: bool = False, cleans: bool = False) -> type[DoitCmdBase]:
    class Command(base):
        __doc__ = base.__doc__
        name = base.get_name()
        cmd_options = (*base.cmd_options, _NO_WAIT)

        def __init__(self, task_loader=None, **kwargs):
            super().__init__(task_loader=project_loader(self, task_loader, writes=True), **kwargs)

        def execute(self, params, args):
            os.environ[COMMAND_STARTED] = repr(time.time())
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
            try:
                with _runner():
                    code = super().execute(params, args)
            except KeyboardInterrupt:
                from tasks.engine import worker

                worker.stop_workers(kill=True)
                print(
                    "\ninterrupted: the steps that finished are recorded; run the same command to go on",
                    file=sys.stderr,
                )
                try:
                    if salvages and self._writes_results(args):
                        self._salvage(params, interrupted=True)  # still holding the build lock
                finally:
                    self.loader.finish(interrupted=True)
                return INTERRUPTED_EXIT
            except BaseException:
                self.loader.finish(interrupted=True)
                raise
            finally:
                signal.signal(signal.SIGTERM, previous)
            if salvages and code != 0 and self._writes_results(args):
                self._salvage(params, interrupted=False)  # results.json and the report of the variants that built
            if cleans and not code and self.loader.build_dir is not None:
                from tasks.results import failures

                gone = failures.clear_all(self.loader.build_dir, args)
                if gone:
                    print(f"removed {gone} failure record(s)", file=sys.stderr)
            self.loader.finish(interrupted=False)
            return code

        def _writes_results(self, args) -> bool:
            return bool(self.sel_default_tasks or {"results", "report"} & set(args))

        def _salvage(self, params, interrupted: bool) -> None:
            """results.json and the report for what finished (a Ctrl-C meanwhile leaves them as they were)."""
            previous = signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                self.loader.salvage(self._up_to_date(params), interrupted=interrupted)
            except KeyboardInterrupt:
                print("interrupted again: results.json and the report were not written", file=sys.stderr)
            finally:
                signal.signal(signal.SIGINT, previous)

        def _up_to_date(self, params) -> set[str]:
            """The steps doit finds up to date now, by its own checks on a fresh look at the database."""
            from doit.dependency import Dependency

            tasks = {t.name: t for t in getattr(self, "task_list", None) or ()}
            dep = Dependency(
                self._backends.get(params["backend"]),
                params["dep_file"],
                checker_cls=self.get_checker_cls(params["check_file_uptodate"]),
                codec_cls=self.get_codec_cls(params["codec_cls"]),
            )
            try:
                return {name for name, task in tasks.items() if dep.get_status(task, tasks).status == "up-to-date"}
            finally:
                dep.close()

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
Clean = _writing(_Clean, cleans=True)
Forget = _writing(_Forget)
Ignore = _writing(_Ignore)
ResetDep = _writing(_ResetDep)
Strace = _writing(_Strace)
List = _reading(_List)
Info = _reading(_Info)
Help = _reading(_Help)
TabCompletion = _reading(_TabCompletion)
