"""Task metrics: decoders of a model's outputs, the quantized model's answers against the float model's.

SNR says how far the numbers moved; a task metric says whether the model
still does its job.  Each decoder reads the outputs the way the application
does (a class, landmarks in pixels, boxes after non-maximum suppression, a
mask) and compares the quantized model's decoded answer with the float
model's, on the same validation samples.

A task is one entry of ``models.NAME.task`` in project.yaml, its keys as
written (tasks/config/sections.py; each decoder applies its own defaults,
which docs/howto/accuracy.md lists).  The table below is
the one place a task type is declared: the evaluate step calls
``evaluate(spec, reference, quantized, input_shape)``, gates and the report
read the metric names it lists.  Every decoder takes one dict per sample,
output name → float array with the batch axis (integer outputs already
dequantized), and returns named numbers (None where a metric is undefined,
e.g. recall when the float model found nothing).  numpy only, imported lazily
by the modules; planning imports this package for the names alone.

Against labels (a validation dataset with ``labels``), a row's ``truth``
metrics come from its module's ``answers`` (each sample decoded and taken
back to the labelled image's pixels) and ``score`` (the metrics on any subset
of samples, as the bootstrap of the drop needs): tasks/model/accuracy.py
label_metrics; the standard implementations (pycocotools) are in truth.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.keys import Key, enum, integer, number, string


@dataclass(frozen=True, kw_only=True)
class TaskType:
    name: str
    module: str  # tasks.model.metrics.<module>:metrics computes it
    metrics: tuple[str, ...]  # the names it returns, in the order the report shows them
    headline: str  # the one the overview shows
    doc: str
    keys: tuple[Key, ...] = ()  # the settings its task object takes beside type and metric (their docs say what)
    labels: dict[str, str] = field(default_factory=dict)  # a metric's short name in the report ("top-1")
    lower_is_better: tuple[str, ...] = ()  # its metrics that are errors (every other one: higher is better)
    truth: tuple[str, ...] = ()  # its metrics against a labelled dataset (module.answers / module.score compute them)
    resamples: int = 1000  # bootstrap resamples of a label metric's drop (fewer where one costs a COCOeval)
    labelled_by: tuple[str, ...] = ()  # the label formats (datasets.NAME.labels.format) its truth metrics read
    sample_budget: int | None = None  # resamples x samples the bootstrap may score, where each score is a COCOeval

    @property
    def drops(self) -> tuple[str, ...]:
        """Its label metrics' drops against the float model: NAME_drop, in points (positive: worse)."""
        return tuple(f"{m}_drop" for m in self.truth)

    def resamples_for(self, samples: int) -> int:
        """Bootstrap resamples on ``samples`` samples: ``resamples``, fewer (20 at least) past the sample budget."""
        if self.sample_budget is None:
            return self.resamples
        return max(MIN_RESAMPLES, min(self.resamples, self.sample_budget // max(samples, 1)))


# A task's settings.  The schema's task object (tasks/config/declared.py) takes each once and says which
# types read it; config's rules hold each task to its own type's.
MIN_RESAMPLES = 20  # the fewest bootstrap resamples an interval is given on
OUTPUT = string("output", "the output tensor it reads; default: the model's only output.")
KEYPOINTS = (
    OUTPUT,
    enum(
        "layout",
        ("mediapipe_pose", "mediapipe_hand", "mediapipe_face"),
        "mediapipe_pose (39 x 5 values, the first 33 landmarks), mediapipe_hand (21 x 3), mediapipe_face (468 x 3).",
    ),
    integer("values", "numbers per landmark, x and y first (default: the layout's, else 2).", minimum=2),
    integer("points", "how many landmarks to compare, the first ones (default: the layout's, else all).", minimum=1),
    enum(
        "coordinates", ("pixels", "normalized"), "x and y in pixels of the model input, or in [0, 1].", default="pixels"
    ),
    number(
        "pck",
        "landmark_pck counts landmarks within this fraction of the input's longer side of the float model's.",
        default=0.02,
        exclusive_minimum=0,
    ),
)
DETECTION = (
    enum(
        "layout",
        ("mediapipe_ssd", "boxes"),
        "mediapipe_ssd (regressors and scores against SSD anchors) or boxes "
        "(ymin, xmin, ymax, xmax in [0, 1], and scores).",
    ),
    enum(
        "anchors",
        ("pose_detection", "face_detection_short_range", "palm_detection"),
        "with layout mediapipe_ssd, MediaPipe's SSD anchors and decoder settings of that model.",
    ),
    string("boxes", "the output with the boxes (regressors); default picked by shape."),
    string("scores", "the output with the scores; default picked by shape."),
    number(
        "min_score",
        "detections below this score are dropped (default: the anchors' model's, else 0.5).",
        minimum=0,
        maximum=1,
    ),
    number(
        "nms_iou",
        "non-maximum suppression overlap (default: the anchors' model's, else 0.3).",
        exclusive_minimum=0,
        maximum=1,
    ),
    number(
        "match_iou",
        "a quantized detection matches a float one at this IoU or more.",
        default=0.5,
        exclusive_minimum=0,
        maximum=1,
    ),
)
SEGMENTATION = (
    OUTPUT,
    enum(
        "activation",
        ("sigmoid", "none"),
        "with one channel, sigmoid for logits and none for probabilities (several channels: argmax).",
        default="sigmoid",
    ),
    number("threshold", "with one channel, foreground above this (after the activation).", default=0.5),
)


TASKS: tuple[TaskType, ...] = (
    TaskType(
        name="classification",
        module="classification",
        metrics=("top1_agreement", "top5_agreement"),
        headline="top1_agreement",
        doc="top-1 (and top-5) class of the quantized model against the float model's top-1",
        keys=(OUTPUT,),
        labels={"top1_agreement": "top-1", "top1_accuracy": "top-1 acc."},
        truth=("top1_accuracy", "top5_accuracy"),
        labelled_by=("folders", "csv"),
    ),
    TaskType(
        name="keypoints",
        module="keypoints",
        metrics=("landmark_px_mean", "landmark_px_p95", "landmark_rel_mean", "landmark_rel_p95", "landmark_pck"),
        headline="landmark_px_mean",
        doc="landmark displacement in pixels of the model input and as a fraction of its size, PCK",
        keys=KEYPOINTS,
        labels={"landmark_px_mean": "landmarks", "oks_ap": "OKS AP"},
        lower_is_better=("landmark_px_mean", "landmark_px_p95", "landmark_rel_mean", "landmark_rel_p95"),
        truth=("oks_ap",),
        resamples=200,
        sample_budget=20000,
        labelled_by=("coco",),
    ),
    TaskType(
        name="detection",
        module="detection",
        metrics=(
            "detection_recall",
            "detection_precision",
            "detection_iou_mean",
            "detection_count_float",
            "detection_count_quantized",
        ),
        headline="detection_recall",
        doc="decoded, suppressed boxes matched to the float model's: recall, precision, IoU",
        keys=DETECTION,
        labels={"detection_recall": "recall", "detection_precision": "precision", "map50_95": "mAP"},
        truth=("map50_95", "map50"),
        resamples=200,
        sample_budget=20000,
        labelled_by=("coco",),
    ),
    TaskType(
        name="segmentation",
        module="segmentation",
        metrics=("mask_iou", "mask_iou_min"),
        headline="mask_iou",
        doc="IoU of the quantized model's mask with the float model's",
        keys=SEGMENTATION,
        labels={"mask_iou": "mask IoU", "miou": "mIoU"},
        truth=("miou",),
        labelled_by=("masks",),
    ),
    TaskType(
        name="custom",
        module="custom",
        metrics=(),
        headline="",
        doc="a function of the project's: metric: FILE.py:FUNCTION",
    ),
)

BY_NAME: dict[str, TaskType] = {t.name: t for t in TASKS}
LABEL_METRICS: tuple[str, ...] = tuple(m for t in TASKS for m in t.truth)  # against labels: top1_accuracy, map50, …
BUILTIN_METRICS: tuple[str, ...] = tuple(m for t in TASKS for m in (*t.metrics, *t.truth, *t.drops))
# every other task metric: higher is better
HIGHER_IS_BETTER = {m: False for t in TASKS for m in (*t.lower_is_better, *t.drops)}
LABELS: dict[str, str] = {m: label for t in TASKS for m, label in t.labels.items()}  # the report's short names


def evaluate(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    """The metrics of one task (``spec``, from project.yaml) over every sample."""
    import importlib

    module = importlib.import_module(f"tasks.model.metrics.{BY_NAME[spec['type']].module}")
    return module.metrics(spec, reference, quantized, input_shape)


OUTPUT_KEYS = ("output", "boxes", "scores")  # a task's keys that name output tensors


def outputs_used(spec: dict) -> tuple[str, ...]:
    """The output tensors a task reads (none named: it picks them itself)."""
    return tuple(spec[k] for k in OUTPUT_KEYS if spec.get(k))


def headline(accuracy: dict | None) -> tuple[str, float] | None:
    """(metric, value) that says best whether a variant still does its job: its first label metric where the
    validation set has labels, else its first task's headline metric."""
    for name, found in ((accuracy or {}).get("labels") or {}).get("metrics", {}).items():
        if found.get("quantized") is not None:
            return name, found["quantized"]
    for task in (accuracy or {}).get("tasks") or []:
        found = task.get("metrics") or {}
        name = BY_NAME[task["type"]].headline or next(iter(found), "")
        if found.get(name) is not None:
            return name, found[name]
    return None


def metric_text(name: str, value: float | None) -> str:
    """A task metric as a person reads it: shares in %, pixels with px, counts whole."""
    if value is None:
        return "–"
    if name.endswith("_drop"):
        return f"{value:+.2f} pts"
    if name.endswith(("_agreement", "_recall", "_precision", "_pck", "_accuracy", "_rate")) or name in LABEL_METRICS:
        return f"{value:.1%}"
    if "_px_" in name:
        return f"{value:.2f} px"
    if name.startswith("detection_count"):
        return f"{value:.0f}"
    return f"{value:.4g}"
