"""Keypoints / landmarks: how far each landmark moved, in pixels of the model input.

The output holds ``points`` landmarks of ``values`` numbers each (x, y first),
flattened, as MediaPipe's landmark models write them: x and y in pixels of
the model input (``coordinates: pixels``) or in [0, 1] (``normalized``).  Per
landmark and sample, the displacement is the Euclidean distance between the
float and the quantized model's (x, y):

- ``landmark_px_mean`` / ``landmark_px_p95``: mean and 95th percentile, pixels;
- ``landmark_rel_mean`` / ``landmark_rel_p95``: the same over the input's
  longer side (a fraction of the input);
- ``landmark_pck``: the share of landmarks within ``pck`` (a fraction of the
  longer side) of the float model's: PCK, with the float model as truth.
"""

from __future__ import annotations

import numpy as np

from tasks.errors import StepError
from tasks.model.metrics.common import output, rounded, stacked

# MediaPipe's landmark models: values per landmark and how many are landmarks proper
LAYOUTS = {
    # pose_landmark_{lite,full,heavy}: 39 × (x, y, z, visibility, presence); the last 6 are auxiliary ROI points
    "mediapipe_pose": {"values": 5, "points": 33},
    "mediapipe_hand": {"values": 3, "points": 21},  # hand_landmark: 21 × (x, y, z)
    "mediapipe_face": {"values": 3, "points": 468},  # face_landmark: 468 × (x, y, z)
}


def _layout(spec: dict) -> dict:
    """values and points of a task: its own, else its layout's."""
    return {**LAYOUTS.get(spec.get("layout", ""), {}), **{k: spec[k] for k in ("values", "points") if k in spec}}


def values_of(spec: dict) -> int:
    """Numbers per landmark (x and y first)."""
    return _layout(spec).get("values", 2)


def points(spec: dict, flat: np.ndarray, name: str) -> np.ndarray:
    """[samples, points, 2]: the (x, y) of each landmark."""
    layout = _layout(spec)
    values = values_of(spec)
    count = flat.shape[1] // values
    if flat.shape[1] % values:
        raise StepError(
            f"task keypoints: output '{name}' has {flat.shape[1]} values, not a multiple of {values} per landmark; "
            "fix task.values (or task.layout)"
        )
    wanted = layout.get("points", count)
    if wanted > count:
        raise StepError(
            f"task keypoints: output '{name}' holds {count} landmarks of {values} values, not {wanted}; fix task.points"
        )
    return flat.reshape(len(flat), count, values)[:, :wanted, :2]


def metrics(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    name = output(spec, reference[0], "landmarks")
    ref = points(spec, stacked(reference, name).reshape(len(reference), -1), name)
    got = points(spec, stacked(quantized, name).reshape(len(quantized), -1), name)
    height, width = input_shape[1], input_shape[2]
    side = max(height, width)
    if spec.get("coordinates", "pixels") == "normalized":
        scale = np.array([width, height], dtype=np.float64)
        ref, got = ref * scale, got * scale
    px = np.linalg.norm(got - ref, axis=-1).ravel()
    return {
        "landmark_px_mean": rounded(px.mean()),
        "landmark_px_p95": rounded(np.percentile(px, 95)),
        "landmark_rel_mean": rounded(px.mean() / side),
        "landmark_rel_p95": rounded(np.percentile(px, 95) / side),
        "landmark_pck": rounded(np.mean(px <= spec.get("pck", 0.02) * side)),
    }


# --- against labels (datasets.NAME.labels: coco with keypoints) ------------------------------------------------


def answers(spec: dict, outputs: list, truths: list, frames: list, input_shape: tuple[int, ...]) -> list[list]:
    """Each sample's landmarks as one person, in pixels of the image its label describes."""
    from tasks.model.metrics.truth import Found

    name = output(spec, outputs[0], "landmarks")
    found = points(spec, stacked(outputs, name).reshape(len(outputs), -1), name)
    if spec.get("coordinates", "pixels") == "normalized":
        found = found * np.array([input_shape[2], input_shape[1]], dtype=np.float64)
    expected = {len(b.keypoints) // 3 for t in truths for b in t.boxes if b.keypoints}
    if not expected:
        raise StepError("task keypoints: the dataset's labels have no keypoints; give COCO annotations with keypoints")
    if expected != {found.shape[1]}:
        raise StepError(
            f"task keypoints: the labels give {', '.join(map(str, sorted(expected)))} keypoints per person, the "
            f"model {found.shape[1]} (output '{name}'); set task.points to the labels' count when the model's first "
            "landmarks are theirs, or give labels in the model's order"
        )
    kinds = [b.label for t in truths for b in t.boxes if b.keypoints]
    person = max(set(kinds), key=kinds.count)  # the labels' class of annotated people (COCO's person, mapped)
    answers = []
    for points_of, frame in zip(found, frames, strict=True):
        xy = [frame.point(float(u), float(v)) for u, v in points_of]
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        flat = tuple(c for x, y in xy for c in (x, y, 2.0))
        answers.append([Found(label=person, box=box, score=1.0, keypoints=flat)])
    return answers


def score(spec: dict, found: list[list], truths: list, pictures: bool = True) -> tuple[dict, dict]:
    """COCO's keypoint AP over OKS thresholds .5:.95 (pycocotools)."""
    from tasks.model.metrics import truth

    return {"oks_ap": truth.coco_keypoints(truths, found)["oks_ap"]}, {}
