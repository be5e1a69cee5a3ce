"""Say why before a tool crashes: operators an integer scheme leaves in float, Vela's refusal, the remedies.

A Keras model with HARD_SWISH, int16x8 for an Ethos-U55: TensorFlow Lite has no int16x8 kernel for
HARD_SWISH and keeps it in float, and Vela stops at a float HARD_SWISH.  The quantize step says so
with the remedies, the compile step refuses with them instead of crashing, and the hard_swish
rewrite (ADD with RELU6, MUL, MUL) builds the variant on the NPU.
"""

from __future__ import annotations

import json
import socket
import urllib.error
from pathlib import Path

from support import doit, ok, write
from tasks.engine import worker

HS = """
import keras


def build():
    inputs = keras.Input(shape=(16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.Activation("hard_swish", name="hs1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.Activation("hard_swish", name="hs2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
"""

PROJECT = """
version: 1
name: hs
datasets:
  noise: {random: {seed: 0, count: 8}}
models:
  hs:
    source: {builder: "models/hs.py:build"}
    calibration: noise
    validation: noise
quantization:
  a16w8: {type: int16x8}
targets:
  u55:
    compiler: vela
    accelerator: ethos-u55-128
    system_config: Ethos_U55_High_End_Embedded
    memory_mode: Shared_Sram
"""


def test_hard_swish_left_in_float_is_named_refused_with_remedies_and_rewritten(tmp_path: Path):
    write(tmp_path / "models" / "hs.py", HS)
    project = write(tmp_path / "project.yaml", PROJECT)
    proc = doit(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "quantize:hs/a16w8: WARNING: 2 operator(s) left in float in this int16x8 model: HARD_SWISH ×2 (" in out
    facts = json.loads((tmp_path / "build" / "hs" / "a16w8" / "quantize.json").read_text())
    (found,) = facts["float_ops"]
    assert found["op"] == "HARD_SWISH" and found["count"] == 2 and len(found["names"]) == 2
    assert found["why"] == "TensorFlow Lite has no int16x8 kernel for HARD_SWISH: the converter kept it in float"
    error = json.loads((tmp_path / "build" / "results.json").read_text())["variants"][0]["error"]
    assert error["step"] == "compile:hs/a16w8@u55"
    assert error["message"].startswith("hs/a16w8@u55: Vela cannot compile HARD_SWISH ×2 (")
    assert "Vela's HARD_SWISH takes 8-bit input only" in error["message"] and "crashed" not in out
    assert "keep those layers int8: a mixed scheme, quantization.a16w8.overrides: [{match: '(" in out
    assert "or rewrite HARD_SWISH into operators with integer kernels: models.hs.rewrites: [hard_swish]" in out

    rewritten = PROJECT.replace("    validation: noise\n", "    validation: noise\n    rewrites: [hard_swish]\n")
    asked = "  mixed: {type: int8, overrides: [{match: conv2, type: float}]}\n"  # a float layer the scheme asks for
    project.write_text(rewritten.replace("  a16w8: {type: int16x8}\n", "  a16w8: {type: int16x8}\n" + asked))
    fixed = ok(doit(tmp_path))
    assert "hs/mixed: WARNING" not in fixed.stdout  # asked for: no warning, and quantize.json says so
    (conv,) = json.loads((tmp_path / "build" / "hs" / "mixed" / "quantize.json").read_text())["float_ops"]
    assert conv["op"] == "CONV_2D" and conv["why"] == "the scheme's overrides keep it in float"
    assert "rewrite:hs: hard_swish: 2 of 2 HARD_SWISH rewritten" in fixed.stdout
    assert "same outputs as the original on 4 random inputs" in fixed.stdout and "WARNING" not in fixed.stdout
    row, _ = json.loads((tmp_path / "build" / "results.json").read_text())["variants"]
    assert "error" not in row and row["ops"]["npu"] > row["ops"]["cpu"]
    assert "HARD_SWISH" not in json.loads((tmp_path / "build" / "hs" / "a16w8" / "quantize.json").read_text())["ops"]
    assert row["accuracy"]["outputs"]["logits"]["snr_db"] > 30


def _raised(exc: BaseException, code: str, filename: str) -> BaseException:
    """``exc`` raised from code compiled as ``filename``, called from a step (a frame in tasks/), as in a worker."""
    step = compile("exec(tool, {'exc': exc})", worker.__file__, "exec")
    try:
        exec(step, {"tool": compile(code, filename, "exec"), "exc": exc})
    except BaseException as caught:  # noqa: BLE001
        return caught
    raise AssertionError("not raised")


def test_a_crash_says_what_broke(tmp_path: Path):
    dns = urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    assert worker.crash_kind(_raised(dns, "raise exc", "/venv/lib/python3.11/site-packages/keras/utils.py")) == {
        "kind": "network"
    }
    caused = _raised(RuntimeError("download failed"), "raise exc from ConnectionResetError()", "/site-packages/x.py")
    assert worker.crash_kind(caused) == {"kind": "network"}
    mine = _raised(RuntimeError("broken on purpose"), "\n\nraise exc", str(tmp_path / "models" / "net.py"))
    assert worker.crash_kind(mine) == {"kind": "project", "file": str(tmp_path / "models" / "net.py"), "line": "3"}
    tool = _raised(RuntimeError("Does not have valid TFLite Semantics"), "raise exc", "/x/site-packages/ethosu/vela.py")
    assert worker.crash_kind(tool) == {"kind": "tool"}
    assert "report the log with the model" in worker._advice(4, {"kind": {"kind": "tool"}})
    assert worker._advice(4, {"kind": {"kind": "network"}}).startswith("A network failure")
