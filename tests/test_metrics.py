"""Task metrics (tasks/model/metrics): each decoder against numbers worked out by hand in the test."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.errors import StepError
from tasks.model import metrics
from tasks.model.metrics import keypoints, segmentation


def samples(name: str, *arrays) -> list[dict[str, np.ndarray]]:
    """One dict per sample, the output ``name`` with a batch axis of 1."""
    return [{name: np.asarray(a, dtype=np.float32)[None]} for a in arrays]


def test_classification_top1_and_top5():
    # float's top-1: class 0, class 6, class 3
    ref = samples("p", [9, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 9], [0, 1, 2, 9, 4, 5, 6])
    # quantized: sample 1 agrees; sample 2's top-1 is class 5 but class 6 is its 2nd;
    # sample 3's top-1 is class 0 and class 3 is its 6th (0.5 < 0.6..0.9 of classes 1, 2, 4, 5, 6)
    got = samples("p", [9, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 9, 8], [9, 0.8, 0.7, 0.5, 0.6, 0.9, 0.65])
    found = metrics.evaluate({"type": "classification"}, ref, got, (1, 4, 4, 3))
    assert found == {"top1_agreement": round(1 / 3, 6), "top5_agreement": round(2 / 3, 6)}


def test_classification_top5_undefined_with_five_classes_or_fewer():
    ref, got = samples("p", [1, 0], [0, 1]), samples("p", [1, 0], [1, 0])
    found = metrics.evaluate({"type": "classification"}, ref, got, (1, 2))
    assert found == {"top1_agreement": 0.5, "top5_agreement": None}


def test_classification_names_the_output_when_there_are_several():
    two = [{"a": np.zeros((1, 3)), "b": np.zeros((1, 3))}]
    with pytest.raises(StepError) as err:
        metrics.evaluate({"type": "classification"}, two, two, (1, 3))
    assert str(err.value) == (
        "task classification: the model has 2 outputs (a, b); name the one with the class scores as task.output"
    )
    with pytest.raises(StepError) as err:
        metrics.evaluate({"type": "classification", "output": "c"}, two, two, (1, 3))
    assert str(err.value) == "task classification: no output 'c' (outputs: a, b); fix task.output"


def test_keypoints_displacement_in_pixels_and_pck():
    # two landmarks of (x, y, z): sample 1 moves landmark 0 by (3, 4) → 5 px, landmark 1 not at all;
    # sample 2 moves landmark 0 by (0, 1) → 1 px and landmark 1 by (6, 8) → 10 px
    ref = samples("lm", [10, 10, 0, 50, 50, 0], [20, 20, 0, 60, 60, 0])
    got = samples("lm", [13, 14, 7, 50, 50, 3], [20, 21, 0, 66, 68, 0])
    spec = {"type": "keypoints", "values": 3}
    found = metrics.evaluate(spec, ref, got, (1, 100, 200, 3))
    # distances 5, 0, 1, 10: mean 4; p95 (numpy's linear interpolation) 5 + 0.85 * (10 - 5) = 9.25
    # over the longer side, 200 px; PCK at 0.02 * 200 = 4 px: 0 and 1 are within → 2 of 4
    assert found == {
        "landmark_px_mean": 4.0,
        "landmark_px_p95": 9.25,
        "landmark_rel_mean": 0.02,
        "landmark_rel_p95": 0.04625,
        "landmark_pck": 0.5,
    }


def test_keypoints_mediapipe_pose_layout_takes_the_first_33_of_39():
    ref = np.zeros((39, 5), dtype=np.float32)
    got = ref.copy()
    got[33:, :2] = 100.0  # the six auxiliary points moved far: not landmarks, not counted
    got[0, 0] = 33.0  # landmark 0 moved 33 px: mean over 33 landmarks is 1 px
    found = metrics.evaluate(
        {"type": "keypoints", "layout": "mediapipe_pose"},
        samples("Identity", ref.ravel()),
        samples("Identity", got.ravel()),
        (1, 256, 256, 3),
    )
    assert found["landmark_px_mean"] == 1.0 and found["landmark_pck"] == round(32 / 33, 6)


def test_keypoints_normalized_coordinates_are_scaled_to_the_input():
    # x moves 0.125 of a 200 px wide input (25 px), y 0.125 of a 100 px high one (12.5 px):
    # sqrt(625 + 156.25) = 27.950850 (values exact in float32)
    ref, got = samples("lm", [0.5, 0.5]), samples("lm", [0.625, 0.625])
    found = metrics.evaluate({"type": "keypoints", "coordinates": "normalized"}, ref, got, (1, 100, 200, 3))
    assert found["landmark_px_mean"] == 27.95085


def test_keypoints_layout_that_does_not_fit_is_one_message():
    with pytest.raises(StepError) as err:
        keypoints.metrics(
            {"type": "keypoints", "values": 4},
            samples("lm", [1, 2, 3, 4, 5, 6]),
            samples("lm", [1, 2, 3, 4, 5, 6]),
            (1, 8, 8, 3),
        )
    assert str(err.value) == (
        "task keypoints: output 'lm' has 6 values, not a multiple of 4 per landmark; fix task.values (or task.layout)"
    )


def test_segmentation_iou_of_sigmoid_masks():
    # logits: foreground where > 0 (sigmoid > 0.5)
    ref = np.array([[2.0, 2.0], [-1.0, -1.0]])[..., None]  # top row
    got = np.array([[2.0, -3.0], [0.5, -1.0]])[..., None]  # top-left and bottom-left
    empty = np.full((2, 2, 1), -5.0)
    found = metrics.evaluate({"type": "segmentation"}, samples("m", ref, empty), samples("m", got, empty), (1, 2, 2, 3))
    # sample 1: intersection 1 (top-left), union 3 → 1/3; sample 2: both empty → they agree, 1
    assert found == {"mask_iou": round((1 / 3 + 1) / 2, 6), "mask_iou_min": round(1 / 3, 6)}


def test_segmentation_probabilities_and_classes():
    probs_ref, probs_got = np.array([[0.9, 0.4]])[..., None], np.array([[0.6, 0.7]])[..., None]
    spec = {"type": "segmentation", "activation": "none", "threshold": 0.5}
    # foreground {0} against {0, 1}: 1/2
    assert segmentation.metrics(spec, samples("m", probs_ref), samples("m", probs_got), (1, 1, 2, 3))["mask_iou"] == 0.5
    # three classes, argmax: ref labels [0, 1, 2, 2], got [0, 1, 1, 2]
    ref = np.eye(3)[[0, 1, 2, 2]].reshape(2, 2, 3)
    got = np.eye(3)[[0, 1, 1, 2]].reshape(2, 2, 3)
    # class 0: 1/1; class 1: 1/2; class 2: 1/2 → mean 2/3
    found = segmentation.metrics({"type": "segmentation"}, samples("m", ref), samples("m", got), (1, 2, 2, 3))
    assert found["mask_iou"] == round(2 / 3, 6)


def test_custom_metric_function(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "def offset(reference, quantized):\n"
        "    return {'mean_offset': float(np.mean([q['y'] - r['y'] for r, q in zip(reference, quantized)]))}\n"
        "def broken(reference, quantized):\n"
        "    return {'nan': float('nan')}\n"
    )
    ref, got = samples("y", [1.0, 2.0], [3.0, 3.0]), samples("y", [1.5, 2.5], [4.0, 4.0])
    spec = {"type": "custom", "metric": f"{tmp_path / 'mine.py'}:offset"}
    assert metrics.evaluate(spec, ref, got, (1, 2)) == {"mean_offset": 0.75}  # (0.5 + 0.5 + 1 + 1) / 4
    with pytest.raises(StepError) as err:
        metrics.evaluate({"type": "custom", "metric": f"{tmp_path / 'mine.py'}:broken"}, ref, got, (1, 2))
    assert str(err.value) == "task metric mine.py:broken: 'nan': nan is not a finite number; return numbers"
    with pytest.raises(StepError) as err:
        metrics.evaluate({"type": "custom", "metric": f"{tmp_path / 'mine.py'}:missing"}, ref, got, (1, 2))
    assert str(err.value) == f"task metric: {tmp_path / 'mine.py'} has no function 'missing'"


def test_every_task_type_has_its_decoder_and_names():
    import importlib

    for task in metrics.TASKS:
        module = importlib.import_module(f"tasks.model.metrics.{task.module}")
        assert callable(module.metrics)
        assert task.headline in task.metrics or task.name == "custom"
