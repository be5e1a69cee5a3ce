"""This machine's cores, shared by the steps, or held by one that times itself on them.

doit runs independent steps side by side (tasks/engine/capacity.py).  A
benchmark on a board that is this machine would then be timed while other
steps use its cores: the same artifact measured 14 ms once and 8 ms the next
time.  Such a step holds the machine: it waits until the running steps end,
and no other step starts until it is done.  A step waiting to hold it goes
before steps waiting to share it, so the benchmarks are not starved.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


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
