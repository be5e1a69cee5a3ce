"""A cold build of the example: the default (steps side by side, warm workers) against one step at a time
(`-n 1`), with warm workers and with a fresh process per step (NPUFORGE_WARM_WORKERS=0), and the peak
memory of each.

    python bench/build.py [--runs N] [--project project.yaml | --small] [--against REV]

``--against REV``: the default setting only, this checkout's code against REV's (a git worktree), the
two alternating; the .tflite artifacts of both are compared byte for byte.

``--small``: a small project instead of the example: three of its models (the pose detector and the
two classifiers), int8, for the i.MX93 and the CPU (measured and compared on this machine), where
the fixed costs of the workers weigh most.

Each build starts from an empty build folder (the downloaded wheels and the
onnx2tf tool environment are kept: they are set-up, not build).  The two
settings alternate in the same run, so the ratio holds on a noisy machine.
Memory is sampled every 0.1 s: the sum of the resident memory of doit and
every process under it, and the largest single step process.  The artifacts
of both settings are compared byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {
    "default (all cores, warm workers)": ([], {}),
    "-n 1, warm workers": (["-n", "1"], {}),
    "-n 1, a fresh process per step": (["-n", "1"], {"NPUFORGE_WARM_WORKERS": "0"}),
}


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def build(folder: Path, args: list[str], env: dict[str, str], code: Path = REPO) -> tuple[float, int, int]:
    """A cold build in ``folder`` with the code of the checkout ``code``: (seconds, peak total RSS, peak RSS of
    one process)."""
    shutil.rmtree(folder / "build", ignore_errors=True)
    shutil.copytree(REPO / "build" / "cache" / "pip", folder / "build" / "cache" / "pip")
    full_env = {**os.environ, **env, "PYTHONPATH": str(code)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "doit", *args],
        cwd=folder,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, single = 0, 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, single
        while not done.wait(0.1):
            sizes = [_rss(pid) for pid in _tree(proc.pid)]
            peak, single = max(peak, sum(sizes)), max(single, max(sizes, default=0))

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"doit {' '.join(args)} failed:\n{err[-3000:]}")
    return time.monotonic() - started, peak, single


MEASURED = ("command", "measured", "measured_ms")  # and every "...seconds": measured anew by every build


def steady(value: Any) -> Any:
    """A JSON record without what each build measures anew: times, a board's command line (its temporary
    paths), a pipeline's frame times and a gate's value when the gate is on one of those."""
    if isinstance(value, list):
        return [steady(v) for v in value]
    if not isinstance(value, dict):
        return value
    timed = str(value.get("output", "")).startswith("measured on")
    return {
        k: steady(v)
        for k, v in value.items()
        if not (k in MEASURED or k.endswith("seconds") or (timed and k == "value"))
    }


def artifacts(folder: Path) -> dict[str, str]:
    """sha256 of each artifact: .tflite and .csv as they are, JSON records but for what is measured (steady)."""
    build = folder / "build"
    found = {}
    for p in sorted(build.rglob("*")):
        if p.suffix in (".tflite", ".csv"):
            found[str(p.relative_to(build))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.suffix == ".json" and p.name != "results.json" and not p.name.startswith("benchmark-"):
            text = json.dumps(steady(json.loads(p.read_text())), sort_keys=True)
            found[str(p.relative_to(build))] = hashlib.sha256(text.encode()).hexdigest()
    return found  # benchmark-*.json and results.json are mostly measured latencies: left out


SMALL = """\
version: 1
name: small
datasets:
  photos_signed:
    images: data/augmented/*.png
    preprocess: {resize: letterbox, mean: 127.5, scale: 127.5, color: rgb}
    split: {calibration: 0.7, validation: 0.3}
  photos_unit:
    images: data/augmented/*.png
    preprocess: {resize: letterbox, mean: 0, scale: 255, color: rgb}
    split: {calibration: 0.7, validation: 0.3}
models:
  pose_detection:
    source:
      pip: mediapipe==0.10.14
      member: mediapipe/modules/pose_detection/pose_detection.tflite
      sha256: 9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c
    task: {type: detection, layout: mediapipe_ssd, anchors: pose_detection}
    calibration: photos_signed
  classifier_c90:
    source: {builder: "models/classifier.py:build", args: {channels: 90}}
    task: classification
    calibration: photos_unit
  classifier_c96:
    source: {builder: "models/classifier.py:build", args: {channels: 96}}
    task: classification
    calibration: photos_unit
quantization:
  int8: {type: int8}
targets:
  imx93: {compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}
  cpu: {compiler: none}
boards:
  local: {host: local, targets: [cpu], benchmark: {threads: 2, warmup: 3, runs: 20}}
"""


def project_folder(project: str, small: bool, prefix: str, code: Path = REPO) -> Path:
    """A temporary copy of the example (or the small project) to build from clean: models, data, schema (the
    project's files from the checkout ``code``; the data `make` made, from this one)."""
    if not (REPO / "build" / "cache" / "pip").is_dir():
        sys.exit("run `make` first: the example's wheels are downloaded once, before the timed builds")
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    for name in ("models", "data", "schema") + (() if small else (project,)):
        source = (REPO if name == "data" else code) / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    if small:
        (folder / "project.yaml").write_text(SMALL)
    shutil.rmtree(folder / "models" / "fetched", ignore_errors=True)
    return folder


def against(rev: str, runs: int, project: str, small: bool) -> None:
    """The default build with REV's code and with this checkout's, alternating."""
    tree = Path(tempfile.mkdtemp(prefix="npuforge-rev-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev], check=True, capture_output=True
    )
    sides = {rev: tree, "this checkout": REPO}
    folders = {name: project_folder(project, small, "npuforge-build-", code) for name, code in sides.items()}
    times: dict[str, list[float]] = {name: [] for name in sides}
    tflite: dict[str, dict[str, str]] = {}
    try:
        for _ in range(runs):
            for name, code in sides.items():
                seconds, _, _ = build(folders[name], [], {}, code)
                times[name].append(seconds)
                tflite[name] = {k: v for k, v in artifacts(folders[name]).items() if k.endswith(".tflite")}
                print(f"  {name}: {seconds:.0f} s", file=sys.stderr)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    base = statistics.median(times[rev])
    print(f"{'code':<36} {'median s':>9} {'each run s':>22} {'x ' + rev:>14}")
    for name, values in times.items():
        each = " ".join(f"{v:.0f}" for v in values)
        print(f"{name:<36} {statistics.median(values):>9.1f} {each:>22} {statistics.median(values) / base:>14.2f}")
    before, after = tflite.values()
    differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    print(
        f"({runs} run(s) each, alternating; {os.cpu_count()} cores; {len(after)} .tflite, "
        f"{'byte-identical' if not differ else 'DIFFERENT: ' + ', '.join(differ)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--project", default="project.yaml")
    parser.add_argument("--small", action="store_true", help="a small project (3 models, 2 targets), not the example")
    parser.add_argument("--against", metavar="REV", help="this checkout's default build against REV's")
    a = parser.parse_args()
    if a.against:
        against(a.against, a.runs, a.project, a.small)
        return
    folder = project_folder(a.project, a.small, "npuforge-build-")
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    memory: dict[str, tuple[int, int]] = {}
    outputs: dict[str, dict[str, str]] = {}
    for _ in range(a.runs):
        for name, (args, env) in SETTINGS.items():
            seconds, peak, single = build(folder, args, env)
            times[name].append(seconds)
            memory[name] = (max(peak, memory.get(name, (0, 0))[0]), max(single, memory.get(name, (0, 0))[1]))
            outputs[name] = artifacts(folder)
            print(f"  {name}: {seconds:.0f} s", file=sys.stderr)
    base = statistics.median(times["-n 1, a fresh process per step"])
    print(f"{'setting':<36} {'median s':>9} {'x -n 1 fresh':>13} {'peak RSS MiB':>13} {'largest step MiB':>17}")
    for name, values in times.items():
        total, single = memory[name]
        print(
            f"{name:<36} {statistics.median(values):>9.1f} {statistics.median(values) / base:>13.2f} "
            f"{total / 2**20:>13.0f} {single / 2**20:>17.0f}"
        )
    first, *others = outputs.values()
    differ = sorted({k for other in others for k in first if first[k] != other.get(k)})
    print(
        f"({a.runs} run(s) each, alternating; {os.cpu_count()} cores; {len(first)} artifacts, "
        f"{'identical' if not differ else 'DIFFERENT: ' + ', '.join(differ)}: .tflite and .csv byte for byte, "
        "JSON but for measured times)"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
