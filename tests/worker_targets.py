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


@dataclass(frozen=True)
class Report:
    out: str


def pid(o: Report) -> None:
    """Write this process's id and the temporary folder it was given."""
    import tempfile

    with open(o.out, "w") as f:
        f.write(f"{os.getpid()} {tempfile.gettempdir()}")
