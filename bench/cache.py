"""Shared step cache: a cold build against a fresh clone with a warm cache, in the same run.

    python bench/cache.py

Builds the example classifier pair (int8 and int16x8, i.MX93 and Corstone-300) in one folder
with an empty cache, then the same project in a second folder against that cache, and prints
both wall times and their ratio.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO, doit

PROJECT = """
version: 1
name: cache-bench
datasets:
  noise: {random: {seed: 0, count: 8}}
models:
  c90: {source: {builder: "classifier.py:build", args: {channels: 90}}, calibration: noise, validation: noise}
  c96: {source: {builder: "classifier.py:build", args: {channels: 96}}, calibration: noise, validation: noise}
quantization:
  int8: {type: int8}
  a16w8: {type: int16x8}
targets:
  imx93: {compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}
  corstone300:
    {compiler: vela, accelerator: ethos-u55-128, system_config: Ethos_U55_High_End_Embedded, memory_mode: Shared_Sram}
"""


def build(folder: Path, cache: Path) -> float:
    folder.mkdir(parents=True)
    shutil.copyfile(REPO / "models" / "classifier.py", folder / "classifier.py")
    (folder / "project.yaml").write_text(PROJECT)
    start = time.perf_counter()
    proc = doit(folder, env={"NPUFORGE_CACHE": str(cache)})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-2000:])
    return elapsed


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="npuforge-cache-bench-"))
    try:
        cold = build(work / "cold", work / "cache")
        warm = build(work / "clone", work / "cache")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'build':<28} {'wall s':>8}")
    print(f"{'cold (empty cache)':<28} {cold:>8.1f}")
    print(f"{'fresh clone, warm cache':<28} {warm:>8.1f}")
    print(f"{'ratio warm / cold':<28} {warm / cold:>8.3f}")


if __name__ == "__main__":
    main()
