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

    # verify-release: the rebuild matches, and says what it compared; a tampered manifest is named
    archive = root / "build" / "release" / "tiny-0.1.tar.gz"
    verified = ok(doit(root, "verify-release", str(archive)))
    assert (
        f"{archive}: 3 artifact(s) compared with the current build (0 rebuilt by this command, 3 up to date from "
        "an earlier build): all identical byte for byte; 4 input file(s) compared: all the same"
    ) in verified.stdout
    (root / "build" / "tiny" / "int8" / "u65" / "tiny_int8_vela.tflite").unlink()
    verified = ok(doit(root, "verify-release", str(archive)))
    assert "(1 rebuilt by this command, 2 up to date from an earlier build): all identical" in verified.stdout
    manifest["artifacts"][0]["sha256"] = "0" * 64
    manifest["artifacts"][1]["inputs"]["data/img0.png"] = "1" * 64
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(release.archive_bytes({"tiny-0.1/MANIFEST.json": json.dumps(manifest).encode()}, 0))
    proc = doit(root, "verify-release", str(bad))
    assert proc.returncode != 0
    assert "2 difference(s) from the current build:" in proc.stdout + proc.stderr
    assert "tiny/int8@u65: archive 000000000000, rebuilt " in proc.stdout + proc.stderr
    assert "tiny/int8@cpu: input data/img0.png is not the one the archive was built from" in proc.stdout + proc.stderr


def test_a_release_refuses_variants_that_fail_their_gates_unless_overridden(tiny: Path):
    project = tiny / "project.yaml"
    gated = project.read_text() + RELEASE + "gates:\n  - {targets: u65, metric: est_inference_ms, max: 0.000001}\n"
    project.write_text(gated)
    proc = doit(tiny, "release")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "release refused: 1 gate check(s) fail on the variants it packs:" in out
    assert "gates[0]  tiny/int8@u65  est_inference_ms" in out and "override_gates: REASON" in out
    assert not (tiny / "build" / "release" / "tiny-0.1.tar.gz").exists()

    reason = "the u65 estimate is known; shipped for the demo board"
    project.write_text(
        gated.replace('variants: ["tiny/int8@u65"', f'override_gates: "{reason}", variants: ["tiny/int8@u65"')
    )
    proc = ok(doit(tiny, "release"))
    assert f"WARNING: release ships 1 failing gate check(s): override_gates: {reason}" in proc.stdout
    with tarfile.open(tiny / "build" / "release" / "tiny-0.1.tar.gz") as tar:
        manifest = json.loads(tar.extractfile("tiny-0.1/MANIFEST.json").read())
    assert manifest["gates_overridden"] == reason
    u65, cpu = manifest["artifacts"][0], manifest["artifacts"][1]
    assert [(c["gate"], c["metric"], c["bound"], c["passed"]) for c in u65["gates"]] == [
        ("gates[0]", "est_inference_ms", "<= 1e-06", False)
    ]
    assert u65["gates"][0]["value"] > 0 and cpu["gates"] == []
    assert u65["accuracy"]["samples"] == 3 and u65["accuracy"]["outputs"]["logits"]["snr_db"] > 0


def test_only_a_calibrated_scheme_is_released_with_the_calibrate_step(tmp_path: Path):
    from tasks import config
    from tasks.engine import plan

    tiny_project(tmp_path)
    text = (tmp_path / "project.yaml").read_text().replace("  a16w8:", "  fp16: {type: float16}\n  a16w8:")
    (tmp_path / "project.yaml").write_text(text + 'release: {version: "0.1", variants: ["tiny/*@cpu"]}\n')
    planning = plan.planning(config.load(tmp_path / "project.yaml"))
    shipped = {a.id: a for a in planning.step_of("release").options.variants}
    assert list(shipped["tiny/int8@cpu"].params) == ["calibrate", "quantize"]
    assert list(shipped["tiny/fp16@cpu"].params) == ["quantize"]  # float16 weights read no calibration
