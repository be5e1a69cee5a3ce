"""This machine's cores, shared by the steps, or held by one that times itself on them.

doit runs independent steps side by side (tasks/engine/capacity.py).  A
benchmark on a board that is this machine would then be timed while other
steps use its cores: the same artifact measured 14 ms once and 8 ms the next
time.  Such a step holds the machine: it waits until the running steps end,
and no other step starts until it is done.  A step waiting to hold it goes
before steps waiting to share it, so the benchmarks are not starved.

Waiting to hold the machine costs a core: the running step ends on one while
the other waits, and the steps ready behind the benchmark wait too.  So the
build's runner (``Runner``) keeps those steps back until nothing else can run,
and they take the machine one after another with no step to wait for.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from doit.runner import JobHold, JobTaskPickle, MThreadRunner


class Machine:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._sharing = 0  # steps running side by side
        self._held = False  # a step has the machine to itself
        self._waiting = 0  # steps waiting to hold it

    @contextmanager
    def share(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._held and not self._waiting)
            self._sharing += 1
        try:
            yield
        finally:
            with self._changed:
                self._sharing -= 1
                self._changed.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._changed:
            self._waiting += 1
            self._changed.wait_for(lambda: not self._held and not self._sharing)
            self._waiting -= 1
            self._held = True
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()

    def use(self, alone: bool):
        """``hold()`` for a step that times itself on this machine, else ``share()``."""
        return self.hold() if alone else self.share()


MACHINE = Machine()  # one per build process: every doit thread's steps


class Runner(MThreadRunner):
    """doit's thread runner, with the steps that hold the machine run when no other step runs or can start, and the
    ready step with the longest chain of work after it first.

    Every task doit has ready is taken at once.  A task whose ``meta`` says ``alone`` is
    kept back: the kept tasks go, in the order doit gave them, when no other task is ready
    and none is running; their dependents wait for them as for any running task.  The
    others go by ``meta["priority"]``, the seconds of work along their longest chain of
    dependents (tasks/engine/wiring.py's ``priorities``), so that the build's critical path
    starts first and the short chains fill the cores around it.  A failure without
    ``--continue`` stops the build before the tasks not yet given out: they are not reached,
    as any task doit had not started.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kept: deque = deque()  # ExecNodes selected to run, waiting for the machine to be free
        self._ready: list = []  # ExecNodes selected to run, the longest chain to the end first (a heap)
        self._order = itertools.count()  # among equal chains, doit's order
        self._running = 0  # tasks handed to a thread whose result has not come back

    def get_next_job(self, completed):
        if completed is not None:
            self._running -= 1
        if self._stop_running:
            return None  # gentle stop
        node, done = completed, False
        while True:  # every task doit has ready, into the pool
            try:
                node = self.task_dispatcher.generator.send(node)
            except StopIteration:
                done = True
                break
            if node == "hold on":
                break
            if self.select_task(node, self.tasks):
                meta = node.task.meta or {}
                if meta.get("alone"):
                    self._kept.append(node)
                else:
                    heapq.heappush(self._ready, (-meta.get("priority", 0.0), next(self._order), node))
                node = None
            # not selected (up to date, ignored, or failed on a dependency): doit counts it processed
        if self._ready:
            return self._job(heapq.heappop(self._ready)[2])
        job = self._kept_job()
        if job or done:
            return job
        self.free_proc += 1
        return JobHold()

    def _kept_job(self):
        """A kept task's job when nothing runs, else None."""
        if self._kept and not self._running:
            return self._job(self._kept.popleft())
        return None

    def _job(self, node):
        self._running += 1
        return JobTaskPickle(node.task)
