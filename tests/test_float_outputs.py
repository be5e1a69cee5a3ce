"""float-outputs: the float model run once for the steps that compare with it, and taken only for its own samples."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from models_for_tests import calibrated_by_step, imported, keras_net, random_dataset
from support import tiny_project
from tasks import config
from tasks.engine import plan
from tasks.model import expected
from tasks.steps import evaluate, float_outputs, quantize

VALIDATION = random_dataset(6, "val")


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """A float model and its int8 quantization."""
    folder = tmp_path_factory.mktemp("pair")
    float_model = imported(folder, keras_net(batch=1))
    quantized = folder / "q.tflite"
    quantize.run(
        quantize.Options(
            scheme=quantize.Scheme(type="int8", io="float32", per_channel=True),
            label="net/int8",
            where=quantize.Where(scheme="q", model="models.net", unit="models.net"),
            model=float_model,
            out=quantized,
            facts=folder / "q.json",
            **calibrated_by_step(float_model, random_dataset(4), folder / "calibrated"),
        )
    )
    return float_model, quantized


def test_an_evaluation_from_the_kept_outputs_is_the_one_that_runs_the_float_model(pair, tmp_path: Path):
    float_model, quantized = pair
    kept = tmp_path / "net_float.outputs.npz"
    float_outputs.run(float_outputs.Options(label="net_float", dataset=VALIDATION, model=float_model, out=kept))

    def evaluated(out: Path, stored: Path | None) -> str:
        options = evaluate.Options(
            float_model=float_model,
            quantized=quantized,
            dataset=VALIDATION,
            tasks=(),
            in_sample=False,
            label="net/int8",
            out=out,
            expected=stored,
        )
        evaluate.run(options)
        return out.read_text()

    assert evaluated(tmp_path / "kept.json", kept) == evaluated(tmp_path / "run.json", None)
    assert json.loads((tmp_path / "run.json").read_text())["samples"] == 6


def test_kept_outputs_are_taken_only_for_the_same_samples(pair, tmp_path: Path):
    from tasks.model import accuracy, datasets

    float_model, _ = pair
    kept = tmp_path / "kept.npz"
    float_outputs.run(float_outputs.Options(label="net_float", dataset=VALIDATION, model=float_model, out=kept))
    runner = accuracy.Runner(float_model.read_bytes())
    xs = list(datasets.samples(VALIDATION, [1, 12, 12, 3]))
    first = expected.read(kept, xs[:4])  # the first four of the six kept: a candidate that takes fewer samples
    assert [sorted(o) for o in first] == [sorted(runner(xs[0]))] * 4
    for got, x in zip(first, xs[:4], strict=True):
        assert all(got[name].tobytes() == value.tobytes() for name, value in runner(x).items())
    assert expected.read(kept, xs[1:3]) is None  # other samples than the first ones
    assert expected.read(kept, [*xs, xs[0]]) is None  # more samples than were kept
    assert expected.read(kept, [x.astype("float64") for x in xs[:2]]) is None  # the same values as another type
    assert expected.read(tmp_path / "missing.npz", xs) is None
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(kept.read_bytes()[:1000])  # cut short, as a full disk leaves it
    assert expected.read(damaged, xs) is None


def test_the_float_model_runs_once_for_three_evaluations_and_not_for_two(tmp_path: Path):
    path = tiny_project(tmp_path)
    steps = {s.task_name: s for s in plan.plan(config.load(path))}
    assert not [n for n in steps if n.startswith("float-outputs:")]  # int8 and a16w8: two, each runs it
    path.write_text(
        path.read_text().replace("a16w8: {type: int16x8}", "a16w8: {type: int16x8}\n  io8: {type: int8, io: int8}")
    )
    steps = {s.task_name: s for s in plan.plan(config.load(path))}
    step = steps["float-outputs:tiny_float"]
    build = tmp_path / "build" / "tiny"
    assert build / "tiny_float.tflite" in step.file_dep and step.targets == (build / "tiny_float.outputs.npz",)
    assert step.options.dataset.labels is None
    readers = [n for n, s in steps.items() if n.startswith("evaluate:") and s.options.expected == step.targets[0]]
    assert sorted(readers) == ["evaluate:tiny/a16w8", "evaluate:tiny/int8", "evaluate:tiny/io8"]


def test_an_automatic_schemes_candidates_read_the_outputs_of_the_model_they_are_quantized_from(tmp_path: Path):
    path = tiny_project(tmp_path)
    auto = "auto: {type: auto, goal: {metric: snr_db, min: 30}, budget: {target: u65, max_ms: 1}}"
    path.write_text(path.read_text().replace("a16w8: {type: int16x8}", "a16w8: {type: int16x8}\n  " + auto))
    steps = {s.task_name: s for s in plan.plan(config.load(path))}
    start = tmp_path / "build" / "tiny" / "tiny_rewritten.tflite"
    step = steps["float-outputs:tiny_rewritten"]
    assert step.options.model == start
    candidates = [s for n, s in steps.items() if n.startswith("candidate:")]
    assert len(candidates) == 12
    assert {c.options.candidates.expected for c in candidates} == {step.options.out}
    assert dataclasses.replace(candidates[0].options.candidates.dataset, labels=None) == step.options.dataset
