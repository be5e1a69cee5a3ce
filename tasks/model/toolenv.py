"""Tool environments: a converter whose pins clash with NPUForge's own runs in a virtualenv of its own.

Like pre-commit's hook environments: each tool has an exactly pinned
requirements file (its lock) under tasks/model/toolenvs/; its environment is made on
first use, in ``$NPUFORGE_TOOLENVS`` (default ``~/.cache/npuforge/toolenvs``),
in a folder named by the tool and the lock's sha256, so a changed lock makes a
new one and an unchanged one is shared by every checkout and project.  The
steps that use a tool fingerprint its lock.

A virtualenv cannot be moved (its scripts name their own path), so it is made
in place under a lock, and ``.complete`` is written last: an environment
without it (a killed set-up) is removed and made again.

    python -m tasks.model.toolenv onnx2tf     make (or check) the environment; print its python
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import StepError
from tasks.progress import progress

LOCKS = Path(__file__).resolve().parent / "toolenvs"
COMPLETE = ".complete"


@dataclass(frozen=True, kw_only=True)
class ToolEnv:
    name: str
    lock: Path  # the exactly pinned requirements file

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.lock.read_bytes()).hexdigest()

    @property
    def folder(self) -> Path:
        base = os.environ.get("NPUFORGE_TOOLENVS") or Path.home() / ".cache" / "npuforge" / "toolenvs"
        return Path(base).expanduser() / f"{self.name}-{self.digest[:12]}"

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.folder / "bin"

    def fingerprint(self) -> str:
        return f"{self.name} lock sha256 {self.digest[:16]}"


TOOLS = {"onnx2tf": ToolEnv(name="onnx2tf", lock=LOCKS / "onnx2tf.txt")}


def ensure(tool: ToolEnv) -> Path:
    """The tool environment's python, made first if it is not there (with progress lines)."""
    if (tool.folder / COMPLETE).is_file():
        return tool.python
    tool.folder.parent.mkdir(parents=True, exist_ok=True)
    with open(tool.folder.parent / f".{tool.folder.name}.lock", "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)  # another build may be making it: wait for that one
        if not (tool.folder / COMPLETE).is_file():
            _make(tool)
    return tool.python


def _make(tool: ToolEnv) -> None:
    started = time.monotonic()
    shutil.rmtree(tool.folder, ignore_errors=True)  # what a killed set-up left
    pins = sum(1 for line in tool.lock.read_text().splitlines() if "==" in line)
    progress(f"making the {tool.name} tool environment ({pins} pinned packages) in {tool.folder}; once per lock")
    _call([sys.executable, "-m", "venv", str(tool.folder)], tool)
    progress(f"installing {pins} packages into the {tool.name} tool environment (about a minute)")
    _call(
        [
            str(tool.python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "-r",
            str(tool.lock),
        ],
        tool,
    )
    (tool.folder / COMPLETE).write_text(tool.digest + "\n")
    progress(f"{tool.name} tool environment ready ({time.monotonic() - started:.0f} s)")


def _call(argv: list[str], tool: ToolEnv) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise StepError(
            f"could not make the {tool.name} tool environment in {tool.folder} ({' '.join(argv[:3])} … failed); "
            f"check the network to the package index and the free disk space:\n{tail}"
        )


def main(argv: list[str]) -> int:
    names = argv[1:] or list(TOOLS)
    for name in names:
        if name not in TOOLS:
            print(f"ERROR: no tool environment '{name}'; known: {', '.join(TOOLS)}", file=sys.stderr)
            return 2
        try:
            print(ensure(TOOLS[name]))
        except StepError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
