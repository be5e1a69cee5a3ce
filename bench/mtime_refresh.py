"""No-op runs after a CI-cache restore (every mtime new), with and without the mtime refresh.

    python bench/mtime_refresh.py [--files 30] [--mib 32]

Builds a small project whose calibration set is FILES images of MIB MiB each, then times, in the
same run: a normal no-op; the first and second no-op after touching every file with NPUForge's
mtime refresh; the same with NPUFORGE_NO_MTIME_REFRESH=1 (doit's stock md5 checker).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import doit as run_doit
from support import tiny_project


def doit(folder: Path, **env: str) -> float:
    start = time.perf_counter()
    proc = run_doit(folder, env=env)
    if proc.returncode != 0 or proc.stdout.strip():
        sys.exit(f"expected a no-op:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def touch_all(folder: Path) -> None:
    later = time.time() + 1000
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (later, later))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--mib", type=int, default=32)
    args = parser.parse_args()
    import numpy as np
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="npuforge-mtime-bench-"))
    try:
        project = work / "p"
        tiny_project(project, photos=0)
        (project / "data").mkdir(exist_ok=True)
        side = int((args.mib * 2**20 / 3) ** 0.5)
        rng = np.random.default_rng(0)
        for i in range(args.files):
            pixels = rng.integers(0, 255, size=(side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(project / "data" / f"big{i:02d}.png", compress_level=0)
        if run_doit(project).returncode != 0:
            sys.exit("the first build failed")
        rows = [("normal no-op", doit(project))]
        touch_all(project)
        rows += [("refresh: 1st run after touch", doit(project)), ("refresh: 2nd run", doit(project))]
        touch_all(project)
        stock = {"NPUFORGE_NO_MTIME_REFRESH": "1"}
        rows += [("stock: 1st run after touch", doit(project, **stock)), ("stock: 2nd run", doit(project, **stock))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0][1]
    print(f"{args.files} inputs x {args.mib} MiB")
    print(f"{'run':<32} {'wall s':>7} {'x no-op':>8}")
    for name, seconds in rows:
        print(f"{name:<32} {seconds:>7.2f} {seconds / base:>8.1f}")


if __name__ == "__main__":
    main()
