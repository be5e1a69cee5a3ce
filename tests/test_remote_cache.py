"""The step cache on object storage, against a real S3 server on 127.0.0.1 (moto's standalone server).

The client is s3fs, exactly as against AWS or MinIO: only the endpoint differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from s3server import BUCKET, S3Server
from test_cache import CACHED, CHANGED, OTHER_MEMORY_MODE, VICTIM, VICTIM_FILE

from support import doit, ok, pause, ran, restored, start_doit, tiny_project
from tasks.cache.remote import Remote

STEPS_OF_ASSEMBLY = {"results", "report", "gates"}  # what an assemble run may run: they read the restored files


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def aws(s3, monkeypatch):
    """This process talks to the server too (tests that call tasks.cache.remote directly)."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


def cache_env(s3: S3Server, prefix: str, **extra: str) -> dict[str, str]:
    return {**s3.env, "NPUFORGE_CACHE": f"s3://{BUCKET}/{prefix}", **extra}


def entry_count(s3: S3Server, prefix: str) -> int:
    return len([k for k in s3.keys(f"{prefix}/entries/") if k.endswith(".json")])


def test_hit_miss_corrupt_blob_and_read_only(s3, tmp_path: Path):
    env = cache_env(s3, "hit")
    first = tmp_path / "job1"
    tiny_project(first)
    cold = ok(doit(first, env=env))
    assert restored(cold) == set() and CACHED <= ran(cold)
    assert entry_count(s3, "hit") == len(CACHED)

    second = tmp_path / "elsewhere" / "job2"  # a fresh clone on another runner
    tiny_project(second)
    warm = ok(doit(second, env=env))
    assert restored(warm) == CACHED and ran(warm) - CACHED <= STEPS_OF_ASSEMBLY
    for rel in ("build/tiny/int8/u65/tiny_int8_vela.tflite", "build/tiny/int8/tiny_int8.tflite"):
        assert (second / rel).read_bytes() == (first / rel).read_bytes()
    assert len(json.loads((second / "build" / "results.json").read_text())["variants"]) == 6

    # a corrupt blob: the entry is ignored (said once), the step runs, and its blob is stored again
    digest = hashlib.sha256((first / VICTIM_FILE).read_bytes()).hexdigest()
    s3.client().put_object(Bucket=BUCKET, Key=f"hit/blobs/{digest[:2]}/{digest}", Body=b"garbage")
    third = tmp_path / "job3"
    tiny_project(third)
    proc = ok(doit(third, env=env))
    assert VICTIM in ran(proc) and restored(proc) == CACHED - {VICTIM}
    assert proc.stdout.count("does not match its sha256") == 1
    body = s3.client().get_object(Bucket=BUCKET, Key=f"hit/blobs/{digest[:2]}/{digest}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == digest

    # a miss in read-only mode (a pull request): the step runs, nothing is stored
    before = s3.keys("hit/")
    (third / "project.yaml").write_text((third / "project.yaml").read_text().replace(*OTHER_MEMORY_MODE))
    pull_request = ok(doit(third, CHANGED, env={**env, "NPUFORGE_CACHE_READ_ONLY": "1"}))
    assert CHANGED in ran(pull_request) and CHANGED not in restored(pull_request)
    assert s3.keys("hit/") == before


def test_racing_writers_leave_one_whole_entry(aws, tmp_path: Path):
    """Two jobs store different bytes under one key at the same moment: the first entry stays, whole."""
    key = "ee" * 32
    outputs = []
    for job in range(6):
        out = tmp_path / f"job{job}" / "model.tflite"
        out.parent.mkdir()
        out.write_bytes(f"job {job} ".encode() * 5000)
        outputs.append(out)
    start = threading.Barrier(len(outputs))

    def store(out: Path) -> None:
        start.wait()
        Remote(f"s3://{BUCKET}/race").store(key, [out])

    threads = [threading.Thread(target=store, args=(out,)) for out in outputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert aws.keys("race/entries/") == [f"race/entries/ee/{key}.json"]
    target = tmp_path / "restored" / "model.tflite"
    target.parent.mkdir()
    assert Remote(f"s3://{BUCKET}/race").restore(key, [target], "t")
    assert target.read_bytes() in {out.read_bytes() for out in outputs}
    # a later writer never replaces it
    outputs[0].write_bytes(b"late")
    Remote(f"s3://{BUCKET}/race").store(key, [outputs[0]])
    assert Remote(f"s3://{BUCKET}/race").restore(key, [target], "t") and target.read_bytes() != b"late"


def test_unreadable_entry_is_a_miss_then_replaced(aws, tmp_path: Path, capsys):
    key = "dd" * 32
    aws.client().put_object(Bucket=BUCKET, Key=f"bad/entries/dd/{key}.json", Body=b"{not json")
    out = tmp_path / "a.bin"
    remote = Remote(f"s3://{BUCKET}/bad")
    assert not remote.restore(key, [out], "compile:x")
    assert "ignoring entry dddddddddddd" in capsys.readouterr().out
    out.write_bytes(b"made by the step")
    remote.store(key, [out])  # the step ran: its entry replaces the unreadable one
    out.unlink()
    assert Remote(f"s3://{BUCKET}/bad").restore(key, [out], "compile:x") and out.read_bytes() == b"made by the step"


def test_server_stopping_mid_build(tiny: Path):
    """The store goes away during a build: said once, the build goes on without it and succeeds.

    A built project whose u55 compiles, and the analyses and report after them, run again; doit is held
    as the first compile starts while the server stops (a fresh Vela worker takes a second to start).
    """
    server = S3Server()
    try:
        (tiny / "project.yaml").write_text((tiny / "project.yaml").read_text().replace(*OTHER_MEMORY_MODE))
        proc = start_doit(tiny, env=cache_env(server, "gone"))
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(".  compile:"):
                break
        pause(proc)
        server.stop()  # every later call finds nothing: the compiles' stores, the analyses', the report's
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=600)
    finally:
        if server.process.poll() is None:
            server.stop()
    build = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) + out, err)
    assert proc.returncode == 0, build.stdout[-3000:] + err[-3000:]
    assert {"compile:tiny/int8@u55", "analyse:tiny/int8@u55", "report"} <= ran(build)
    assert build.stdout.count("the build goes on without the cache") == 1
    assert (tiny / "build" / "results.json").is_file()


def test_two_shards_then_assemble_in_three_clones(s3, tmp_path: Path):
    env = cache_env(s3, "shards")
    clones = []
    for name in ("shard1", "shard2", "assemble"):
        tiny_project(tmp_path / name)
        clones.append(tmp_path / name)
    built = set()
    for k, clone in enumerate(clones[:2], start=1):
        proc = ok(doit(clone, f"shard={k}/2", env=env))
        assert f"shard {k}/2:" in proc.stdout
        assert not (clone / "build" / "results.json").exists()  # a shard makes no results.json: assemble does
        made = ran(proc) - restored(proc)  # one model: shard 2 restores the import shard 1 stored
        assert made and not built & made, "the shards built the same step twice"
        built |= made
    assert CACHED - {"report"} <= built
    assemble = ok(doit(clones[2], env=env))
    assert ran(assemble) - restored(assemble) <= STEPS_OF_ASSEMBLY  # zero steps built, all restored
    assert restored(assemble) >= CACHED - {"report"}  # the shards made no report
    results = json.loads((clones[2] / "build" / "results.json").read_text())
    assert len(results["variants"]) == 6 and (clones[2] / "build" / "report" / "index.html").is_file()


def test_bad_shard_is_one_clear_error(tmp_path: Path):
    tiny_project(tmp_path)
    proc = doit(tmp_path, "shard=3/2")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "ERROR: shard=3/2: give shard=K/N with 1 <= K <= N, e.g. shard=1/4"
    assert not (tmp_path / "build" / ".doit.db").exists()


def test_shard_shares_are_whole_balanced_and_deterministic():
    from tasks.engine.shard import shard

    units = [
        {
            "name": f"m{i % 3}/s{i}",
            "model": f"m{i % 3}",
            "variants": [f"v{i}"],
            "steps": {f"import:m{i % 3}": 2.0, f"quantize:m{i % 3}/s{i}": 1.0 + i},
        }
        for i in range(7)
    ]
    for n in (1, 2, 3, 5):
        shares = [shard(f"{k}/{n}", units)[2] for k in range(1, n + 1)]
        assert sorted(u["name"] for share in shares for u in share) == sorted(u["name"] for u in units)
        assert shares == [shard(f"{k}/{n}", units)[2] for k in range(1, n + 1)]
        if n <= 3:  # at least as many models as shards: a model's variants stay in one shard (one import)
            for m in ("m0", "m1", "m2"):
                assert len({k for k, share in enumerate(shares) for u in share if u["model"] == m}) == 1, (n, m)
    five = [shard(f"{k}/5", units)[2] for k in range(1, 6)]
    assert all(five), "more shards than models: the model/scheme pairs are shared out, no shard idle"
