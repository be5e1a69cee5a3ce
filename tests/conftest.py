"""Fixtures and marks of the tests; the helpers they share with the benches are in support.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import FETCHED, PHOTOS, doit, ok, tiny_project

needs_example = pytest.mark.skipif(
    not (FETCHED / "pose_detection.tflite").exists() or not PHOTOS.exists(),
    reason="example models not fetched: run `make test` (it runs `doit fetch` first)",
)


@pytest.fixture(scope="session")
def built_tiny(tmp_path_factory) -> Path:
    """The tiny project, built once; tests copy it (relative paths keep the doit database valid)."""
    root = tmp_path_factory.mktemp("tiny-built")
    tiny_project(root)
    ok(doit(root))
    return root


@pytest.fixture
def tiny(built_tiny: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tiny"
    shutil.copytree(built_tiny, copy)
    return copy
