"""Steps side by side (the default) give the same bytes as one step at a time in fresh processes.

The parallel build is the session's first build of the tiny project (conftest.first_build: ``-n 2``,
warm workers); it is compared with a build of a fresh copy, one step at a time, each in a fresh process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import FirstBuild
from support import doit, ok, ran, tiny_project


def artifacts(root: Path) -> dict[str, str]:
    build = root / "build"
    return {
        str(p.relative_to(build)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(build.rglob("*"))
        if p.suffix in (".tflite", ".json", ".csv") and "logs" not in p.parts
    }


def test_a_parallel_build_with_warm_workers_is_byte_identical_to_a_sequential_fresh_one(
    first_build: FirstBuild, tmp_path: Path
):
    parallel = first_build.proc
    tiny_project(tmp_path / "b")
    sequential = ok(doit(tmp_path / "b", "-n", "1", env={"NPUFORGE_WARM_WORKERS": "0"}))
    assert ran(parallel) == ran(sequential)
    assert len(ran(parallel)) >= 16
    first, second = artifacts(first_build.root), artifacts(tmp_path / "b")
    assert sum(name.endswith(".tflite") for name in first) >= 7
    assert first == second
    # one line when a step starts, one when it ends, each whole (steps interleave, lines do not)
    for line in parallel.stdout.splitlines():
        assert line.startswith((".  ", "   ")), line
    started = [line[3:] for line in parallel.stdout.splitlines() if line.startswith(".  ")]
    for name in started:
        assert any(line.startswith(f"   {name}: done in ") for line in parallel.stdout.splitlines()), name


def test_no_worker_outlives_its_build(first_build: FirstBuild):
    """The /proc scan ran the moment that build's doit returned (conftest.first_build)."""
    assert ran(first_build.proc)
    assert first_build.workers_left == []
