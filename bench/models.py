"""Real models from pinned wheels × targets: which fit which NPU, and what failed.

    python bench/models.py [--folder PATH]

Writes one project (default: a temporary folder) with every real model NPUForge has been tried on,
from pinned wheels verified by sha256 (MediaPipe's TFLite models, RapidOCR's ONNX models), builds it
with `doit --continue` for an Ethos-U65 (i.MX93), an Ethos-U55 (Corstone-300) and the CPU, int8
with integer I/O, calibrated on seeded random data (the text detector on crops of scikit-image's
pictures of text: its ONNX conversion is checked on them, and on noise its output is flat), and
prints the compatibility table: per
model × target, NPU/CPU operators and Vela's estimated ms, or the step that failed and why.
A model that fails does not stop the others.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO, doit, write

MP, OCR = "mediapipe==0.10.14", "rapidocr-onnxruntime==1.4.4"
MODELS = {  # name: (wheel, member, sha256, input_shape or None)
    "pose_detection": (
        MP,
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        None,
    ),
    "selfie_segmentation": (
        MP,
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        None,
    ),
    "selfie_landscape": (
        MP,
        "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
        None,
    ),
    "face_landmark_attention": (
        MP,
        "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite",
        "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
        None,
    ),
    "hand_landmark_lite": (
        MP,
        "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
        "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
        None,
    ),
    "text_direction": (
        OCR,
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        [1, 3, 48, 192],
    ),
    "text_detection": (
        OCR,
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        [1, 3, 320, 320],
    ),
}
# calibration other than noise, by model
CALIBRATION = {"text_detection": "text"}
TEXT = """  text:
    images: data/text/*.png
    preprocess: {resize: stretch, mean: [123.675, 116.28, 103.53], scale: [58.395, 57.12, 57.375], color: rgb}
"""
# prune variants: what to keep of a model whose custom operators NPUForge has no rewrite for
PRUNES = {"face_landmark_attention": {"mesh": ["output_mesh_identity", "conv_faceflag"]}}
TARGETS = {
    "imx93": (
        "{compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}"
    ),
    "corstone300": (
        "{compiler: vela, accelerator: ethos-u55-128, system_config: Ethos_U55_High_End_Embedded, "
        "memory_mode: Shared_Sram}"
    ),
    "cpu": "{compiler: none}",
}


def project_text() -> str:
    models = "".join(
        f"  {name}:\n    source: {{pip: {wheel}, member: {member}, sha256: {sha}}}\n"
        + (f"    input_shape: {shape}\n" if shape else "")
        + f"    calibration: {CALIBRATION.get(name, 'noise')}\n"
        + "".join(
            f"    prune: {{{cut}: {{outputs: [{', '.join(keep)}]}}}}\n" for cut, keep in PRUNES.get(name, {}).items()
        )
        for name, (wheel, member, sha, shape) in MODELS.items()
    )
    targets = "".join(f"  {name}: {spec}\n" for name, spec in TARGETS.items())
    return (
        f"version: 1\nname: real-models\ndatasets:\n  noise: {{random: {{seed: 0, count: 8}}}}\n{TEXT}"
        f"models:\n{models}quantization:\n  int8_io: {{type: int8, io: int8}}\ntargets:\n{targets}"
    )


def text_images(folder: Path) -> None:
    """Crops of scikit-image's scanned page and its picture of text: what a text detector is made for."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    for k, picture in enumerate((data.page(), data.text())):
        h, w = picture.shape
        for i, (y, x) in enumerate([(0, 0), (h // 3, w // 4), (h // 2, w // 3)]):
            crop = picture[y : y + 320, x : x + 480]
            Image.fromarray(np.stack([crop] * 3, -1).astype(np.uint8)).save(folder / f"text{3 * k + i}.png")


def cell(v: dict) -> str:
    if v.get("error"):
        return f"failed at {v['error']['step']}: {v['error']['message'][:110]}"
    if not v.get("ops"):
        return "built (no NPU)"
    return f"{v['ops']['npu']} NPU / {v['ops']['cpu']} CPU, {v['estimate']['inference_ms']:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="build here (kept) instead of a temporary folder")
    args = parser.parse_args()
    root = args.folder or Path(tempfile.mkdtemp(prefix="npuforge-models-"))
    write(root / "project.yaml", project_text())
    text_images(root / "data" / "text")
    wheels = REPO / "build" / "cache" / "pip"
    if wheels.is_dir() and not (root / "build" / "cache" / "pip").exists():
        shutil.copytree(wheels, root / "build" / "cache" / "pip")
    started = time.monotonic()
    proc = doit(root, "--continue")
    print(f"doit --continue: exit {proc.returncode} in {time.monotonic() - started:.0f} s ({root})")
    variants = json.loads((root / "build" / "results.json").read_text())["variants"]
    by_cell = {(v["model"] + (f".{v['prune']}" if v["prune"] else ""), v["target"]): v for v in variants}
    units = [(n, m) for n, (_, m, _, _) in MODELS.items()]
    units += [(f"{n}.{cut}", MODELS[n][1]) for n, cuts in PRUNES.items() for cut in cuts]
    width = max(len(u) for u, _ in units)
    print(f"| {'model':<{width}} | format | " + " | ".join(TARGETS) + " |")
    print(f"|{'-' * (width + 2)}|---|" + "---|" * len(TARGETS))
    for unit, member in units:
        cells = [cell(by_cell[(unit, t)]) if (unit, t) in by_cell else "-" for t in TARGETS]
        print(f"| {unit:<{width}} | {Path(member).suffix[1:]} | " + " | ".join(cells) + " |")
    if not args.folder:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
