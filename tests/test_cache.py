"""The shared step cache: a second project with the same inputs restores instead of running."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from conftest import FirstBuild
from support import doit, ok, ran, restored, tiny_project

CACHED = {
    "import:tiny",
    "rewrite:tiny",
    "calibrate:tiny",
    "quantize:tiny/int8",
    "quantize:tiny/a16w8",
    "evaluate:tiny/int8",
    "evaluate:tiny/a16w8",
    "limits:tiny/int8",
    "limits:tiny/a16w8",
    "compile:tiny/int8@u65",
    "compile:tiny/int8@u55",
    "compile:tiny/a16w8@u65",
    "compile:tiny/a16w8@u55",
    "analyse:tiny/int8@u65",
    "analyse:tiny/int8@u55",
    "analyse:tiny/a16w8@u65",
    "analyse:tiny/a16w8@u55",
    "report",
    "graph:tiny/int8",
    "graph:tiny/a16w8",
}
# Steps the tests make miss the cache: compiles, which run without TensorFlow, in about a second.
OTHER_MEMORY_MODE = ("memory_mode: Shared_Sram", "memory_mode: Sram_Only")  # a parameter of the u55's compiles
CHANGED = "compile:tiny/int8@u55"  # one of the steps it changes: a new key
VICTIM = "compile:tiny/int8@u65"  # the step whose stored entry the tests corrupt
VICTIM_FILE = "build/tiny/int8/u65/tiny_int8_vela.tflite"  # what it makes, found in the store by its sha256


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("??/*") if p.is_dir() and not p.name.startswith("."))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hit_miss_and_corrupt_entry(first_build: FirstBuild, tmp_path: Path):
    cache = tmp_path / "shared-cache"
    shutil.copytree(first_build.cache, cache)  # filled by the session's first build of the tiny project
    env = {"NPUFORGE_CACHE": str(cache)}
    first, cold = first_build.root, first_build.proc
    assert restored(cold) == set() and CACHED <= ran(cold)
    assert len(entries(cache)) == len(CACHED)

    second = tmp_path / "elsewhere" / "job2"  # a fresh clone on another runner
    tiny_project(second)
    warm = ok(doit(second, env=env))
    assert restored(warm) == CACHED
    for rel in ("build/tiny/int8/u65/tiny_int8_vela.tflite", "build/tiny/int8/tiny_int8.tflite"):
        assert (second / rel).read_bytes() == (first / rel).read_bytes()
    results = json.loads((second / "build" / "results.json").read_text())
    assert len(results["variants"]) == 6

    # miss: another parameter is another key
    (second / "project.yaml").write_text((second / "project.yaml").read_text().replace(*OTHER_MEMORY_MODE))
    changed = ok(doit(second, CHANGED, env=env))
    assert CHANGED in ran(changed) and CHANGED not in restored(changed)

    # a corrupt entry is ignored, the step runs, and the entry is replaced by an intact one
    third = tmp_path / "job3"
    tiny_project(third)
    name, digest = Path(VICTIM_FILE).name, sha256(first / VICTIM_FILE)
    victim = next(e for e in entries(cache) if (e / name).exists() and sha256(e / name) == digest)
    (victim / name).write_bytes(b"garbage")
    proc = ok(doit(third, env=env))
    assert VICTIM in ran(proc) and VICTIM not in restored(proc)
    assert restored(proc) == CACHED - {VICTIM}
    fixed = json.loads((victim / "ENTRY.json").read_text())["files"]
    assert sha256(victim / name) == fixed[name] == digest


def test_size_bound_removes_least_recently_used_entries(tmp_path: Path):
    import os

    from tasks.cache.store import Folder

    folder = Folder(tmp_path / "cache")
    out = tmp_path / "out.bin"
    for i in range(4):  # four entries of 1000 bytes, stored one after the other
        out.write_bytes(bytes([i]) * 1000)
        folder.store(f"{i:02d}" * 32, [out])
        entry = tmp_path / "cache" / f"{i:02d}" / (f"{i:02d}" * 32) / "ENTRY.json"
        os.utime(entry, (1000 + i, 1000 + i))
    assert folder.restore("00" * 32, [out])  # entry 0 is used again: now the most recent
    bounded = Folder(tmp_path / "cache", max_bytes=3500)
    out.write_bytes(b"\x09" * 1000)
    bounded.store("09" * 32, [out])  # five entries of ~1.1 kB with their ENTRY.json: two must go
    kept = {p.name[:2] for p in (tmp_path / "cache").glob("??/*") if not p.name.startswith(".")}
    assert kept == {"00", "03", "09"}
    assert not Folder(tmp_path / "cache", read_only=True).restore("01" * 32, [out])
    Folder(tmp_path / "cache", read_only=True).store("0a" * 32, [out])
    assert not (tmp_path / "cache" / "0a").exists()
