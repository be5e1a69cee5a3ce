"""No-op build cost: `doit` on an up-to-date project vs. the bare `python -c 'import doit'`.

    python bench/startup.py [--runs N] [--project project.yaml]

Both are timed in the same run, interleaved, so the ratio holds on a noisy machine.
The project must be built already (run `make` first).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--project", default="project.yaml")
    args = parser.parse_args()
    noop = [sys.executable, "-m", "doit", f"project={args.project}"]
    if subprocess.run(noop, cwd=REPO, capture_output=True, text=True).stdout.strip():
        sys.exit("the project is not up to date: run `doit` (or `make`) first")
    rows = {"python -c 'import doit'": [], "doit (no-op)": [], "doit list": []}
    for _ in range(args.runs):
        rows["python -c 'import doit'"].append(wall([sys.executable, "-c", "import doit"]))
        rows["doit (no-op)"].append(wall(noop))
        rows["doit list"].append(wall(noop + ["list"]))
    base = statistics.median(rows["python -c 'import doit'"])
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'x import doit':>14}")
    for name, times in rows.items():
        med = statistics.median(times)
        print(f"{name:<28} {med:>9.3f} {min(times):>7.3f} {med / base:>14.1f}")
    print(f"({args.runs} runs each, interleaved)")


if __name__ == "__main__":
    main()
