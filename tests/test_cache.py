"""The shared step cache: a second project with the same inputs restores instead of running."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from support import doit, ok, ran, restored, tiny_project

CACHED = {
    "import:tiny", "rewrite:tiny", "quantize:tiny/int8", "quantize:tiny/a16w8", "evaluate:tiny/int8", "evaluate:tiny/a16w8",
    "limits:tiny/int8", "limits:tiny/a16w8",
    "compile:tiny/int8@u65", "compile:tiny/int8@u55", "compile:tiny/a16w8@u65", "compile:tiny/a16w8@u55",
    "analyse:tiny/int8@u65", "analyse:tiny/int8@u55", "analyse:tiny/a16w8@u65", "analyse:tiny/a16w8@u55", "report",
    "graph:tiny/int8", "graph:tiny/a16w8",
}  # fmt: skip


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("??/*") if p.is_dir() and not p.name.startswith("."))


def test_hit_miss_and_corrupt_entry(tmp_path: Path):
    cache = tmp_path / "shared-cache"
    env = {"NPUFORGE_CACHE": str(cache)}
    first = tmp_path / "job1"
    tiny_project(first)
    cold = ok(doit(first, env=env))
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
    (second / "project.yaml").write_text(
        (second / "project.yaml").read_text().replace("int8: {type: int8}", "int8: {type: int8, per_channel: false}")
    )
    changed = ok(doit(second, env=env))
    assert "quantize:tiny/int8" in ran(changed) and "quantize:tiny/int8" not in restored(changed)

    # a corrupt entry is ignored, the step runs, and the entry is replaced by an intact one
    third = tmp_path / "job3"
    tiny_project(third)
    victim = next(e for e in entries(cache) if (e / "tiny_float.tflite").exists())
    (victim / "tiny_float.tflite").write_bytes(b"garbage")
    proc = ok(doit(third, env=env))
    assert "import:tiny" in ran(proc) and "import:tiny" not in restored(proc)
    assert restored(proc) == CACHED - {"import:tiny"}
    fixed = json.loads((victim / "ENTRY.json").read_text())["files"]
    assert hashlib.sha256((victim / "tiny_float.tflite").read_bytes()).hexdigest() == fixed["tiny_float.tflite"]


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
