#!/usr/bin/env python3
"""Run a pipeline's stages one after another on frames, as the application does, and time every frame.

It runs on the board from a zip the pipeline-benchmark step builds (tasks/steps/pipeline.py): this file, the
LiteRT set-up of litert_outputs.py, and the NPUForge modules that preprocess a frame, decode a detection and cut
the next stage's crop (tasks/model/datasets.py, metrics/detection.py, crops.py), so the board runs the same
code the host's evaluation runs.  It needs Python with numpy, Pillow and ai-edge-litert (or tflite_runtime).

    python3 pipeline.pyz --spec=spec.json --frames F1.png F2.png … [--passes=N] [--warmup=N] [--num_threads=T]
                         [--external_delegate_path=LIB [--external_delegate_options='k:v;k:v']] [--use_xnnpack=…]

spec.json: ``{"stages": [{"graph", "preprocess", "crop", "crop_scale", "square", "detection"}, …]}``; a later
stage's input is cut around the best detection of the stage before (its ``detection`` task decodes it).  The
frames are decoded once, before timing (a camera hands them over decoded).  A frame's time runs from its
preprocessing to the last stage's outputs: every stage's invoke, the decoding, the crops and the copies between.
The last line printed is the result as JSON: ``{"frames", "passes", "carried", "frame_ms", "stage_ms",
"cpu_ms", "fps"}``.
"""

import argparse
import json
import statistics
import sys
import time


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True)
    p.add_argument("--frames", nargs="+", required=True)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--num_threads", type=int, default=1)
    p.add_argument("--external_delegate_path")
    p.add_argument("--external_delegate_options", default="")
    p.add_argument("--use_xnnpack", choices=("true", "false"), default="true")
    return p.parse_args(argv)


class Stage:
    """One model as the application holds it: its interpreter, its input's quantization, its place in the chain."""

    def __init__(self, lite, args, spec):
        from tasks.boards.runners.litert_outputs import _interpreter
        from tasks.model.datasets import Preprocess

        interpreter = _interpreter(lite, argparse.Namespace(**{**vars(args), "graph": spec["graph"]}))
        self.runner = interpreter.get_signature_runner("serving_default")
        ((self.input, self.detail),) = self.runner.get_input_details().items()
        self.outputs = self.runner.get_output_details()
        self.shape = [int(d) for d in self.detail["shape"]]
        pre = spec["preprocess"]
        self.preprocess = Preprocess(**{k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()})
        self.crop, self.scale, self.square = spec.get("crop"), spec.get("crop_scale"), spec.get("square", True)
        self.detection = spec.get("detection")
        self.seconds = 0.0

    def __call__(self, x):
        from tasks.tflite.scaling import dequantized, quantize_input

        x = quantize_input(x, self.detail)
        start = time.perf_counter()
        got = self.runner(**{self.input: x})
        self.seconds += time.perf_counter() - start
        return {name: dequantized(value, self.outputs[name]["quantization"]) for name, value in got.items()}


def frame(stages, image):
    """One frame through the chain; whether it reached the last stage."""
    from tasks.model import crops, datasets

    first = stages[0]
    outputs = first(datasets.decoded(image, first.shape, first.preprocess))
    to_image = datasets.frame(image.width, image.height, first.shape, first.preprocess).point
    for before, stage in zip(stages, stages[1:], strict=False):
        found = crops.handed_on(
            stage.crop, stage.scale, stage.square, before.detection, outputs, to_image, before.shape
        )
        if found is None:
            return False
        outputs = stage(crops.cut(image, found, tuple(stage.shape), stage.preprocess))
        size = (stage.shape[1], stage.shape[2])
        to_image = lambda u, v, found=found, size=size: found.to_image(u, v, size)  # noqa: E731
    return True


def main(argv=None) -> int:
    from tasks.errors import StepError

    try:
        return _run(_args(argv))
    except StepError as exc:  # a frame the chain cannot take: one line, not a traceback from the board
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1


def _run(args) -> int:
    from PIL import Image

    from tasks.boards.runners.litert_outputs import _interpreter_module

    lite = _interpreter_module()
    with open(args.spec) as f:
        spec = json.load(f)
    stages = [Stage(lite, args, s) for s in spec["stages"]]
    images = []
    for path in args.frames:
        with Image.open(path) as im:
            images.append(im.convert("RGB"))
    for image in images[: args.warmup]:
        frame(stages, image)
    for s in stages:
        s.seconds = 0.0
    times, carried = [], 0
    for _ in range(args.passes):
        for image in images:
            start = time.perf_counter()
            carried += frame(stages, image)
            times.append((time.perf_counter() - start) * 1000)
    count = len(times)
    stage_ms = [s.seconds * 1000 / count for s in stages]
    total = statistics.fmean(times)
    quantiles = statistics.quantiles(times, n=20, method="inclusive") if count > 1 else times * 19
    result = {
        "frames": len(images),
        "passes": args.passes,
        "carried": carried // args.passes,
        "frame_ms": {
            "avg": round(total, 4),
            "min": round(min(times), 4),
            "max": round(max(times), 4),
            "median": round(quantiles[9], 4),
            "p95": round(quantiles[18], 4),
        },
        "stage_ms": [round(ms, 4) for ms in stage_ms],
        "cpu_ms": round(total - sum(stage_ms), 4),
        "fps": round(1000.0 / total, 2),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
