"""Fixtures and marks of the tests; the helpers they share with the benches are in support.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import FETCHED, PHOTOS, doit, ok, tiny_project


def pytest_configure(config) -> None:
    """Under pytest-xdist, each test process and everything it starts (doit, its step workers, sshd) on cores of
    its own, as a CI job of its own would be: a build then plans for the cores it has (tasks/engine/capacity.py)
    and starts one warm TensorFlow worker, not one per core of the machine, each paying the ~5 s import, while
    the other test process's builds use the other cores."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= count:
        os.sched_setaffinity(0, cores[int(worker.removeprefix("gw")) % count :: count])


needs_example = pytest.mark.skipif(
    not (FETCHED / "pose_detection.tflite").exists() or not PHOTOS.exists(),
    reason="example models not fetched: run `make test` (it runs `doit fetch` first)",
)


@dataclass(frozen=True)
class FirstBuild:
    """The tiny project's first build, from nothing: what several tests look at besides its artifacts."""

    root: Path
    proc: subprocess.CompletedProcess  # its output: every step ran
    cache: Path  # the step cache folder it filled (the tests that change it work on a copy)
    workers_left: list[str]  # pids of step workers in the project alive the moment doit returned


def _workers_in(folder: Path) -> list[str]:
    """Live NPUForge worker processes started in ``folder``."""
    left = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            cwd = (entry / "cwd").resolve()
        except OSError:  # not a process, or gone
            continue
        if b"tasks.engine.worker" in command and cwd == folder.resolve():
            left.append(entry.name)
    return left


@pytest.fixture(scope="session")
def first_build(tmp_path_factory) -> FirstBuild:
    """The tiny project built once as a first plain `doit` builds it: two steps side by side in warm
    workers, with a step cache folder to fill (NPUFORGE_CACHE changes no artifact)."""
    root = tmp_path_factory.mktemp("tiny-built")
    cache = tmp_path_factory.mktemp("tiny-cache")
    tiny_project(root)
    proc = ok(doit(root, "-n", "2", env={"NPUFORGE_CACHE": str(cache)}))
    return FirstBuild(root=root, proc=proc, cache=cache, workers_left=_workers_in(root))


@pytest.fixture(scope="session")
def built_tiny(first_build: FirstBuild) -> Path:
    """The tiny project, built once; tests copy it (relative paths keep the doit database valid)."""
    return first_build.root


@pytest.fixture
def tiny(built_tiny: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tiny"
    shutil.copytree(built_tiny, copy)
    return copy
