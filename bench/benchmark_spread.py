"""Measurements you can repeat: each local benchmark's median in two cold builds, and their ratio.

    python bench/benchmark_spread.py [--project project.yaml | --small] [--runs 2]

Builds the project from clean ``--runs`` times (default 2) with doit's default parallelism, in
two settings that alternate: the default, where a benchmark on this machine holds its cores
(tasks/engine/machine.py), and NPUFORGE_NO_MACHINE_HOLD=1, where it is timed beside the other
steps.  Prints, per local benchmark, the median run of each build and the ratio of the largest
to the smallest (1.00: the same number twice).  ``--small`` is bench/build.py's small project
(three of the example's models, int8, the i.MX93 and this machine's CPU).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import _paths  # noqa: F401  the checkout first on sys.path

from build import build, project_folder

SETTINGS = {"held (default)": {}, "shared (NPUFORGE_NO_MACHINE_HOLD=1)": {"NPUFORGE_NO_MACHINE_HOLD": "1"}}


def medians(folder: Path) -> dict[str, float]:
    """benchmark-<board>.json of every variant: variant@board → its median run (ms; the average where none)."""
    found = {}
    for path in sorted((folder / "build").rglob("benchmark-*.json")):
        record = json.loads(path.read_text())
        latency = record["latency_ms"]
        variant = path.parent.relative_to(folder / "build").as_posix()
        found[f"{variant} on {record['board']}"] = latency.get("median") or latency["avg"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--project", default="project.yaml")
    parser.add_argument("--small", action="store_true", help="bench/build.py's small project, not the example")
    a = parser.parse_args()
    folder = project_folder(a.project, a.small, "npuforge-spread-")
    seen: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for run in range(a.runs):
        for name, env in SETTINGS.items():
            seconds, _, _ = build(folder, [], env)
            seen[name].append(medians(folder))
            print(f"  build {run + 1}, {name}: {seconds:.0f} s", file=sys.stderr)
    print(
        f"{'benchmark':<58} {'setting':<36} "
        + " ".join(f"{f'run {k + 1} ms':>9}" for k in range(a.runs))
        + f" {'max/min':>8}"
    )
    for name, runs in seen.items():
        ratios = []
        for key in runs[0]:
            values = [r[key] for r in runs if key in r]
            ratio = max(values) / min(values)
            ratios.append(ratio)
            print(f"{key:<58} {name:<36} " + " ".join(f"{v:>9.2f}" for v in values) + f" {ratio:>8.2f}")
        if ratios:
            print(
                f"{'(worst of ' + str(len(ratios)) + ')':<58} {name:<36} " + " " * 10 * a.runs + f"{max(ratios):>8.2f}"
            )
    print(f"({a.runs} cold builds per setting, alternating, default parallelism)")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
