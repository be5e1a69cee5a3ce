"""A matrix that survives failures: results.json and the report come out, failed variants listed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from support import doit, ok, ran, tiny_project


def broken_project(root: Path) -> Path:
    tiny_project(root)
    (root / "models" / "broken.tflite").write_bytes(b"not a model")
    text = (root / "project.yaml").read_text()
    extra = "  broken:\n    source: models/broken.tflite\n    calibration: pics\n    validation: pics\n"
    (root / "project.yaml").write_text(text.replace("models:\n", "models:\n" + extra))
    return root


def test_failed_variants_are_listed_and_the_rest_is_reported(tmp_path: Path):
    root = broken_project(tmp_path)
    proc = doit(root, "--continue")
    assert proc.returncode != 0
    assert "1 step(s) failed; writing results.json and the report for what built" in proc.stderr
    variants = {v["id"]: v for v in json.loads((root / "build" / "results.json").read_text())["variants"]}
    assert len(variants) == 12
    failed = variants["broken/int8@u65"]
    assert failed["error"] == {
        "step": "import:broken",
        "message": "models.broken.source: not a TFLite flatbuffer (no TFL3 identifier); give a float .tflite model",
    }
    assert failed["ops"] is None and failed["estimate"] is None and failed["size_bytes"] is None
    built = variants["tiny/int8@u65"]
    assert "error" not in built and built["ops"]["npu"] > 0 and built["estimate"]["inference_ms"] > 0
    page = (root / "build" / "report" / "index.html").read_text()
    assert "<h2>Compatibility</h2>" in page and "int8, a16w8: failed at import:broken: models.broken.source" in page
    assert "12 variants, 6 failed (see Compatibility)" in page
    markdown = (root / "build" / "report" / "report.md").read_text()
    assert re.search(r"\| tiny \| [^|]*int8[^|]*: \d+% NPU, [0-9.]+ ms est\.", markdown)

    # the model fixed: the failed steps run, the rest stays, and the records go
    shutil.copyfile(root / "build" / "tiny" / "tiny_float.tflite", root / "models" / "broken.tflite")
    again = ok(doit(root))
    assert "import:broken" in ran(again) and "import:tiny" not in ran(again)
    variants = {v["id"]: v for v in json.loads((root / "build" / "results.json").read_text())["variants"]}
    assert not any("error" in v for v in variants.values())
    assert not list((root / "build" / "failures").glob("*.json"))


def test_without_continue_the_variants_not_reached_are_named(tmp_path: Path):
    root = broken_project(tmp_path)
    proc = doit(root, "-n", "2")  # import:tiny runs beside import:broken, and the build lets it finish
    assert proc.returncode != 0
    variants = json.loads((root / "build" / "results.json").read_text())["variants"]
    messages = {v["error"]["message"] for v in variants if "error" in v}
    assert messages == {
        "models.broken.source: not a TFLite flatbuffer (no TFL3 identifier); give a float .tflite model",
        "not built: rewrite:tiny has not run (the build stopped at a failure; "
        "`doit --continue` builds every variant it can)",
    }
