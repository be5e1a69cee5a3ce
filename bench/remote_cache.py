"""The step cache on object storage, with the example project, in one run.

    python bench/remote_cache.py [--shards N]

Starts moto's S3 server on 127.0.0.1 (`make test` installs it) and copies the example project
(project.yaml, models/, data/, the fetched wheels) into fresh folders, then measures:

1. a cold build, storing every step in s3://bench/cold;
2. a fresh clone against that warm store (goal: at most 0.1x the cold wall time);
3. N shards (`doit shard=K/N`) one after the other into s3://bench/shards, against one full build
   (total CPU time of doit and its workers);
4. an assemble run on a fresh clone: results.json, the report and the gates, every step restored.

Prints a table: wall and CPU seconds, steps built and restored, and the bytes in the store.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)
from s3server import BUCKET, S3Server

from support import REPO, doit, ran, restored


def clone(dest: Path) -> Path:
    """The example as a fresh checkout holds it (plus the wheels `make` fetched, so nothing is downloaded)."""
    dest.mkdir(parents=True)
    shutil.copyfile(REPO / "project.yaml", dest / "project.yaml")
    shutil.copytree(REPO / "models", dest / "models", ignore=shutil.ignore_patterns("fetched", "__pycache__"))
    shutil.copytree(REPO / "data", dest / "data")
    if (REPO / "build" / "cache" / "pip").is_dir():
        shutil.copytree(REPO / "build" / "cache" / "pip", dest / "build" / "cache" / "pip")
    return dest


def run(folder: Path, env: dict[str, str], *args: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = doit(folder, *args, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"doit {' '.join(args)} in {folder} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    back = restored(proc)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "built": ran(proc) - back, "restored": back, "out": proc.stdout}


def stored(server: S3Server, prefix: str) -> tuple[int, int]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/")
    sizes = [o["Size"] for page in pages for o in page.get("Contents", [])]
    return len(sizes), sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=2)
    n = parser.parse_args().shards
    server = S3Server()
    top = Path(tempfile.mkdtemp(prefix="npuforge-remote-bench-"))
    try:
        env = {**server.env, "NPUFORGE_PLANS": str(top / "plans")}
        rows = []
        cold = run(clone(top / "cold"), {**env, "NPUFORGE_CACHE": f"s3://{BUCKET}/cold"})
        rows.append(("cold build", cold, *stored(server, "cold")))
        warm = run(clone(top / "warm"), {**env, "NPUFORGE_CACHE": f"s3://{BUCKET}/cold"})
        rows.append(("fresh clone, warm store", warm, *stored(server, "cold")))
        shards = []
        for k in range(1, n + 1):
            shards.append(
                run(clone(top / f"shard{k}"), {**env, "NPUFORGE_CACHE": f"s3://{BUCKET}/shards"}, f"shard={k}/{n}")
            )
            rows.append((f"shard {k}/{n}", shards[-1], *stored(server, "shards")))
        assemble = run(clone(top / "assemble"), {**env, "NPUFORGE_CACHE": f"s3://{BUCKET}/shards"})
        rows.append(("assemble, fresh clone", assemble, *stored(server, "shards")))
    finally:
        server.stop()
        shutil.rmtree(top, ignore_errors=True)

    print("| run | wall s | CPU s | steps built | steps restored | objects in store | MB in store |")
    print("|---|---|---|---|---|---|---|")
    for name, r, objects, size in rows:
        print(
            f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {len(r['built'])} | {len(r['restored'])} "
            f"| {objects} | {size / 1e6:.1f} |"
        )
    shard_cpu = sum(s["cpu"] for s in shards)
    print()
    print(f"warm clone / cold build, wall: {warm['wall'] / cold['wall']:.2f}x")
    print(
        f"{n} shards / one full build, total CPU: {shard_cpu / cold['cpu']:.2f}x "
        f"(longest shard {max(s['wall'] for s in shards):.1f} s wall against {cold['wall']:.1f} s)"
    )
    print(f"assemble: {len(assemble['built'])} step(s) built: {', '.join(sorted(assemble['built'])) or 'none'}")
    overlap = set.intersection(*(s["built"] for s in shards)) if n > 1 else set()
    print(f"steps built by more than one shard: {', '.join(sorted(overlap)) or 'none'}")


if __name__ == "__main__":
    main()
