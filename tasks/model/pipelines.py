"""A pipeline end to end on real frames: the quantized chain against the float chain (the pipeline-evaluate step).

Each frame goes through the stages twice, once with every stage's float model
and once with every stage's quantized model.  The first stage sees the frame
as its own dataset preprocesses it (letterbox, mean, scale); each later stage
sees the crop its ``crop`` layout cuts from the frame around the previous
stage's best detection (tasks/model/crops.py), so the quantized chain's last
stage runs on the crops the quantized detector produced.

- A frame where the float chain finds nothing has no reference: it is counted,
  not scored.  One where the float chain finds something and the quantized
  chain does not is a miss (``pipeline_miss_rate``); the reverse, a false alarm.
- On the frames both chains carry to the end, the last stage's tasks compare
  the two chains' answers with the task metrics of tasks/model/metrics: a
  keypoint of the quantized chain is first taken from its crop to the frame and
  into the float chain's crop, so a landmark error is in pixels of the last
  model's input as the float chain framed it, and includes the crop's shift.
- ``from_crops``: the float last stage on the quantized chain's crops, against
  the float chain: the part of the error the crops alone cause.
- ``labels``: where the frames have labels (COCO keypoints, ``datasets.NAME.labels``)
  and the last stage has a keypoints task, both chains against them: each chain's
  landmarks taken from its crop into the frame, one person a frame it carried to
  the end (a frame it did not is a person missed), scored by pycocotools' keypoint
  AP (OKS .50:.95), the float chain's, the quantized chain's and the drop in points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.errors import StepError
from tasks.progress import progress

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from tasks.model.crops import Region
    from tasks.model.datasets import Preprocess, Samples


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage as the evaluation runs it."""

    label: str  # UNIT/SCHEME
    float_model: Path
    quantized: Path
    preprocess: Preprocess  # of its model's validation dataset
    tasks: tuple[dict[str, Any], ...]  # its model's tasks, as their decoders take them
    crop: str | None = None  # the layout that cuts its input from the previous stage's detection (first: None)
    crop_scale: float | None = None  # None: the layout's
    square: bool = True


@dataclass
class Chain:
    """One frame through one chain: the last stage's outputs and the region its input was cut from."""

    outputs: dict[str, np.ndarray] | None = None  # None: a stage found nothing to hand on
    region: Region | None = None


def run(stages: tuple[Stage, ...], frames: Samples, out: Path, label: str, in_sample: bool) -> None:
    """Both chains on every frame; writes the record (records.PipelineAccuracy) to ``out``."""
    record = Chains(stages, frames, label).measure(tuple(s.quantized for s in stages), in_sample)
    atomic.write_json(out, record)
    progress(_line(record))


class Chains:
    """A pipeline's float chain on its frames, run once, and quantized chains measured against it."""

    def __init__(self, stages: tuple[Stage, ...], samples: Samples, label: str):
        from tasks.model import datasets, labels
        from tasks.model.accuracy import Runner

        frames = samples.files
        if not frames:
            raise StepError(f"{label}: the pipeline's dataset has no frames")
        self.stages, self.frames, self.label = stages, frames, label
        self.spec = next((t for t in stages[-1].tasks if t["type"] == "keypoints"), None)
        self.truths = labels.read(samples.labels, frames, samples.name) if samples.labels and self.spec else None
        self.floats = [Runner(s.float_model.read_bytes()) for s in stages]
        self.shapes = [_shape(r, s.label) for r, s in zip(self.floats, stages, strict=True)]
        datasets.fits(self.shapes[0], stages[0].preprocess, stages[0].label)  # the first stage takes whole frames
        self.images = [_open(path, label) for path in frames]
        self.wanted = [_chain(stages, self.floats, self.shapes, image) for image in self.images]

    def measure(self, quantized: tuple[Path, ...], in_sample: bool) -> dict[str, Any]:
        """The chain of ``quantized`` (one model per stage) against the float chain: records.PipelineAccuracy."""
        from tasks.model.accuracy import Runner, task_metrics

        stages, shapes, floats = self.stages, self.shapes, self.floats
        quants = [Runner(q.read_bytes()) for q in quantized]
        reference, test, crossed, regions, ends = [], [], [], [], []
        counts = {"frames": len(self.frames), "reference_frames": 0, "misses": 0, "false_alarms": 0}
        for i, (image, want) in enumerate(zip(self.images, self.wanted, strict=True), 1):
            got = _chain(stages, quants, shapes, image)
            ends.append(got)
            counts["reference_frames"] += want.outputs is not None
            counts["misses"] += want.outputs is not None and got.outputs is None
            counts["false_alarms"] += want.outputs is None and got.outputs is not None
            if want.outputs is not None and got.outputs is not None:
                reference.append(want.outputs)
                size = tuple(shapes[-1][1:3])
                test.append(_reframed(stages[-1].tasks, got.outputs, got.region, want.region, size))
                crossed_out = _last(stages, floats, shapes, image, got)
                crossed.append(_reframed(stages[-1].tasks, crossed_out, got.region, want.region, size))
                regions.append((want.region, got.region))
            if i % 8 == 0 and i < len(self.frames):
                progress(f"{i}/{len(self.frames)} frames through both chains")
        record = {**counts, "scored_frames": len(reference), "in_sample": in_sample}
        seen = counts["reference_frames"]
        record["miss_rate"] = round(counts["misses"] / seen, 6) if seen else None
        last, shape = stages[-1], tuple(shapes[-1])
        if reference:
            record.update(task_metrics(last.tasks, reference, test, shape, last.label, True))
            record["from_crops"] = task_metrics(last.tasks, reference, crossed, shape, last.label, True)["metrics"]
            record["region_shift_px"] = _shift(regions)
        else:
            record.update({"tasks": [], "metrics": {}, "from_crops": {}, "region_shift_px": None})
        record["metrics"] = {**record["metrics"], "pipeline_miss_rate": record["miss_rate"]}
        if self.truths is not None:
            scored = self._against_labels(self.wanted), self._against_labels(ends)
            record["labels"] = {
                "oks_ap": {"float": scored[0], "quantized": scored[1], "drop": round((scored[0] - scored[1]) * 100, 4)},
                "labelled_frames": sum(1 for t in self.truths if any(b.keypoints for b in t.boxes)),
            }
        return record

    def _against_labels(self, ends: list[Chain]) -> float:
        """pycocotools' keypoint AP of one chain's landmarks in the frames: one person a frame it carried to the end."""
        from tasks.model.metrics import keypoints

        size = (self.shapes[-1][1], self.shapes[-1][2])
        carried = [k for k, c in enumerate(ends) if c.outputs is not None]
        frames = [_Frame(ends[k].region, size) for k in carried]
        try:
            found = (
                keypoints.answers(
                    self.spec, [ends[k].outputs for k in carried], self.truths, frames, tuple(self.shapes[-1])
                )
                if carried
                else []
            )
        except StepError as exc:
            raise StepError(f"{self.label}: {exc}") from None
        per_frame: list[list] = [[] for _ in ends]
        for k, one in zip(carried, found, strict=True):
            per_frame[k] = one
        return keypoints.score(self.spec, per_frame, self.truths)[0]["oks_ap"]


@dataclass(frozen=True)
class _Frame:
    """Where the last stage's input sits in the frame: its crop (keypoints.answers maps a landmark with point)."""

    region: Region
    size: tuple[int, int]

    def point(self, u: float, v: float) -> tuple[float, float]:
        return self.region.to_image(u, v, self.size)


def _shape(runner: Any, label: str) -> list[int]:
    if len(runner.inputs) != 1:
        raise StepError(f"{label}: a pipeline stage needs a single-input model; this one has {len(runner.inputs)}")
    (detail,) = runner.inputs.values()
    return [int(d) for d in detail["shape"]]


def _open(path: Path, label: str) -> Image.Image:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except Exception as exc:
        raise StepError(f"{label}: cannot decode frame {path} ({exc})") from None


def _chain(stages, runners, shapes, image: Image.Image) -> Chain:
    """One frame (decoded once, for every chain) through one chain of models."""
    from tasks.model import datasets

    first = stages[0]
    outputs = runners[0](datasets.decoded(image, shapes[0], first.preprocess))
    frame = datasets.frame(image.width, image.height, shapes[0], first.preprocess)
    to_image, found = frame.point, None
    for k in range(1, len(stages)):
        found = _region(stages[k], stages[k - 1], outputs, to_image, shapes[k - 1])
        if found is None:
            return Chain()
        size = (shapes[k][1], shapes[k][2])
        outputs = runners[k](_cut(image, found, shapes[k], stages[k].preprocess))
        to_image = _mapper(found, size)
    return Chain(outputs=outputs, region=found)


def _last(stages, runners, shapes, image: Image.Image, chain: Chain) -> dict[str, np.ndarray]:
    """The last stage of ``runners`` on the input ``chain``'s last stage saw."""
    return runners[-1](_cut(image, chain.region, shapes[-1], stages[-1].preprocess))


def _cut(image: Image.Image, found: Region, shape: list[int], pre: Preprocess) -> np.ndarray:
    from tasks.model import crops

    return crops.cut(image, found, tuple(shape), pre)


def _mapper(found: Region, size: tuple[int, int]):
    return lambda u, v: found.to_image(u, v, size)


def _region(stage: Stage, before: Stage, outputs: dict, to_image, shape: list[int]) -> Region | None:
    """The region ``stage``'s input is cut from: around the best detection of the stage before, or None."""
    from tasks.model import crops

    spec = next(t for t in before.tasks if t["type"] == "detection")
    try:
        return crops.handed_on(stage.crop, stage.crop_scale, stage.square, spec, outputs, to_image, shape)
    except StepError as exc:
        raise StepError(f"{before.label}: {exc}") from None


def _reframed(tasks, outputs: dict, own: Region, reference: Region, size: tuple[int, int]) -> dict:
    """``outputs`` with each keypoint task's (x, y) moved from ``own``'s crop into ``reference``'s."""
    import numpy as np

    from tasks.model.metrics import keypoints

    moved = dict(outputs)
    for spec in (t for t in tasks if t["type"] == "keypoints"):
        name = spec.get("output") or next(iter(outputs))
        if name not in outputs:
            continue
        flat = np.array(outputs[name], dtype=np.float64).reshape(1, -1)
        points = keypoints.points(spec, flat, name)[0]
        normalized = spec.get("coordinates", "pixels") == "normalized"
        unit = np.array([size[1], size[0]], dtype=np.float64) if normalized else np.ones(2)
        grid = flat.reshape(-1, keypoints.values_of(spec))
        for j, (u, v) in enumerate(points * unit):
            x, y = own.to_image(float(u), float(v), size)
            grid[j, :2] = np.array(reference.from_image(x, y, size)) / unit
        moved[name] = grid.reshape(np.shape(outputs[name])).astype(np.float32)
    return moved


def _shift(regions: list[tuple[Region, Region]]) -> dict[str, float]:
    """How far the quantized chain's crops sat from the float chain's: centre distance and side ratio."""
    import math

    import numpy as np

    centre = [math.hypot(a.x - b.x, a.y - b.y) for a, b in regions]
    side = [abs(b.width / a.width - 1) for a, b in regions if a.width]
    return {"centre_mean": round(float(np.mean(centre)), 4), "size_mean": round(float(np.mean(side)), 6)}


def _line(record: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in record["metrics"].items() if isinstance(v, float))
    return (
        f"{record['scored_frames']} of {record['frames']} frames scored ({record['misses']} missed, "
        f"{record['reference_frames']} with a reference): {shown or 'no task metric'}"
    )
