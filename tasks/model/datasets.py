"""Calibration / validation samples: real images, .npy files or seeded random tensors.

The input shape always comes from the model; the dataset's preprocessing
(resize mode, mean, scale, channel order) from project.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.errors import StepError
from tasks.model.labels import Labels
from tasks.planning.options import added, input_file

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    size: tuple[int, int] | None = None  # (height, width); None: the model's input size
    resize: str = "letterbox"  # letterbox | stretch | crop
    mean: tuple[float, ...] = (0.0,)
    scale: tuple[float, ...] = (255.0,)
    color: str = "rgb"  # rgb | bgr | gray


@dataclass(frozen=True, kw_only=True)
class Samples:
    """A dataset as a step reads it (step options); the files are the step's inputs."""

    name: str
    kind: str  # images | npy | random
    preprocess: Preprocess = Preprocess()
    seed: int = 0
    count: int = 16
    low: float = 0.0
    high: float = 1.0
    limit: int | None = None
    files: tuple[Path, ...] = input_file(())
    layouts: Path | None = input_file(None)  # an ONNX model's convert.json: .npy samples may be in the ONNX layout
    part: str | None = None  # "calibration" | "validation": the part of a split dataset (files or skip say which)
    skip: int = 0  # random data: the samples before this one belong to another part
    take: int | None = None  # at most this many samples (the first ones)
    labels: Labels | None = added(None)  # the files' ground truth (tasks.model.labels.read gives it)

    @property
    def label(self) -> str:
        """The dataset's name as messages show it: with its part, when it is split."""
        return f"{self.name} ({self.part} part)" if self.part else self.name


def split_files(files: tuple[Path, ...], root: Path, shares: tuple[float, float], seed: int) -> tuple[tuple, tuple]:
    """(calibration, validation) files of a split dataset, each in path order.

    A file's part follows from a hash of its path (relative to ``root``) and
    the seed, so the parts are fixed for a given set of files, and adding
    one file moves at most one other.
    """
    import hashlib

    from tasks.planning.options import relative

    def key(f: Path) -> str:
        return hashlib.sha256(f"{seed}:{relative(f, root)}".encode()).hexdigest()

    ranked = sorted(files, key=key)
    first, second = split_counts(len(files), shares)
    return tuple(sorted(ranked[:first])), tuple(sorted(ranked[first : first + second]))


def split_counts(total: int, shares: tuple[float, float]) -> tuple[int, int]:
    """How many of ``total`` samples go to calibration and to validation."""
    first = round(total * shares[0])
    return first, min(total - first, round(total * shares[1]))


def samples(dataset: Samples, shape: list[int]) -> Iterator[np.ndarray]:
    """Yield float32 arrays of exactly ``shape`` (batch 1), in a fixed order (the first ``take`` of them)."""
    import itertools

    return itertools.islice(_all_samples(dataset, shape), dataset.take)


def _all_samples(dataset: Samples, shape: list[int]) -> Iterator[np.ndarray]:
    import numpy as np

    if dataset.kind == "random":
        rng = np.random.default_rng(dataset.seed)
        for i in range(dataset.skip + dataset.count):
            x = rng.uniform(dataset.low, dataset.high, size=shape).astype(np.float32)
            if i >= dataset.skip:
                yield x
    elif dataset.kind == "npy":
        layouts = _layouts(dataset.layouts, shape)
        for f in dataset.files:
            yield from _npy(Path(f), shape, dataset.name, layouts)
    else:
        for f in dataset.files:
            yield image(Path(f), shape, dataset.preprocess, dataset.name)


def _layouts(facts: Path | None, shape: list[int]) -> list[tuple[list[int], list[int]]]:
    """(ONNX shape, axes) of the ONNX inputs that became a model input of ``shape`` in another layout."""
    if facts is None:
        return []
    import json

    inputs = json.loads(facts.read_text())["inputs"]
    return [
        (i["onnx_shape"], i["axes"])
        for i in inputs
        if i["tflite_shape"] == list(shape) and i["axes"] != sorted(i["axes"])
    ]


def _npy(
    path: Path, shape: list[int], name: str, layouts: list[tuple[list[int], list[int]]] = ()
) -> Iterator[np.ndarray]:
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise StepError(f"datasets.{name}: {path} is not a readable .npy file ({exc})") from None
    array = array.astype(np.float32)
    for onnx_shape, axes in layouts:  # samples in the ONNX model's own layout (NCHW): into the TFLite one
        if list(array.shape) in (list(onnx_shape), list(onnx_shape[1:])):
            array = array.reshape(onnx_shape).transpose(axes)
        elif list(array.shape[1:]) == list(onnx_shape[1:]):
            array = array.transpose(axes)  # a stack: the batch axis stays first
    if list(array.shape) == list(shape[1:]):
        yield array[None]
    elif list(array.shape) == list(shape):
        yield array
    elif list(array.shape[1:]) == list(shape[1:]):
        for row in array:
            yield row[None]
    else:
        onnx = "".join(f" or, in the ONNX model's layout, {list(onnx_shape)}" for onnx_shape, _ in layouts)
        raise StepError(
            f"datasets.{name}: {path} has shape {list(array.shape)}; the model input is {list(shape)}{onnx} "
            f"(give one sample {list(shape[1:])} or a stack [N, {', '.join(map(str, shape[1:]))}])"
        )


def image(path: Path, shape: list[int], pre: Preprocess, name: str) -> np.ndarray:
    """Decode, resize (letterbox | stretch | crop), normalise: (pixel - mean) / scale."""
    from PIL import Image

    fits(shape, pre, name)
    channels = shape[3]
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
    except Exception as exc:
        raise StepError(f"datasets.{name}: cannot decode image {path} ({exc})") from None
    return decoded(im, shape, pre)


def fits(shape: list[int], pre: Preprocess, name: str) -> None:
    """That images go into a model input of ``shape`` as ``pre`` says (``decoded`` takes it as given)."""
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise StepError(
            f"datasets.{name}: images need a model input [1, H, W, 1 or 3]; this model takes {list(shape)}; "
            "use npy or random data"
        )
    height, width, channels = shape[1], shape[2], shape[3]
    if pre.size and list(pre.size) != [height, width]:
        raise StepError(
            f"datasets.{name}.preprocess.size: {list(pre.size)} but the model input is {height}x{width}; "
            "remove size (the model's is used) or match it"
        )
    for key, value in (("mean", pre.mean), ("scale", pre.scale)):
        if len(value) not in (1, channels):
            raise StepError(
                f"datasets.{name}.preprocess.{key}: {len(value)} values for {channels} channels; give 1 or {channels}"
            )


def decoded(im: Image.Image, shape: list[int], pre: Preprocess) -> np.ndarray:
    """A decoded image (RGB, or L for one channel) resized and normalised as ``image()`` does."""
    from PIL import Image

    height, width, channels = shape[1], shape[2], shape[3]
    if im.mode != ("RGB" if channels == 3 else "L"):
        im = im.convert("RGB" if channels == 3 else "L")
    w, h = im.size
    mode = pre.resize
    if mode == "stretch":
        im = im.resize((width, height), Image.Resampling.BILINEAR)
    else:
        ratio = min(width / w, height / h) if mode == "letterbox" else max(width / w, height / h)
        nw, nh = max(1, round(w * ratio)), max(1, round(h * ratio))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        canvas = Image.new(im.mode, (width, height))
        canvas.paste(im, ((width - nw) // 2, (height - nh) // 2))
        im = canvas
    return normalised(im, channels, pre)


def normalised(im: Image.Image, channels: int, pre: Preprocess) -> np.ndarray:
    """An image already at the model input's size as the input [1, H, W, C]: channel order, then (pixel - mean) /
    scale."""
    import numpy as np

    x = np.asarray(im, dtype=np.float32).reshape(im.height, im.width, channels)
    if channels == 3 and pre.color == "bgr":
        x = x[..., ::-1]
    mean = np.asarray(pre.mean, dtype=np.float32)
    scale = np.asarray(pre.scale, dtype=np.float32)
    return ((x - mean) / scale)[None].astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Frame:
    """Where an image sits in the model input: input pixel = image pixel x scale + offset (per axis).

    The inverse of ``image()``'s resize, so an answer in the model input's
    pixels (a box, a landmark, a mask) goes back to the image its label
    describes.
    """

    width: int  # the image's size in pixels
    height: int
    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def point(self, u: float, v: float) -> tuple[float, float]:
        """An input pixel position (u, v) as a position in the image."""
        return (u - self.offset_x) / self.scale_x, (v - self.offset_y) / self.scale_y


def frame(width: int, height: int, shape: list[int] | tuple[int, ...], pre: Preprocess) -> Frame:
    """The frame of a ``width`` x ``height`` image in a model input of ``shape`` ([1, H, W, C]), as ``image()`` puts
    it there (letterbox, stretch or crop)."""
    in_h, in_w = shape[1], shape[2]
    if pre.resize == "stretch":
        return Frame(width=width, height=height, scale_x=in_w / width, scale_y=in_h / height, offset_x=0, offset_y=0)
    ratio = min(in_w / width, in_h / height) if pre.resize == "letterbox" else max(in_w / width, in_h / height)
    nw, nh = max(1, round(width * ratio)), max(1, round(height * ratio))
    return Frame(
        width=width,
        height=height,
        scale_x=nw / width,
        scale_y=nh / height,
        offset_x=(in_w - nw) // 2,
        offset_y=(in_h - nh) // 2,
    )
