"""Kill-and-resume, Ctrl-C and database cost, NPUForge's build database against doit's stock sqlite3.

    python bench/engine.py [--runs N]

1. Kill and resume: the tiny test project is built from nothing, SIGKILLed at each kill point
   (steps finished in that run, seconds into the next step), and run again, once with
   NPUForge's database and once with ``--backend sqlite3``.  For each kill: the steps that had
   finished, how many of them the next run did again.
2. Ctrl-C: seconds from SIGINT (to the process group, as a terminal sends it) until doit has
   exited, at several points of a build.
3. No-op cost: `doit` on the built tiny project with each backend, interleaved, as a ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from engine_trials import default_steps, recorded, run_and_stop
from support import doit, ok, ran, tiny_project

KILL_POINTS = [(0, 2.0), (1, 0.0), (2, 1.0), (1, 0.0), (3, 0.5)]  # as in tests/test_engine.py
STOCK = ("--backend", "sqlite3")


def kill_and_resume(root: Path, args: tuple[str, ...]) -> tuple[list[tuple[str, int, int, int]], int, int]:
    """Rows (killed during, steps finished in that run, steps recorded after the kill, finished
    but not recorded = lost), then how many steps the final run executed and how many were
    unrecorded before it."""
    project = root / ("stock" if args else "npuforge")
    tiny_project(project)
    steps = default_steps(project)
    rows = []
    for finished, delay in KILL_POINTS:
        before = recorded(project, steps)
        trial = run_and_stop(project, finished, delay, how="kill", args=args)
        after = recorded(project, steps)
        done = set(trial.started[:-1]) | (after - before)  # the last one may have finished too
        rows.append((f"{trial.started[-1]} +{delay:.1f}s", len(done), len(after), len(done - after)))
    left = len(steps - recorded(project, steps))
    final = ok(doit(project, *args))
    return rows, len(ran(final)), left


def interrupts(root: Path) -> list[tuple[str, float]]:
    project = root / "interrupt"
    tiny_project(project)
    out = []
    for finished, delay in [(0, 2.5), (1, 1.5), (3, 0.3), (5, 0.2)]:
        trial = run_and_stop(project, finished, delay, how="int")
        out.append((f"{trial.started[-1]} +{delay:.1f}s", trial.stop_seconds))
    return out


def noop_cost(root: Path, runs: int) -> dict[str, list[float]]:
    project = root / "npuforge"
    times: dict[str, list[float]] = {"npuforge (WAL, per step)": [], "sqlite3 (stock)": []}
    for _ in range(runs):
        for name, args in (("npuforge (WAL, per step)", ()), ("sqlite3 (stock)", STOCK)):
            start = time.perf_counter()
            proc = ok(doit(project, *args))
            times[name].append(time.perf_counter() - start)
            assert ran(proc) == set(), proc.stdout
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="npuforge-bench-engine-"))
    try:
        print("1. SIGKILL, then run again (tiny project, 15 steps)")
        print(f"{'killed during':<34} {'backend':<9} {'finished':>8} {'recorded':>8} {'lost':>5}")
        for label, backend_args in (("npuforge", ()), ("sqlite3", STOCK)):
            rows, final, left = kill_and_resume(root, backend_args)
            for where, finished, kept, lost in rows:
                print(f"{where:<34} {label:<9} {finished:>8} {kept:>8} {lost:>5}")
            print(f"{'then a run to the end':<34} {label:<9} ran {final} steps; {left} were unrecorded before it")
        print("\n2. Ctrl-C (SIGINT to the process group) until doit has exited")
        print(f"{'interrupted during':<34} {'seconds':>8}")
        for where, seconds in interrupts(root):
            print(f"{where:<34} {seconds:>8.2f}")
        print(f"\n3. no-op doit on the built tiny project ({args.runs} runs each, interleaved)")
        times = noop_cost(root, args.runs)
        base = statistics.median(times["sqlite3 (stock)"])
        print(f"{'backend':<26} {'median s':>9} {'x stock':>8}")
        for name, values in times.items():
            print(f"{name:<26} {statistics.median(values):>9.3f} {statistics.median(values) / base:>8.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
