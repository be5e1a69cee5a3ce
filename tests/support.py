"""Helpers the tests and the benches share: run the real doit on real projects in temporary folders.

Tests reach this module through pytest's ``pythonpath``; a bench script (``python bench/NAME.py``)
through bench/_paths.py.  It imports no pytest: fixtures and marks stay in conftest.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


FETCHED = REPO / "models" / "fetched"  # the example's models, fetched by `make` / `make test` (`doit fetch`)
PHOTOS = REPO / "data" / "photos"
# the two Ethos-U targets of tiny_project, as its project.yaml writes them
U65 = "{compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}"
U55 = (
    "{compiler: vela, accelerator: ethos-u55-128, system_config: Ethos_U55_High_End_Embedded, memory_mode: Shared_Sram}"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def doit_command(project_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run doit on ``project_dir/project.yaml``.

    As a user runs it on their own project: plain doit in the folder that holds
    only project.yaml (and its models and data), no dodo.py.
    """
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("PWD", None)
    return [sys.executable, "-m", "doit", *args], full_env


def doit(project_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run doit on ``project_dir/project.yaml`` to the end."""
    command, full_env = doit_command(project_dir, *args, env=env)
    return subprocess.run(command, cwd=project_dir, env=full_env, capture_output=True, text=True, timeout=900)


def start_doit(project_dir: Path, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """Start doit on ``project_dir/project.yaml``; stdout and stderr are pipes of text lines.

    Ctrl-C reaches it as it reaches a build typed at a terminal, even when the tests themselves run where
    SIGINT is ignored (a background job of a non-interactive shell, as some CI runners start them).
    """
    command, full_env = doit_command(project_dir, *args, env=env)
    return subprocess.Popen(
        command,
        cwd=project_dir,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_terminal_signals,
        **popen,
    )


def _terminal_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pause(proc: subprocess.Popen) -> None:
    """Stop ``proc`` (SIGSTOP) and return once every thread of it has stopped; SIGCONT lets it go on.

    What it has not done yet it does after SIGCONT: a test changes the world at a known point of a build.
    Its step processes, in process groups of their own, go on meanwhile.
    """
    os.kill(proc.pid, signal.SIGSTOP)
    while proc.poll() is None and not _stopped(proc.pid):
        time.sleep(0.001)


def _stopped(pid: int) -> bool:
    try:
        threads = [(task / "stat").read_text() for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:  # a thread ended while being listed
        return False
    return all(stat.rsplit(")", 1)[1].split()[0] in ("T", "t") for stat in threads)


def reuse_fetched_wheels(root: Path) -> None:
    """Give a test project the wheels the example's `doit fetch` downloaded (make test runs it): no second download."""
    wheels = REPO / "build" / "cache" / "pip"
    if wheels.is_dir():
        shutil.copytree(wheels, root / "build" / "cache" / "pip")


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    """Names of the steps that executed (doit prints '.  NAME' for each)."""
    return {line[3:].strip() for line in proc.stdout.splitlines() if line.startswith(".  ")}


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"doit failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


TINY_BUILDER = """
import keras


def build(channels=8, size=16):
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs)
"""


def tiny_project(root: Path, photos: int = 3) -> Path:
    """A small real project: a Keras builder, photos, two schemes, two Vela targets and cpu."""
    import numpy as np
    from PIL import Image

    write(root / "models" / "tiny.py", TINY_BUILDER)
    rng = np.random.default_rng(0)
    for i in range(photos):
        pixels = rng.integers(0, 255, size=(24 + 4 * i, 20, 3), dtype=np.uint8)
        (root / "data").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "data" / f"img{i}.png")
    return write(
        root / "project.yaml",
        f"""
        version: 1
        name: tiny
        datasets:
          pics: {{images: "data/*.png", preprocess: {{resize: letterbox, mean: 0, scale: 255}}}}
        models:
          tiny:
            source: {{builder: "models/tiny.py:build", args: {{channels: 8}}}}
            calibration: pics
            validation: pics
        quantization:
          int8: {{type: int8}}
          a16w8: {{type: int16x8}}
        targets:
          u65: {U65}
          u55: {U55}
          cpu: {{compiler: none}}
        """,
    )


def restored(proc: subprocess.CompletedProcess) -> set[str]:
    """Names of the steps copied from the step cache instead of run (``NAME: restored from cache``)."""
    return {
        line.split(": restored from cache")[0].strip()
        for line in proc.stdout.splitlines()
        if ": restored from cache" in line
    }
