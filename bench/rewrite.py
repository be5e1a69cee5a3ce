"""The depth_to_space rewrite on MediaPipe's pose detector: before (rewrites: []) and after (default).

    python bench/rewrite.py [--quantization int8|int8_io] [--target imx93|corstone300]

Builds pose_detection (fetched by `make`) twice in temporary projects, with and without the
rewrite, and prints per build: Vela's NPU/CPU op counts and the ops left on the CPU, the estimated
inference time, the artifact size, and the SNR of each output against the float model on the
example photos.  Both builds run in this process's run, one after the other.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO, doit, ok, write

TARGETS = {
    "imx93": (
        "{compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}"
    ),
    "corstone300": (
        "{compiler: vela, accelerator: ethos-u55-128, system_config: Ethos_U55_High_End_Embedded, "
        "memory_mode: Shared_Sram}"
    ),
}
SCHEMES = {"int8": "{type: int8}", "int8_io": "{type: int8, io: int8}"}


def build(root: Path, rewrites: str, quant: str, target: str) -> tuple[dict, float]:
    model = REPO / "models" / "fetched" / "pose_detection.tflite"
    if not model.exists():
        sys.exit("models/fetched/pose_detection.tflite is missing: run `make` first")
    write(
        root / "project.yaml",
        f"""
        version: 1
        name: rewrite-bench
        datasets:
          photos: {{images: "{REPO}/data/photos/*.png", preprocess: {{mean: 127.5, scale: 127.5}}}}
        models:
          pose_detection:
            source: "{model}"
            calibration: photos
            validation: photos
            {rewrites}
        quantization:
          {quant}: {SCHEMES[quant]}
        targets:
          {target}: {TARGETS[target]}
        """,
    )
    start = time.perf_counter()
    ok(doit(root))
    seconds = time.perf_counter() - start
    return json.loads((root / "build" / "results.json").read_text())["variants"][0], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantization", choices=sorted(SCHEMES), default="int8")
    parser.add_argument("--target", choices=sorted(TARGETS), default="imx93")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="npuforge-bench-rewrite-"))
    try:
        rows = {}
        for label, rewrites in (("before (rewrites: [])", "rewrites: []"), ("after (depth_to_space)", "")):
            rows[label] = build(root / label.split()[0], rewrites, args.quantization, args.target)
        outputs = sorted(next(iter(rows.values()))[0]["accuracy"]["outputs"])
        print(f"pose_detection/{args.quantization}@{args.target}")
        header = f"{'build':<24} {'NPU/CPU':>8} {'est. ms':>8} {'size B':>10}" + "".join(
            f" {'SNR ' + o:>16}" for o in outputs
        )
        print(header + "  ops left on the CPU")
        for label, (v, _seconds) in rows.items():
            snr = "".join(f" {v['accuracy']['outputs'][o]['snr_db']:>13.2f} dB" for o in outputs)
            left = ", ".join(f["op"] for f in v["cpu_fallback"]) or "none"
            print(
                f"{label:<24} {v['ops']['npu']:>4}/{v['ops']['cpu']:<3} {v['estimate']['inference_ms']:>8.2f} "
                f"{v['size_bytes']:>10,}{snr}  {left}"
            )
        before, after = (rows[k][0] for k in rows)
        print(
            f"estimated speed-up {before['estimate']['inference_ms'] / after['estimate']['inference_ms']:.3f}x; "
            f"MACs {before['estimate']['macs']:,} -> {after['estimate']['macs']:,}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
