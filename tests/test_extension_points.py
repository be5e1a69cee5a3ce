"""A scheme type is one module and one row: a scratch one, added to a copy of tasks/, builds with nothing else.

The copy gets exactly two changes, counted here: a new module under tasks/model/schemes/ and one row of
SCHEMES.  Then the schema is written again from the declarations (what `python -m tasks.reference` does),
and a project that names the new type loads, plans a quantize step for it, and quantizes a real model with
the row's function.  Nothing else in tasks/ is touched, so nothing else lists scheme types.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from models_for_tests import imported, keras_net
from support import REPO

MODULE = '''"""A scratch scheme type: int8 weights, float activations, under a name of its own."""

from tasks.model.schemes import weights_only


def quantize(content, scheme, dataset, label):
    return weights_only.dynamic(content, scheme, dataset, label)
'''

ROW = """    SchemeType(name="scratch", doc="a scratch type: int8 weights, float activations", calibrated=False,
               quantize=scratch.quantize),
"""

PROJECT = """\
version: 1
name: scratch
models:
  net: {source: net.tflite, input_shape: [1, 16, 16, 3]}
quantization:
  s: {type: scratch}
targets:
  cpu: {compiler: none}
"""

CHECK = """\
import json, sys
from pathlib import Path
from tasks import config
from tasks.config import declared
from tasks.engine import plan
from tasks.model import quantizer
from tasks.tflite import flatbuffer
Path("schema/project.schema.json").write_text(declared.render())  # python -m tasks.reference writes it so
project = config.load(Path(sys.argv[1]))
step = next(s for s in plan.plan(project) if s.task_name == "quantize:net/s")
content, samples = quantizer.quantize_content(Path(sys.argv[2]).read_bytes(), step.options.scheme, None, "net/s")
types = flatbuffer.TYPE_NAMES
model = flatbuffer.read_bytes(content, "net/s")
kinds = sorted({types[t.type] for t in model.subgraphs[0].tensors})
print(json.dumps({"doc": step.doc, "samples": samples, "kinds": kinds}))
"""


def _copy_with_a_scratch_scheme(root: Path) -> list[str]:
    """tasks/ and schema/ copied under ``root``, with the scratch scheme type added; the files changed."""
    shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "schema", root / "schema")
    (root / "tasks/model/schemes/scratch.py").write_text(MODULE)
    table = root / "tasks/model/schemes/__init__.py"
    text = table.read_text()
    text = text.replace(
        "from tasks.model.schemes import converter, weights_only",
        "from tasks.model.schemes import converter, scratch, weights_only",
    )
    end = text.index("\n)\n", text.index("SCHEMES: tuple[SchemeType, ...] = ("))
    table.write_text(text[: end + 1] + ROW + text[end + 1 :])
    changed = [p for p in (root / "tasks").rglob("*.py") if p.read_bytes() != _original(root, p)]
    return sorted(str(p.relative_to(root)) for p in changed)


def _original(root: Path, path: Path) -> bytes | None:
    source = REPO / path.relative_to(root)
    return source.read_bytes() if source.is_file() else None


def test_a_scheme_type_is_one_module_and_one_row(tmp_path: Path):
    root = tmp_path / "checkout"
    changed = _copy_with_a_scratch_scheme(root)
    assert changed == ["tasks/model/schemes/__init__.py", "tasks/model/schemes/scratch.py"]
    project = tmp_path / "project"
    project.mkdir()
    imported(project, keras_net(batch=1)).rename(project / "net.tflite")
    (project / "project.yaml").write_text(PROJECT)
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(project / "project.yaml"), str(project / "net.tflite")],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["doc"].startswith("quantize the float model: scratch, io float32")
    assert found["samples"] is None  # not calibrated, as its row says
    assert "INT8" in found["kinds"] and "FLOAT32" in found["kinds"]  # int8 weights, float activations
    schema = json.loads((root / "schema/project.schema.json").read_text())
    kind = schema["$defs"]["quantization"]["properties"]["type"]
    assert "scratch" in kind["enum"] and "scratch: a scratch type" in kind["description"]
