"""Steps side by side (the default) give the same bytes as one step at a time in fresh processes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from support import doit, ok, ran, tiny_project


def artifacts(root: Path) -> dict[str, str]:
    build = root / "build"
    return {
        str(p.relative_to(build)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(build.rglob("*"))
        if p.suffix in (".tflite", ".json", ".csv") and "logs" not in p.parts
    }


def test_a_parallel_build_with_warm_workers_is_byte_identical_to_a_sequential_fresh_one(tmp_path: Path):
    tiny_project(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    parallel = ok(doit(tmp_path / "a", "-n", "2"))
    sequential = ok(doit(tmp_path / "b", "-n", "1", env={"NPUFORGE_WARM_WORKERS": "0"}))
    assert ran(parallel) == ran(sequential)
    assert len(ran(parallel)) >= 16
    first, second = artifacts(tmp_path / "a"), artifacts(tmp_path / "b")
    assert sum(name.endswith(".tflite") for name in first) >= 7
    assert first == second
    # one line when a step starts, one when it ends, each whole (steps interleave, lines do not)
    for line in parallel.stdout.splitlines():
        assert line.startswith((".  ", "   ")), line
    started = [line[3:] for line in parallel.stdout.splitlines() if line.startswith(".  ")]
    for name in started:
        assert any(line.startswith(f"   {name}: done in ") for line in parallel.stdout.splitlines()), name


def test_no_worker_outlives_its_build(tmp_path: Path):
    tiny_project(tmp_path)
    assert ran(ok(doit(tmp_path, "-n", "2", "import", "quantize")))
    left = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            folder = (entry / "cwd").resolve()
        except OSError:  # not a process, or gone
            continue
        if b"tasks.engine.worker" in command and folder == tmp_path.resolve():
            left.append(entry.name)
    assert left == []
