"""Reproducible release archives: two fresh builds in two folders give the same bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

from support import doit, ok, ran, tiny_project
from tasks.steps import release

RELEASE = 'release: {version: "0.1", variants: ["tiny/int8@u65", "tiny/*@cpu"]}\n'


def test_two_fresh_builds_in_two_folders_give_identical_archives(tmp_path: Path):
    archives = []
    for folder in ("one", "elsewhere/two"):
        root = tmp_path / folder
        tiny_project(root)
        (root / "project.yaml").write_text((root / "project.yaml").read_text() + RELEASE)
        proc = ok(doit(root, "release", env={"SOURCE_DATE_EPOCH": "1700000000"}))
        assert "release" in ran(proc)
        archives.append((root / "build" / "release" / "tiny-0.1.tar.gz").read_bytes())
    assert archives[0] == archives[1]
    assert gzip.decompress(archives[0])  # a plain gzip stream
    root = tmp_path / "one"
    with tarfile.open(root / "build" / "release" / "tiny-0.1.tar.gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 1700000000)}
        manifest = json.loads(tar.extractfile("tiny-0.1/MANIFEST.json").read())
    assert [a["variant"] for a in manifest["artifacts"]] == ["tiny/int8@u65", "tiny/int8@cpu", "tiny/a16w8@cpu"]
    u65 = manifest["artifacts"][0]
    built = root / "build" / "tiny" / "int8" / "u65" / "tiny_int8_vela.tflite"
    assert u65["sha256"] == hashlib.sha256(built.read_bytes()).hexdigest() and u65["size"] == built.stat().st_size
    assert set(u65["inputs"]) == {"models/tiny.py", "data/img0.png", "data/img1.png", "data/img2.png"}
    assert (
        u65["params"]["compile"]["settings"]["accelerator"] == "ethos-u65-256" and "ethos-u-vela" in manifest["tools"]
    )
    assert manifest["project_yaml_sha256"] == hashlib.sha256((root / "project.yaml").read_bytes()).hexdigest()

    # verify-release: the rebuild matches; a tampered manifest is named
    ok(doit(root, "verify-release", str(root / "build" / "release" / "tiny-0.1.tar.gz")))
    manifest["artifacts"][0]["sha256"] = "0" * 64
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(release.archive_bytes({"tiny-0.1/MANIFEST.json": json.dumps(manifest).encode()}, 0))
    proc = doit(root, "verify-release", str(bad))
    assert proc.returncode != 0
    assert "1 artifact(s) differ from the rebuild:" in proc.stdout + proc.stderr
    assert "tiny/int8@u65: archive 000000000000, rebuilt " in proc.stdout + proc.stderr
