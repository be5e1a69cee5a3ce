"""No-op build cost: `doit` on an up-to-date project vs. a bare doit project of the same shape.

    python bench/startup.py [--runs N] [--project project.yaml]

The bare project has one plain doit file task per NPUForge step, with the same
file_dep and targets (small files in a temporary folder), doit's md5 checker
and its sqlite3 backend: what doit itself costs for this many tasks.  Also
timed: `python -c 'import doit'`, `doit list`, and the no-op with the kept plan
switched off (NPUFORGE_PLANS=off: validate and plan every time).  Everything is
timed in the same run, interleaved, so the ratios hold on a noisy machine.
The project must be built already (run `make` first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO


def wall(cmd: list[str], cwd: Path = REPO, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def bare_project(project: str, folder: Path) -> int:
    """A plain doit project with one file task per step of ``project``: same file_dep and targets."""
    from tasks import config
    from tasks.engine import plan

    steps = plan.plan(config.load(REPO / project))
    root = REPO.absolute()
    tasks = []
    for step in steps:
        deps = [str(p.absolute().relative_to(root)) for p in step.file_dep if root in p.absolute().parents]
        targets = [str(p.absolute().relative_to(root)) for p in step.targets if root in p.absolute().parents]
        for name in deps + targets:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(name)
        tasks.append({"name": step.task_name, "file_dep": deps, "targets": targets})
    (folder / "dodo.py").write_text(
        "DOIT_CONFIG = {'dep_file': '.doit.db', 'backend': 'sqlite3', 'check_file_uptodate': 'md5', "
        "'verbosity': 0, 'reporter': 'executed-only'}\n"
        f"TASKS = {tasks!r}\n"
        "def task_step():\n"
        "    for t in TASKS:\n"
        "        yield {**t, 'actions': [lambda: True]}\n"
    )
    subprocess.run([sys.executable, "-m", "doit"], cwd=folder, check=True, capture_output=True)
    return len(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--project", default="project.yaml")
    args = parser.parse_args()
    noop = [sys.executable, "-m", "doit", f"project={args.project}"]
    if subprocess.run(noop, cwd=REPO, capture_output=True, text=True).stdout.strip():
        sys.exit("the project is not up to date: run `doit` (or `make`) first")
    bare = Path(tempfile.mkdtemp(prefix="npuforge-bare-"))
    count = bare_project(args.project, bare)
    replan = {**os.environ, "NPUFORGE_PLANS": "off"}
    bare_name = f"bare doit, {count} file tasks"
    rows: dict[str, list[float]] = {
        bare_name: [],
        "doit (no-op)": [],
        "doit (no-op), plan again": [],
        "doit list": [],
        "python -c 'import doit'": [],
    }
    for _ in range(args.runs):
        rows[bare_name].append(wall([sys.executable, "-m", "doit"], cwd=bare))
        rows["doit (no-op)"].append(wall(noop))
        rows["doit (no-op), plan again"].append(wall(noop, env=replan))
        rows["doit list"].append(wall(noop + ["list"]))
        rows["python -c 'import doit'"].append(wall([sys.executable, "-c", "import doit"]))
    base = statistics.median(rows[bare_name])
    print(f"{'command':<32} {'median s':>9} {'min s':>7} {'x bare doit':>12}")
    for name, times in rows.items():
        med = statistics.median(times)
        print(f"{name:<32} {med:>9.3f} {min(times):>7.3f} {med / base:>12.2f}")
    print(f"({args.runs} runs each, interleaved)")


if __name__ == "__main__":
    main()
