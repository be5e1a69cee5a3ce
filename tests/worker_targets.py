"""Step functions for the worker's own tests: one that aborts in native code, one that succeeds."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Nothing:
    pass


def abort(o: Nothing) -> None:
    os.abort()


def succeed(o: Nothing) -> None:
    os.getpid()
