"""The automatic mixed-precision search on a tiny real model with one deliberately sensitive block of layers.

Every candidate is a real ai-edge-quantizer quantization, a real Vela compile for the U65 and a real evaluation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support import doit, ok, ran, restored, write
from tasks import config
from tasks.errors import ConfigError
from tasks.model import mixed_search
from tasks.tflite import flatbuffer

# One channel of `wide` is ~1000 times the others, so int8 (one scale per tensor) rounds the others to nothing;
# `narrow` reads them back.  Widening the block [wide, narrow] to int16x8 alone recovers the output.
SENSITIVE = """
import keras
import numpy as np


def build():
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(64, 64, 3), name="image")
    stem = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="stem")(inputs)
    left = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="left")(stem)
    joined = keras.layers.Add(name="join1")([stem, left])
    down = keras.layers.Conv2D(16, 3, strides=4, padding="same", name="down")(joined)  # 16x16: type changes are cheap
    wide = keras.layers.Conv2D(8, 1, name="wide")(down)
    narrow = keras.layers.Conv2D(16, 1, name="narrow")(wide)
    out = keras.layers.Add(name="join2")([down, narrow])
    out = keras.layers.GlobalAveragePooling2D(name="pool")(out)
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(out))
    w, b = model.get_layer("wide").get_weights()
    w[..., 0], b[0] = 0.0, 3000.0  # channel 0: a constant 3000
    model.get_layer("wide").set_weights([w, b])
    w, b = model.get_layer("narrow").get_weights()
    w[:, :, 0, :] = 0.0  # and nothing of it is read back
    model.get_layer("narrow").set_weights([w * 4, b])
    return model
"""

PROJECT = """
version: 1
name: sensitive
datasets:
  noise: {random: {seed: 0, count: 24}, split: {calibration: 0.5, validation: 0.5}}
models:
  net:
    source: {builder: "models/net.py:build"}
    calibration: noise
    validation: noise
quantization:
  auto:
    type: auto
    goal: {metric: snr_db, min: GOAL}
    budget: {target: u65, max_ms: 5}
targets:
  u65: {compiler: vela, accelerator: ethos-u65-256, system_config: Ethos_U65_High_End, memory_mode: Dedicated_Sram}
"""


def project(root: Path, goal: float = 25.0, max_ms: float = 5) -> Path:
    write(root / "models" / "net.py", SENSITIVE)
    return write(root / "project.yaml", PROJECT.replace("GOAL", str(goal)).replace("max_ms: 5", f"max_ms: {max_ms}"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("step-cache")


@pytest.fixture(scope="module")
def searched(tmp_path_factory, cache: Path) -> Path:
    root = tmp_path_factory.mktemp("auto")
    project(root)
    ok(doit(root, env={"NPUFORGE_CACHE": str(cache)}))
    return root


def chosen_layers(root: Path) -> list[str]:
    return json.loads((root / "build" / "net" / "auto" / "search" / "search.json").read_text())["chosen"]["layers"]


def test_the_search_finds_the_sensitive_block_and_widens_only_it(searched: Path):
    folder = searched / "build" / "net" / "auto"
    found = json.loads((folder / "search" / "search.json").read_text())
    assert found["met"], found["why"]
    layers = found["chosen"]["layers"]
    # the sensitive block is in int16x8; the costly full-resolution layers before it stay int8 (what follows it
    # may go along: Vela counts an int16 tail up to the output cheaper than a second type change)
    assert [n for n in layers if re.search("wide|narrow", n)] == layers[:2] and len(layers) >= 2, layers
    assert not [n for n in layers if re.search("stem|left|join1|down", n)], layers
    # the estimate, from the two ends alone, says so: that block adds most error in int8, and the widening path
    # takes it first
    table = json.loads((folder / "search" / "sensitivity.json").read_text())
    worst = max(table["blocks"], key=lambda b: b["error"])
    assert worst["kinds"] == ["CONV_2D", "CONV_2D"], table["blocks"]
    widen = next(r for r in table["routes"] if r["name"] == "widen")
    assert widen["order"][0] == worst["index"]
    # the ends and the path candidates are real models: Vela's latency beside the estimate made before
    along = [c for c in found["candidates"] if c["stage"] in ("widen", "narrow")]
    assert along and all(c["estimated_ms"] is not None for c in along)
    ends = {c["stage"] for c in found["candidates"]} & {"8-bit", "16-bit"}
    assert ends == {"8-bit", "16-bit"}
    int8 = table["ends"]["int8"]["accuracy"]["outputs"]["logits"]["snr_db"]
    assert int8 < 25 <= found["chosen"]["value"]
    # the quantized model is that choice: the two convs in int16, the rest int8, on the NPU
    facts = json.loads((folder / "quantize.json").read_text())
    assert facts["precision"]["int16"] == len(layers) and facts["scheme"]["chosen"]["overrides"]
    model = flatbuffer.read(folder / "net_auto.tflite")
    sg = model.subgraphs[0]
    int16 = [
        flatbuffer.tensor_name(sg.tensors[op.outputs[0]])
        for op in sg.operators
        if sg.tensors[op.outputs[0]].type == flatbuffer.schema.TensorType.INT16
    ]
    assert sorted(n.removesuffix("_int") for n in int16 if "quantize" not in n.lower()) == sorted(layers)
    results = json.loads((searched / "build" / "results.json").read_text())["variants"][0]
    assert results["accuracy"]["outputs"]["logits"]["snr_db"] == pytest.approx(found["chosen"]["value"])
    assert results["estimate"]["inference_ms"] == pytest.approx(found["chosen"]["ms"])
    assert results["search"]["chosen"]["summary"] == found["chosen"]["summary"]
    # the report: the search in report.md, the Pareto plot and the snippet on the variant's page
    assert (
        f"- **net/auto** (snr_db >= 25.0 within 5 ms on u65): chose {found['chosen']['summary']}"
        in (searched / "build" / "report" / "report.md").read_text()
    )
    page = (searched / "build" / "report" / "variants" / "net_auto@u65.html").read_text()
    assert "<h2>Mixed-precision search</h2>" in page and "polyline class='front'" in page
    assert page.count("<circle class='stage-") == len(found["candidates"]) and "overrides:" in page
    # the snippet is a fixed scheme that loads, and picks exactly those layers
    pasted = mixed_search.snippet("fixed", found["chosen"])
    overrides = [o["match"] for o in __import__("yaml").safe_load(pasted)["fixed"]["overrides"]]
    assert [n for n in layers if any(re.search(m, n + ";") for m in overrides)] == layers


def test_candidates_are_steps_and_a_new_budget_reruns_the_search_alone(searched: Path, tmp_path: Path):
    import shutil

    listed = doit(searched, "list").stdout
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("candidate:")}
    assert {"candidate:net/auto:int8", "candidate:net/auto:int16x8", "candidate:net/auto:narrow-1"} <= names
    assert ran(ok(doit(searched))) == set()
    root = tmp_path / "copy"
    shutil.copytree(searched, root)
    project(root, max_ms=4.5)
    proc = ok(doit(root))
    assert "search:net/auto" in ran(proc)
    assert not {n for n in ran(proc) if n.startswith(("candidate:", "sensitivity:", "calibrate:"))}, ran(proc)


def test_a_fresh_clone_restores_the_candidates_from_the_step_cache(searched: Path, cache: Path, tmp_path: Path):
    second = tmp_path / "elsewhere" / "job2"  # a fresh clone on another runner, with the same cache
    project(second)
    proc = ok(doit(second, env={"NPUFORGE_CACHE": str(cache)}))
    candidates = {n for n in restored(proc) if n.startswith("candidate:")}
    assert {"candidate:net/auto:int8", "candidate:net/auto:int16x8", "candidate:net/auto:widen-1"} <= candidates
    assert not {n for n in ran(proc) if n.startswith("candidate:")} - restored(proc)  # none measured again
    record = "build/net/auto/search/candidates/int16x8.json"
    assert (second / record).read_bytes() == (searched / record).read_bytes()
    assert chosen_layers(second) == chosen_layers(searched)


def test_an_unreachable_goal_fails_the_gate_with_why(searched: Path, tmp_path: Path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(searched, root)
    project(root, goal=150.0)
    proc = doit(root)
    assert proc.returncode != 0
    found = json.loads((root / "build" / "net" / "auto" / "search" / "search.json").read_text())
    assert not found["met"] and "no candidate meets snr_db >= 150.0 within 5 ms" in found["why"]
    assert "quantization.auto.goal" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "scheme, message",
    [
        (
            "{type: auto, budget: {target: u65, max_ms: 5}}",
            "quantization.auto: type auto needs goal: {metric: METRIC, min: X} or {metric: METRIC, max: X}",
        ),
        (
            "{type: auto, goal: {metric: snr_db, min: 1, max: 2}, budget: {target: u65, max_ms: 5}}",
            "quantization.auto.goal: give the goal one bound, min or max",
        ),
        (
            "{type: auto, goal: {metric: latency_ms, max: 2}, budget: {target: u65, max_ms: 5}}",
            "quantization.auto.goal.metric: 'latency_ms' is not a metric a search can improve",
        ),
        (
            "{type: auto, goal: {metric: snr_db, min: 20}, budget: {target: cpu, max_ms: 5}}",
            "quantization.auto.budget.target: 'cpu' is not a vela target",
        ),
        ("{type: auto, goal: {metric: snr_db, min: 20}}", "quantization.auto: type auto needs budget"),
        ("{type: int16x8, weights: octav}", "quantization.auto.weights: weights: octav rounds int8 weights"),
        ("{type: int8, goal: {metric: snr_db, min: 20}}", "quantization.auto.goal: goal is for type auto"),
        (
            "{type: auto, goal: {metric: top1_agreement, min: 0.9}, budget: {target: u65, max_ms: 5}}",
            "quantization.auto.goal.metric: top1_agreement is not measured on model net: its tasks give none",
        ),
    ],
)
def test_bad_automatic_schemes_are_one_clear_error(tmp_path: Path, scheme: str, message: str):
    project(tmp_path)
    text = (tmp_path / "project.yaml").read_text()
    text = text.replace("  cpu_placeholder", "")
    start = text.index("  auto:\n")
    end = text.index("targets:")
    text = text[:start] + f"  auto: {scheme}\n" + text[end:] + "  cpu: {compiler: none}\n"
    write(tmp_path / "project.yaml", text)
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "project.yaml")
    assert message in str(info.value)


def test_a_synap_target_gets_the_chosen_layers_as_its_metafiles_mixed_section(tmp_path: Path):
    """SyNAP quantizes by itself: the search's int16 layers become the metafile's per-layer data_type."""
    import numpy as np
    import yaml
    from PIL import Image

    from support import DATA

    root = tmp_path / "synap"
    text = project(root).read_text()
    rng = np.random.default_rng(0)
    (root / "data").mkdir()
    for i in range(12):  # SyNAP calibrates on files: photos instead of random data
        Image.fromarray(rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)).save(root / "data" / f"{i}.png")
    text = text.replace("noise: {random: {seed: 0, count: 24},", 'noise: {images: "data/*.png",')
    write(root / "project.yaml", text + "  vs680: {compiler: synap, soc: VS680}\n")
    ok(doit(root, "metafile:net/auto@vs680"))
    chosen = json.loads((root / "build" / "net" / "auto" / "search" / "search.json").read_text())["chosen"]
    meta = yaml.safe_load((root / "build" / "net" / "auto" / "vs680" / "metafile.yaml").read_text())
    assert meta["quantization"]["data_type"] == {"*": "int8", **dict.fromkeys(chosen["layers"], "int16")}
    assert meta["quantization"]["dataset"] == ["data/*.png"]
    # by name, the layers are tensors of the model SyNAP converts (the imported float model, for a builder source)
    model = flatbuffer.read(root / "build" / "net" / "net_float.tflite")
    assert set(chosen["layers"]) <= {flatbuffer.tensor_name(t) for t in model.subgraphs[0].tensors}
    # and the section has the form of a real SyNAP mixed metafile: '*' for the rest, a type per named layer
    sample = yaml.safe_load((DATA / "synap" / "6-mixed-one-output.yaml").read_text())["quantization"]
    assert sample["data_type"]["*"] == "uint8" and set(meta["quantization"]) == set(sample)


def test_positions_spread_along_a_path_and_the_budget_adds_the_one_below_it():
    # a narrowing path over 6 blocks: estimated ms of its models 0 … 6 (0: every block int16x8)
    route = mixed_search.Route(name="narrow", order=(4, 2, 0, 1, 3, 5), ms=(16.0, 15.1, 14.9, 13.2, 12.1, 11.0, 10.0))
    # aims 12 and 14 (two between the ends 10 and 16, a spacing of 2): within 1 of 14 are steps 2 (14.9) and 3
    # (13.2), the fewest narrowed is step 2; within 1 of 12 are steps 4 (12.1) and 5 (11.0): step 4
    assert mixed_search.positions(route, 2, 10.0, 16.0) == [2, 4]
    blocks = [{"index": i, "ops": [i]} for i in range(6)]
    table = {"routes": [{"name": "narrow", "order": list(route.order), "ms": list(route.ms)}], "blocks": blocks}
    table["weights"] = "octav"
    # Vela gave 0.3 ms more than the estimate on the candidate estimated nearest the budget (13.2 → 13.5)
    measured = [
        {"stage": "narrow", "step": 3, "estimated_ms": 13.2, "ms": 13.5},
        {"stage": "narrow", "step": 5, "estimated_ms": 11.0, "ms": 10.0},
    ]
    spec = mixed_search.refinement(table, measured, "narrow", 13.5)
    # budget 13.5 less 0.3: the fewest blocks narrowed with an estimate at most 13.2 is step 3, measured already
    assert spec is None
    spec = mixed_search.refinement(table, measured, "narrow", 12.5)
    # the estimate nearest 12.5 is step 3's (13.2, 0.7 away; step 5's 11.0 is 1.5), 0.3 short: 12.5 - 0.3 = 12.2,
    # and the first step estimated at most 12.2 is step 4 (12.1)
    assert spec["step"] == 4 and spec["weights"] == "octav"
    assert spec["wide"] == [3, 5]  # blocks 4, 2, 0, 1 narrowed


def test_spearman_matches_the_hand_computed_ranks():
    # ranks of a: 1 2 3 4 5; of b: 2 1 4 3 5 → d² = 1+1+1+1+0 = 4; rho = 1 - 6·4 / (5·24) = 0.8
    assert mixed_search.spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50]) == pytest.approx(0.8)
    assert mixed_search.spearman([1, 1, 1], [1, 2, 3]) is None
    # ties take their mean rank: a = 1 2.5 2.5 4 against itself
    assert mixed_search.spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
