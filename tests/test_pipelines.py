"""Pipelines: a tiny detector and a tiny landmark model built, quantized, compiled by Vela and chained for real.

One doit build of a small project (module fixture): the detector's best box is cut from each frame and handed to
the second model; the pipeline is judged end to end on this machine's board, against the Vela estimates and the
target's memory, and its frame-rate gate fails the build with its table.  Then the same pipeline runs on a real
OpenSSH server, and bad pipelines are refused at load with their YAML path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sshd
import yaml

from support import U65, doit, write
from tasks import config
from tasks.engine import plan
from tasks.errors import ConfigError
from tasks.steps import pipeline

DETECTOR = """
import keras
import numpy as np


def build():
    inputs = keras.Input(shape=(32, 32, 3), name="frame")
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    box = keras.layers.Dense(4, name="box")
    score = keras.layers.Dense(1, activation="sigmoid", name="score")
    boxes = keras.layers.Reshape((1, 4), name="boxes")(box(x))
    scores = keras.layers.Reshape((1,), name="scores")(score(x))
    model = keras.Model(inputs, [boxes, scores])
    rng = np.random.default_rng(1)
    # a box around the middle that moves a little with the frame, and a confident score
    box.set_weights([rng.normal(0, 0.05, (4, 4)), np.array([0.25, 0.2, 0.75, 0.7])])
    score.set_weights([rng.normal(0, 0.05, (4, 1)), np.array([3.0])])
    return model
"""
POINTS = """
import keras
import numpy as np


def build():
    inputs = keras.Input(shape=(16, 16, 3), name="crop")
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(10, name="points")
    model = keras.Model(inputs, dense(x))
    rng = np.random.default_rng(2)
    dense.set_weights([rng.normal(0, 2.0, (8, 10)), rng.uniform(3, 13, 10)])  # 5 (x, y) in the crop's pixels
    return model
"""


def project(root: Path, pipelines: str, more: str = "", schemes: str = "") -> Path:
    import numpy as np
    from PIL import Image

    write(root / "models" / "det.py", DETECTOR)
    write(root / "models" / "pts.py", POINTS)
    rng = np.random.default_rng(0)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, size=(40, 30 + 4 * i, 3), dtype=np.uint8)).save(root / f"data/f{i}.png")
    return write(
        root / "project.yaml",
        f"""
        version: 1
        name: chain
        datasets:
          frames: {{images: "data/*.png", preprocess: {{resize: letterbox, mean: 0, scale: 255}}}}
        models:
          det:
            source: {{builder: "models/det.py:build"}}
            task: {{type: detection, layout: boxes}}
            calibration: frames
            validation: frames
          pts:
            source: {{builder: "models/pts.py:build"}}
            task: {{type: keypoints, values: 2}}
            calibration: frames
            validation: frames
        quantization:
          int8: {{type: int8, io: int8}}
          a16w8: {{type: int16x8}}
          {schemes}
        targets:
          u65: {U65[:-1]}, memory: {{sram_kib: 1, flash_kib: 4096}}}}
          cpu: {{compiler: none}}
        boards:
          local: {{host: local, targets: [cpu], benchmark: {{runs: 6, warmup: 1}}}}
        pipelines:
        {pipelines}
        {more}
        """,
    )


CHAIN = """
          chain:
            stages: [{model: det}, {model: pts, crop: {layout: box, scale: 1.2}}]
            quantization: {int8: int8}
            targets: [u65, cpu]
            fps: 5
            search: {goal: {metric: landmark_px_mean, max: 1000}, target: u65}
          strict:
            stages: [{model: det}, {model: pts, crop: box}]
            quantization: {int8: int8}
            targets: [u65]
            budget_ms: 1000
            search: {goal: {metric: landmark_px_mean, max: 0}, measure: 3}
"""
TOO_FAST = "gates: [{pipelines: chain, targets: cpu, metric: pipeline_fps, min: 100000}]"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("chain")
    project(root, CHAIN, TOO_FAST)
    return root, doit(root)


def test_the_frame_rate_gate_fails_the_build_with_its_table(built):
    root, proc = built
    assert proc.returncode != 0
    assert "2 gate check(s) failed" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("gates[0]"))
    assert row.split()[:4] == ["gates[0]", "chain/int8@cpu", "pipeline_fps", "(measured"]
    assert row.split()[-2:] == [">=", "100000"]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("pipelines.strict.search.goal"))
    assert row.split()[1:3] == ["strict/search@u65", "landmark_px_mean"] and row.split()[-2:] == ["<=", "0"]
    checks = json.loads((root / "build" / "gates.json").read_text())["checks"]
    assert [c["passed"] for c in checks if c.get("source") == "pipelines.chain.fps"] == [True, True, True]


def test_results_add_the_stages_up_against_the_budget_and_the_memory(built):
    root, _ = built
    results = json.loads((root / "build" / "results.json").read_text())
    by_id = {v["id"]: v for v in results["variants"]}
    rows = {p["id"]: p for p in results["pipelines"]}
    assert set(rows) == {"chain/int8@u65", "chain/int8@cpu", "chain/search@u65", "strict/int8@u65", "strict/search@u65"}
    npu = rows["chain/int8@u65"]
    stages = [by_id["det/int8@u65"], by_id["pts/int8@u65"]]
    assert [s["npu_ms"] for s in npu["stages"]] == [v["estimate"]["inference_ms"] for v in stages]
    assert npu["estimate"]["ms"] == pytest.approx(sum(v["estimate"]["inference_ms"] for v in stages))
    assert npu["budget_ms"] == pytest.approx(200.0)
    sram = max(v["estimate"]["sram_kib"] for v in stages)
    assert npu["memory"] == {
        "sram_kib": sram,
        "flash_kib": round(sum(v["size_bytes"] for v in stages) / 1024, 2),
        "target_sram_kib": 1,
        "target_flash_kib": 4096,
        "fits": sram <= 1,
    }
    measured = rows["chain/int8@cpu"]["measured"]
    assert measured["board"] == "local" and measured["frames"] == 6 and measured["carried"] == 6
    assert measured["frame_ms"]["avg"] == pytest.approx(sum(measured["stage_ms"]) + measured["cpu_ms"], abs=1e-3)


def test_the_last_stage_is_scored_on_the_quantized_detectors_crops(built):
    root, _ = built
    acc = json.loads((root / "build" / "results.json").read_text())["pipelines"][0]["accuracy"]
    assert acc["frames"] == 6 and acc["reference_frames"] == 6  # the float detector finds its box in every frame
    assert acc["scored_frames"] + acc["misses"] == 6
    assert set(acc["metrics"]) >= {"landmark_px_mean", "landmark_pck", "pipeline_miss_rate"}
    # the float model on the quantized crops moves the points by no more than the whole quantized chain does
    assert acc["from_crops"]["landmark_px_mean"] <= acc["metrics"]["landmark_px_mean"] + 1e-6
    page = (root / "build" / "report" / "pipelines" / "chain.html").read_text()
    assert "budget 200.00 ms" in page and "of 1 KiB" in page


def test_the_search_measures_the_cheapest_combinations_first_and_stops_at_the_goal(built):
    root, _ = built
    rows = {p["id"]: p for p in json.loads((root / "build" / "results.json").read_text())["pipelines"]}
    easy, strict = rows["chain/search@u65"]["search"], rows["strict/search@u65"]["search"]
    combos = easy["combinations"]
    assert len(combos) == 4 and [c["ms"] for c in combos] == sorted(c["ms"] for c in combos)
    assert [s["variant"] for s in rows["chain/search@u65"]["stages"]] == combos[0]["variants"]
    assert easy["met"] and easy["chosen"] == 0 and [c["measured"] for c in combos] == [True, False, False, False]
    assert combos[0]["value"] == rows["chain/search@u65"]["accuracy"]["metrics"]["landmark_px_mean"]
    assert sorted(easy["fronts"][0], key=lambda p: p["scheme"])[0]["variant"] == "det/a16w8@u65"
    # nothing reaches 0 px: the first three (search.measure) are measured, the closest is the row's, and why says so
    assert not strict["met"] and strict["chosen"] is None
    assert [c["measured"] for c in strict["combinations"]] == [True, True, True, False]
    best = min(strict["combinations"][:3], key=lambda c: (c["value"], c["ms"]))
    assert strict["combinations"][strict["closest"]] == best
    assert strict["why"].startswith("no combination within 1000.00 ms reaches landmark_px_mean <= 0: the closest, ")
    assert "3 of the 4 within the budget measured" in strict["why"]


def test_the_pipeline_runs_on_a_real_ssh_board(built, tmp_path: Path):
    root, _ = built
    server = sshd.start(tmp_path / "sshd")
    try:
        step = next(s for s in plan.plan(config.load(root / "project.yaml")) if s.kind.name == "pipeline-benchmark")
        board = server.board(runs=6)
        settings = {**step.options.board, **{k: board[k] for k in ("host", "user", "port", "workdir", "python")}}
        connection = {k: board[k] for k in ("name", "key", "known_hosts", "host_key", "timeout", "connect_timeout")}
        out = tmp_path / "ssh.json"
        pipeline.run_benchmark(
            pipeline.BenchmarkOptions(**{**vars(step.options), "board": settings, "connection": connection, "out": out})
        )
    finally:
        server.stop()
    measured = json.loads(out.read_text())
    assert measured["board"] == "ssh" and measured["frames"] == 6 and len(measured["stage_ms"]) == 2
    assert measured["fps"] == pytest.approx(1000 / measured["frame_ms"]["avg"], rel=1e-3)
    assert len(list((tmp_path / "sshd" / "board").glob("*.pyz"))) == 1  # the runner and its modules, uploaded


def test_with_keypoint_labels_both_chains_are_scored_against_them_by_pycocotools(built, tmp_path: Path):
    """Labels 1.17 px off the float chain's landmarks, each person of area 100: the float chain's OKS is
    exp(-1.17^2 / (2 * 100 * (2 * 0.072)^2)) = 0.72 on every frame, so its AP over OKS .50:.05:.95 is 5 thresholds
    of 10 met, 0.5 exactly; 100 px off, no chain's landmark is near one, and the AP of both is 0."""
    import math
    import shutil

    from tasks.model import pipelines
    from tasks.model.metrics import keypoints

    root = tmp_path / "chain"
    shutil.copytree(built[0], root)
    step = next(s for s in plan.plan(config.load(root / "project.yaml")) if s.kind.name == "pipeline-evaluate")
    stages = tuple(s.model_stage() for s in step.options.stages)
    chains = pipelines.Chains(stages, step.options.frames, "chain")
    size = tuple(chains.shapes[-1][1:3])
    off = math.sqrt(-math.log(0.72) * 2 * 100 * (2 * 0.072) ** 2) / math.sqrt(2)  # in x and in y: 1.17 px away

    def people(shift: float) -> dict:
        images, annotations = [], []
        for k, (frame, want) in enumerate(zip(step.options.frames.files, chains.wanted, strict=True), 1):
            flat = np.asarray(want.outputs["points"], dtype=np.float64).reshape(1, -1)
            xy = [
                want.region.to_image(float(u), float(v), size)
                for u, v in keypoints.points(chains.spec, flat, "points")[0]
            ]
            width, height = chains.images[k - 1].size
            images.append({"id": k, "file_name": frame.name, "width": width, "height": height})
            points = [c for x, y in xy for c in (x + shift, y + shift, 2)]
            box = [0, 0, width, height]
            annotations.append(
                {"id": k, "image_id": k, "category_id": 1, "bbox": box, "area": 100, "keypoints": points}
            )
        categories = [{"id": 1, "name": "person", "keypoints": [f"p{j}" for j in range(5)]}]
        return {"images": images, "annotations": annotations, "categories": categories}

    labels = root / "data" / "people.json"
    labels.write_text(json.dumps(people(off)))
    text = (root / "project.yaml").read_text()
    dataset = '  people: {images: "data/*.png", labels: {format: coco, file: data/people.json}}\n'
    text = text.replace("models:\n", dataset + "models:\n", 1).replace(
        "    fps: 5\n", "    fps: 5\n    dataset: people\n", 1
    )
    (root / "project.yaml").write_text(text)
    doit(root)  # the frame-rate gate still fails the build, as in the module's build
    rows = {p["id"]: p for p in json.loads((root / "build" / "results.json").read_text())["pipelines"]}
    found = rows["chain/int8@u65"]["accuracy"]["labels"]
    assert found["labelled_frames"] == 6 and found["oks_ap"]["float"] == 0.5
    assert 0 <= found["oks_ap"]["quantized"] <= 1
    assert found["oks_ap"]["drop"] == pytest.approx((0.5 - found["oks_ap"]["quantized"]) * 100, abs=1e-4)
    assert "keypoint AP vs labels" in (root / "build" / "report" / "pipelines" / "chain.html").read_text()
    labels.write_text(json.dumps(people(100.0)))
    step = next(s for s in plan.plan(config.load(root / "project.yaml")) if s.kind.name == "pipeline-evaluate")
    away = pipelines.Chains(stages, step.options.frames, "chain").measure(tuple(s.quantized for s in stages), False)
    assert away["labels"]["oks_ap"] == {"float": 0.0, "quantized": 0.0, "drop": 0.0}


def test_shards_share_out_the_pipelines_steps_with_the_rest(tmp_path: Path):
    """Every step but the assembly's is some shard's, a pipeline's whole in one shard, for any number of shards."""
    from tasks.engine import shard

    project(tmp_path, CHAIN, TOO_FAST)
    planning = plan.planning(config.load(tmp_path / "project.yaml"))
    units = shard.shard_units(planning)
    assembly = {"results", "report", "gates"}
    pipelines = {u["name"]: u for u in units if u.get("pipeline")}
    assert set(pipelines) == {"pipeline:chain", "pipeline:strict"}
    own = {s.task_name for s in planning.steps if s.kind.name.startswith("pipeline")}
    assert own <= {name for u in pipelines.values() for name in u["steps"]}
    # a pipeline's unit needs its stages' steps: the compile of each stage it adds up
    assert {"compile:det/int8@u65", "compile:pts/int8@u65"} <= set(pipelines["pipeline:strict"]["steps"])
    for n in (1, 2, 3, 4):
        shares = [shard.shard(f"{k}/{n}", units)[2] for k in range(1, n + 1)]
        covered = {name for share in shares for u in share for name in u["steps"]}
        assert covered == {s.task_name for s in planning.steps} - assembly, n
        assert sum(1 for share in shares for u in share if u.get("pipeline")) == 2


AUTO = "auto: {type: auto, goal: {metric: landmark_px_mean, max: 1000}, budget: {target: u65, max_ms: 100}}"
SEARCHED = """
          searched:
            stages: [{model: det}, {model: pts, crop: box}]
            quantization: {int8: int8}
            targets: [u65]
            budget_ms: 1000
            search: {goal: {metric: landmark_px_mean, max: 0}, measure: 20}
"""
BUILDS = (
    "builds: [{models: [det, pts], quantization: [int8], targets: [u65]}, "
    "{models: [pts], quantization: [auto], targets: [u65]}]"
)


def test_the_search_takes_the_candidates_of_a_stages_automatic_scheme(tmp_path: Path):
    """pts's automatic scheme (int8 meets its easy goal) measured more accurate models on its way: the pipeline
    search sees them, quantizes them again to run them end to end, and the row that takes one says how to build it."""
    from tasks.config.project import Goal
    from tasks.model import mixed_search
    from tasks.steps import search
    from tasks.tflite import flatbuffer

    root = tmp_path / "p"
    project(root, SEARCHED, BUILDS, schemes=AUTO)
    assert doit(root).returncode == 1  # nothing reaches 0 px: the search's goal gate fails, all else is built
    results = json.loads((root / "build" / "results.json").read_text())
    row = next(p for p in results["pipelines"] if p["id"] == "searched/search@u65")
    found = row["search"]
    # pts's front: its two variants, then the candidates on the front of the automatic scheme's own goal
    folder = root / "build" / "pts" / "auto" / "search" / "candidates"
    records = [r for r in (json.loads(f.read_text()) for f in sorted(folder.glob("*.json")) if ".layers" not in f.name)]
    records = [r for r in records if not r.get("none")]
    own = Goal(metric="landmark_px_mean", max=1000)
    on_front = {records[i]["name"] for i in mixed_search.pareto([search._entry(r, own) for r in records], own)}
    points = found["fronts"][1]
    assert [p["scheme"] for p in points[:2]] == ["int8", "auto"] and not any(p.get("candidate") for p in points[:2])
    taken = {p["scheme"].split(":", 1)[1] for p in points[2:]}
    assert taken and taken <= on_front and all(p["candidate"] for p in points[2:])
    assert all(p["variant"] == f"pts/{p['scheme']}@u65" for p in points[2:])
    # every combination is measured (measure: 20), each candidate quantized again and run through the chain
    assert all(c["measured"] and c["value"] is not None for c in found["combinations"])
    closest = found["combinations"][found["closest"]]
    assert closest["value"] == min(c["value"] for c in found["combinations"])
    assert [s["variant"] for s in row["stages"]] == closest["variants"]
    assert row["accuracy"]["metrics"]["landmark_px_mean"] == closest["value"]
    # the closest takes a candidate: its stage is the candidate's record, with the scheme that builds it
    stage = row["stages"][1]
    assert closest["schemes"][1].startswith("auto:") and "declare" in stage and "declare" not in row["stages"][0]
    record = next(r for r in records if f"auto:{r['name']}" == closest["schemes"][1])
    assert stage["npu_ms"] == record["ms"] and stage["sram_kib"] == record["sram_kib"]
    assert row["estimate"]["ms"] == pytest.approx(row["stages"][0]["npu_ms"] + record["ms"])
    declared = yaml.safe_load(stage["declare"])
    ((name, scheme),) = declared.items()
    assert name == "auto_" + record["name"].replace("-", "_") and scheme["type"] == "int8" and "io" not in scheme
    integer_only = yaml.safe_load(mixed_search.snippet("x", {"scheme": {"weights": "min_max"}}, io="int8"))
    assert integer_only == {"x": {"type": "int8", "io": "int8"}}  # an automatic scheme's io, measured with, kept
    step = next(s for s in plan.plan(config.load(root / "project.yaml")) if s.kind.name == "pipeline-search")
    searched = step.options.stages[1].searched[0]
    model = flatbuffer.read(searched.candidates.model)
    assert scheme.get("overrides", []) == mixed_search.overrides(model, set(record["wide"]))
    # quantized again, the automatic scheme's own choice is the very model its quantize step made
    chosen = json.loads((root / "build" / "pts" / "auto" / "search" / "search.json").read_text())["chosen"]
    own_choice = next(r for r in records if r["ms"] == chosen["ms"] and r["weights"] == chosen["weights"])
    again = search.quantized_candidate(searched.candidates, own_choice)
    assert again == step.options.stages[1].choices[1].quantized.read_bytes()


def test_the_pipeline_on_an_adb_board_without_that_device_is_named(built, tmp_path: Path, monkeypatch):
    """The adb path of the board run, with this machine's real adb and no device: one message naming both."""
    import shutil
    import subprocess

    from tasks.boards.transport import BoardError

    if shutil.which("adb") is None:
        pytest.fail("adb is not installed: `make test` installs it")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5041")  # an adb server of its own, beside test_boards.py's
    root, _ = built
    step = next(s for s in plan.plan(config.load(root / "project.yaml")) if s.kind.name == "pipeline-benchmark")
    settings = {**step.options.board, "host": None, "transport": "adb", "serial": "npuforge-no-such-device"}
    connection = {"name": "phone", "key": None, "known_hosts": None, "host_key": None}
    connection |= {"timeout": 60.0, "connect_timeout": 30.0}
    out = tmp_path / "adb.json"
    try:
        with pytest.raises(BoardError) as info:
            pipeline.run_benchmark(
                pipeline.BenchmarkOptions(
                    **{**vars(step.options), "board": settings, "connection": connection, "out": out}
                )
            )
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)
    message = str(info.value)
    assert message.startswith("board phone (adb serial npuforge-no-such-device): no device with that serial ("), message
    assert not out.exists()


def test_combinations_within_a_percent_of_the_cheapest_are_measured_most_accurate_last_stage_first():
    """The example's front with its automatic schemes' candidates: models 0.05 ms apart, one of them far worse."""
    from tasks.config.project import Goal

    last = [
        {"scheme": "auto:int8-mse", "alone": 28.43},
        {"scheme": "int8", "alone": 18.27},
        {"scheme": "mixed", "alone": 15.91},
        {"scheme": "a16w8", "alone": 11.81},
        {"scheme": "new", "alone": None},
    ]
    ms = {"auto:int8-mse": 16.7833, "int8": 16.8276, "mixed": 16.8755, "new": 16.9, "a16w8": 22.3835}
    combos = [{"schemes": ["int8_io", s], "ms": m, "cpu_ops": 0} for s, m in sorted(ms.items(), key=lambda x: x[1])]
    order = pipeline._in_order(combos, last, Goal(metric="landmark_px_mean", max=10))
    # 16.7833 * 1.01 = 16.95: the first four cost the same; a16w8 comes after them whatever its accuracy
    assert [c["schemes"][1] for c in order] == ["mixed", "int8", "auto:int8-mse", "new", "a16w8"]
    higher = pipeline._in_order(combos, last, Goal(metric="landmark_px_mean", min=10))  # as if higher were better
    assert [c["schemes"][1] for c in higher] == ["auto:int8-mse", "int8", "mixed", "new", "a16w8"]


@pytest.mark.parametrize(
    ("pipelines", "message"),
    [
        (
            "  chain: {stages: [{model: det}, {model: ptz, crop: box}], quantization: {q: int8}, targets: [cpu]}",
            "pipelines.chain.stages[1].model: 'ptz' is not a model or prune variant (units: det, pts)",
        ),
        (
            "  chain: {stages: [{model: pts}, {model: det, crop: box}], quantization: {q: int8}, targets: [cpu]}",
            "pipelines.chain.stages[1].crop: crop needs a detection task on the stage before (pts has keypoints); "
            "give models.pts task: detection",
        ),
        (
            "  chain: {stages: [{model: det, crop: box}, {model: pts, crop: box}], quantization: {q: int8}, "
            "targets: [cpu]}",
            "pipelines.chain.stages[0].crop: the first stage sees the whole frame; remove crop",
        ),
        (
            "  chain: {stages: [{model: det}, {model: pts, crop: box}], quantization: {q: [int8, a16]}, "
            "targets: [cpu]}",
            "pipelines.chain.quantization.q: 'a16' is not defined under quantization (defined: a16w8, int8)",
        ),
        (
            "  chain: {stages: [{model: det}, {model: pts, crop: box}], quantization: {q: int8}, targets: [cpu], "
            "fps: 5, search: {goal: {metric: landmark_px_mean, max: 3}}}",
            "pipelines.chain.search.target: cpu has no Vela estimate to add up; name a Vela target of the pipeline "
            "(it has none)",
        ),
        (
            "  chain: {stages: [{model: det}, {model: pts, crop: box}], quantization: {q: int8}, targets: [u65], "
            "search: {goal: {metric: top1_agreement, min: 1}}}",
            "pipelines.chain.search.goal.metric: top1_agreement is not a metric of the last stage's tasks end to end",
        ),
    ],
)
def test_a_bad_pipeline_is_refused_with_its_yaml_path(tmp_path: Path, pipelines: str, message: str):
    with pytest.raises(ConfigError) as info:
        config.load(project(tmp_path, pipelines))
    assert message in str(info.value)


def test_a_stage_not_built_for_a_pipeline_target_is_named(tmp_path: Path):
    path = project(tmp_path, CHAIN, "builds: [{models: [det], targets: [u65, cpu]}, {models: [pts], targets: [u65]}]")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert (
        "pipelines.chain.quantization.int8: pts is not built with int8 for cpu; add it to builds "
        "(models: [pts], quantization: [int8], targets: [cpu]) or take the target out of the pipeline"
    ) in str(info.value)
