"""fetch: a model file out of a pinned wheel (``pip download --no-deps``), verified by sha256."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tasks import atomic
from tasks.digests import sha256_bytes
from tasks.errors import StepError


def _wheel(requirement: str, cache: Path) -> Path:
    name, version = requirement.split("==")
    folder = cache / requirement
    norm = name.replace("-", "_").lower()

    def found() -> list[Path]:
        return sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}-"))

    if not found():
        print(f"   fetch: pip download --no-deps {requirement}", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(folder),
                requirement,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
            raise StepError(f"pip download {requirement} failed; check the name, version and network:\n{tail}")
    wheels = found()
    if not wheels:
        raise StepError(f"pip download {requirement} gave no wheel in {folder}")
    return wheels[0]


def run(requirement: str, member: str, sha256: str, out: str, cache: str) -> None:
    wheel = _wheel(requirement, Path(cache))
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
    atomic.write_bytes(Path(out), data)
