"""onnx2tf 1.29.24 (the pinned tool environment) against another onnx2tf on the ONNX models NPUForge builds.

    python bench/onnx2tf_versions.py [--python PYTHON3.12] [--version 2.6.9] [--folder PATH]

onnx2tf 2.x needs Python 3.12 or later: give that interpreter with --python (the virtual environment is
made in the folder, from PyPI). Both convert each model with NPUForge's own runner
(tasks/model/toolenvs/onnx2tf_run.py: the same request, the same comparison with onnxruntime on
random inputs and on four calibration samples). Each converted model is then built like any float
.tflite: int8 with integer I/O, for an Ethos-U65 (i.MX93) and an Ethos-U55 (Corstone-300). Prints the
conversion time, the two differences, and the NPU/CPU operators and Vela's estimate per target.
Run after `make` (the fetched models and the example's photographs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from models import text_images
from support import REPO, doit, write
from tasks.model import datasets, toolenv
from tasks.model.datasets import Preprocess, Samples

RUNNER = REPO / "tasks" / "model" / "toolenvs" / "onnx2tf_run.py"
CLS = "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
DET = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
SIGNED = Preprocess(mean=(127.5,), scale=(127.5,))
IMAGENET = Preprocess(resize="stretch", mean=(123.675, 116.28, 103.53), scale=(58.395, 57.12, 57.375))
MODELS = {  # name: (member of the pinned RapidOCR wheel, input shape, calibration folder, preprocessing)
    "text_direction": (CLS, [1, 3, 48, 192], "photos", SIGNED),
    "text_detection": (DET, [1, 3, 320, 320], "text", IMAGENET),
}
TARGETS = {
    "imx93": (
        "{compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}"
    ),
    "corstone300": (
        "{compiler: vela, accelerator: ethos-u55-128, system_config: Ethos_U55_High_End_Embedded, "
        "memory_mode: Shared_Sram}"
    ),
}


def source(member: str, folder: Path) -> Path:
    """The ONNX model from the wheel the example's `doit fetch` downloaded."""
    import zipfile

    (wheel,) = (REPO / "build" / "cache" / "pip" / "rapidocr-onnxruntime==1.4.4").glob("*.whl")
    out = folder / Path(member).name
    out.write_bytes(zipfile.ZipFile(wheel).read(member))
    return out


def convert(python: Path, onnx: Path, shape: list[int], samples: Path, out: Path) -> dict:
    request = {"onnx": str(onnx), "out": str(out), "input_shape": shape, "tolerance": 1e-4, "samples_npy": str(samples)}
    started = time.monotonic()
    proc = subprocess.run([str(python), str(RUNNER), json.dumps(request)], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    answer = json.loads(lines[-1]) if lines else {"ok": False, "error": proc.stderr.strip()[-300:]}
    return {**answer, "seconds": time.monotonic() - started}


def calibration(name: str, folder: Path) -> tuple[Path, Samples]:
    _, shape, kind, preprocess = MODELS[name]
    files = tuple(sorted((folder / kind).glob("*.png")))
    n, c, h, w = shape
    samples = Samples(name=kind, kind="images", preprocess=preprocess, files=files)
    xs = [x.transpose(0, 3, 1, 2) for x in itertools.islice(datasets.samples(samples, [n, h, w, c]), 4)]
    import numpy as np

    path = folder / f"{name}.npy"
    np.save(path, np.concatenate(xs).astype(np.float32))
    return path, samples


def project(folder: Path, built: dict[tuple[str, str], Path]) -> None:
    models = "".join(
        f"  {name}_{version.replace('.', '_')}: {{source: {path.name}, calibration: {MODELS[name][2]}}}\n"
        for (name, version), path in built.items()
    )
    targets = "".join(f"  {t}: {spec}\n" for t, spec in TARGETS.items())
    text = f"""
version: 1
name: onnx2tf-versions
datasets:
  photos: {{images: photos/*.png, preprocess: {{resize: letterbox, mean: 127.5, scale: 127.5}}}}
  text:
    images: text/*.png
    preprocess: {{resize: stretch, mean: [123.675, 116.28, 103.53], scale: [58.395, 57.12, 57.375]}}
models:
{models}quantization:
  int8_io: {{type: int8, io: int8}}
targets:
{targets}"""
    write(folder / "project.yaml", text)


def environment(python: str, version: str, folder: Path) -> Path:
    venv = folder / f"onnx2tf-{version}"
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"onnx2tf=={version}"], check=True)
    return venv / "bin" / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3.12", help="the interpreter of the other onnx2tf's environment")
    parser.add_argument("--version", default="2.6.9")
    parser.add_argument("--folder", type=Path, help="work here (kept) instead of a temporary folder")
    a = parser.parse_args()
    folder = a.folder or Path(tempfile.mkdtemp(prefix="npuforge-onnx2tf-"))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "data" / "augmented", folder / "photos", dirs_exist_ok=True)
    text_images(folder / "text")
    pythons = {"1.29.24": toolenv.ensure(toolenv.TOOLS["onnx2tf"]), a.version: environment(a.python, a.version, folder)}
    facts, built = {}, {}
    for name, (member, shape, _, _) in MODELS.items():
        onnx, (samples, _) = source(member, folder), calibration(name, folder)
        for version, python in pythons.items():
            out = folder / f"{name}-{version}.tflite"
            facts[(name, version)] = convert(python, onnx, shape, samples, out)
            if facts[(name, version)].get("ok"):
                built[(name, version)] = out
    project(folder, built)
    doit(folder, "--continue")
    rows = {
        (v["model"], v["target"]): v for v in json.loads((folder / "build" / "results.json").read_text())["variants"]
    }
    print("| model | onnx2tf | convert s | diff, random | diff, 4 samples | " + " | ".join(TARGETS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(TARGETS))
    for (name, version), f in facts.items():
        unit = f"{name}_{version.replace('.', '_')}"
        cells = []
        for t in TARGETS:
            v = rows.get((unit, t), {})
            ops, est = v.get("ops"), v.get("estimate")
            cells.append(f"{ops['npu']}/{ops['cpu']}, {est['inference_ms']:.2f} ms" if ops and est else "failed")
        diffs = f"{f.get('max_rel_diff', float('nan')):.2e} | {f.get('max_rel_diff_samples') or float('nan'):.2e}"
        print(f"| {name} | {version} | {f['seconds']:.1f} | {diffs} | " + " | ".join(cells) + " |")
    if not a.folder:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
