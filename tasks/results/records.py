"""The records steps hand to each other as JSON, typed: results.json, its rows and the facts files they are made of.

Each step writes a dict to a facts file and a later step reads it back by
key (the results step assembles build/results.json from them; the report,
gates and release steps read that).  These TypedDicts name every key, and
each key's ``Doc`` says what it means and its unit, so a key written in one
module and read in another is spelled and described once.

schema/results.schema.json is generated from the records of results.json
(``Results`` and every record it reaches) by tasks/results/schema.py: a
record's docstring is its description there, a key's ``Doc`` its
description, ``NotRequired`` a key that may be missing, ``X | None`` a key
that may be null, ``Literal`` its allowed values, and ``Min``, ``Max``,
``Pattern``, ``NullsWhenPresent`` and ``keeps_other_keys`` the rules a
type cannot say.  The results step checks what it writes against that
schema; a key of results.json without a ``Doc`` fails its generation.

Besides those few markers nothing here runs: the modules that use these
types import them for type checkers alone (``if TYPE_CHECKING``).  The
facts Vela and SyNAP give (``ops``, ``cpu_fallback``, ``estimate``,
``layers``, ``findings``, ``model_info``) are typed here as results.json
carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

# --- what a key declares besides its type (read by tasks/results/schema.py) -------------------------------


@dataclass(frozen=True)
class Doc:
    """A key's description, one or two sentences; the schema of results.json carries it."""

    text: str


@dataclass(frozen=True)
class Min:
    """The smallest value a number may have."""

    value: int | float


@dataclass(frozen=True)
class Max:
    """The largest value a number may have."""

    value: int | float


@dataclass(frozen=True)
class Pattern:
    """A regular expression a string matches."""

    regex: str


class NullsWhenPresent:
    """On a key that may be missing: while it is present, these other keys are null (key → why)."""

    def __init__(self, **why: str) -> None:
        self.why = tuple(why.items())


def keeps_other_keys(record: type) -> type:
    """A record its writer may give keys beyond the declared ones, kept as the tool wrote them."""
    record.__keeps_other_keys__ = True  # type: ignore[attr-defined]
    return record


# --- a failed step (tasks/results/failures.py) -----------------------------------------------------------


class Failure(TypedDict):
    """Why a variant did not build: the first of its steps that failed (build/failures/<task>.json), or the first
    whose output is missing."""

    step: Annotated[str | None, Doc('The task that failed, e.g. "import:m"; null when the variant planned no step.')]
    message: Annotated[str, Doc("That step's one-line error.")]


# --- the quantize step's facts (tasks/model/quantizer.py, tasks/model/quant_errors.py) ----------------------


class Tensor(TypedDict):
    """A model input or output, as the LiteRT interpreter sees it."""

    name: Annotated[str, Doc("The tensor's name.")]
    shape: Annotated[list[int], Doc("Dimensions, batch first.")]
    dtype: Annotated[str, Doc("numpy's name of its type: float32, int8, …")]


class LayerError(TypedDict):
    """A row of the quantization error table (the quantize step's layer_errors.csv)."""

    tensor: Annotated[str, Doc("The layer's output tensor.")]
    op: Annotated[str, Doc("Its operator, e.g. CONV_2D.")]
    rmse: Annotated[float | None, Doc("RMSE against the float model, in the tensor's units.")]
    rel_rmse: Annotated[float | None, Doc("RMSE over the float tensor's range.")]
    snr_db: Annotated[float | None, Doc("SNR, dB; null when infinite (no error).")]
    scale: Annotated[float | None, Doc("Quantization scale; null when per-channel.")]
    zero_point: Annotated[int | None, Doc("Quantization zero point; null when per-channel.")]
    dtype: Annotated[str, Doc("The quantized tensor's type.")]
    float_min: Annotated[float | None, Doc("The float tensor's smallest value over the samples.")]
    float_max: Annotated[float | None, Doc("Its largest value.")]
    share: Annotated[
        float | None, Doc("Share of the worst output's error this layer adds, 0–1; null when not upstream of it.")
    ]


class BudgetLayer(TypedDict):
    """A layer of the error budget."""

    tensor: Annotated[str, Doc("The layer's output tensor.")]
    op: Annotated[str, Doc('Its operator ("VIA + OP" through another).')]
    dtype: Annotated[str, Doc("Its quantized type.")]
    share: Annotated[float, Doc("Share of the worst output's error it adds, 0–1.")]


class ErrorBudget(TypedDict):
    """The layers that add most to the worst output's error."""

    output: Annotated[str, Doc("The worst output.")]
    snr_db: Annotated[float | None, Doc("Its SNR, dB; null when infinite.")]
    layers: Annotated[list[BudgetLayer], Doc("Largest share first.")]


class QuantizeFacts(TypedDict):
    """quantize.json: the quantized model's interface and, for integer schemes, its error table."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    ops: Annotated[dict[str, int], Doc("Operator name → count.")]
    size_bytes: int
    quant_errors: NotRequired[Annotated[list[LayerError], Doc("The 20 worst layers.")]]
    error_budget: NotRequired[ErrorBudget | None]


# --- the compile and analyse steps' facts (tasks/toolchains/*/adapter.py, tasks/model/analysis.py) ------------


class VelaOps(TypedDict):
    """Operator counts of a Vela artifact, as Vela's own report counts them."""

    npu: Annotated[int, Doc("Vela's operators on the NPU (after its graph rewrites)."), Min(0)]
    cpu: Annotated[int, Doc("Operators Vela left on the CPU."), Min(0)]


class CpuFallback(TypedDict):
    """An operator Vela left on the CPU."""

    op: Annotated[str, Doc("The operator, e.g. DEPTH_TO_SPACE.")]
    name: Annotated[str, Doc("Its output tensor.")]
    reason: Annotated[str, Doc("Vela's reason for leaving it on the CPU.")]


class Estimate(TypedDict):
    """Vela's performance estimate (its summary CSV)."""

    inference_ms: Annotated[float, Doc("Estimated inference time, ms.")]
    fps: Annotated[float, Doc("Estimated inferences per second.")]
    cycles: Annotated[int, Doc("Total cycles.")]
    npu_cycles: Annotated[int, Doc("NPU cycles.")]
    sram_access_cycles: Annotated[int, Doc("SRAM access cycles.")]
    dram_access_cycles: Annotated[int, Doc("DRAM access cycles.")]
    macs: Annotated[int, Doc("Multiply-accumulates per inference.")]
    sram_kib: Annotated[float, Doc("SRAM used, KiB.")]
    dram_kib: Annotated[float, Doc("DRAM used, KiB.")]
    weights_bytes: Annotated[int, Doc("Encoded weights on the NPU, bytes.")]
    clock_hz: Annotated[int, Doc("The NPU's clock, Hz.")]


class VelaLayer(TypedDict):
    """A row of Vela's per-layer table (layers fused into the previous NPU operation, 0 cycles, are left out)."""

    name: Annotated[str, Doc("The layer's output tensor.")]
    op: Annotated[str, Doc("The TFLite operator it comes from (Vela's Original Operator).")]
    npu_op: Annotated[str, Doc("The operator Vela lowered it to (NNG Operator).")]
    target: Annotated[str, Doc("NPU or CPU.")]
    cycles: Annotated[int, Doc("Cycles.")]
    cycles_pct: Annotated[float, Doc("Share of the network's cycles, %.")]
    npu_cycles: Annotated[int, Doc("NPU cycles.")]
    sram_access_cycles: Annotated[int, Doc("SRAM access cycles.")]
    dram_access_cycles: Annotated[int, Doc("DRAM access cycles.")]
    macs: Annotated[int, Doc("Multiply-accumulates.")]
    mac_util_pct: Annotated[float | None, Doc("MAC utilisation, %; null on the CPU or where Vela gives none.")]
    out_channels: Annotated[int | None, Doc("Output channels (the output's last dimension), where known.")]
    in_channels: Annotated[int | None, Doc("The first input's channels, where known.")]


@keeps_other_keys
class SynapTensor(TypedDict):
    """An input or output in SyNAP's model_info.txt; keys beyond these are kept as SyNAP writes them."""

    name: Annotated[str | None, Doc("The tensor's name.")]
    shape: Annotated[list[int] | None, Doc("Dimensions.")]
    layout: Annotated[Any, Doc("nhwc, nchw, …")]
    format: Annotated[Any, Doc("SyNAP's data format.")]
    type: Annotated[Any, Doc("SyNAP's data type.")]


class ModelInfo(TypedDict):
    """SyNAP's view of the compiled model (model_info.txt beside model.synap)."""

    inputs: Annotated[list[SynapTensor], Doc("The compiled model's inputs.")]
    outputs: Annotated[list[SynapTensor], Doc("The compiled model's outputs.")]


class Finding(TypedDict):
    """A finding of the analyse step: a layer worth a look and what to do."""

    kind: Annotated[str, Doc("cpu_fallback, rewritten, hot, first_layer, channel_padding or memory_bound.")]
    layer: Annotated[str, Doc('The layer (its output tensor), or a group such as "4 layers".')]
    op: NotRequired[Annotated[str | None, Doc("Its operator; null for a group.")]]
    cycles_pct: Annotated[
        float | None, Doc("Share of the network's cycles, %; null where there are none (the CPU, a delegate).")
    ]
    detail: Annotated[str, Doc("What was found.")]
    action: Annotated[str, Doc("What to do about it.")]
    free_channels: NotRequired[Annotated[int, Doc("channel_padding: channels that would cost no extra cycles.")]]


# --- the rewrite and convert steps (tasks/model/rewrites, tasks/steps/convert.py) ---------------------------


class Rewritten(TypedDict):
    """One match of a rewrite the rewrite step applied to the float model."""

    rewrite: NotRequired[Annotated[str, Doc("The rewrite, e.g. depth_to_space.")]]
    op: Annotated[str, Doc("The operator it replaces.")]
    name: Annotated[str, Doc("That operator's output tensor.")]
    block: NotRequired[Annotated[int, Doc("depth_to_space: the block size.")]]
    done: Annotated[bool, Doc("Rewritten (else left, with the reason).")]
    becomes: NotRequired[Annotated[str, Doc("What it became.")]]
    reason: NotRequired[Annotated[str, Doc("Why it was left.")]]


class ConvertedTensor(TypedDict):
    """An input or output of an ONNX model on both sides of the conversion."""

    onnx: Annotated[str | None, Doc("The ONNX name.")]
    onnx_shape: Annotated[list[int] | None, Doc("Its shape in the ONNX model's layout.")]
    tflite: Annotated[str | None, Doc("The TFLite name.")]
    tflite_shape: Annotated[list[int] | None, Doc("Its shape in the TFLite model.")]
    axes: Annotated[list[int] | None, Doc("The ONNX axis each TFLite axis comes from.")]


# ``from`` is a Python keyword: the functional form
Conversion = TypedDict(
    "Conversion",
    {
        "from": Annotated[Literal["onnx"], Doc("The source format.")],
        "converter": Annotated[Literal["onnx2tf"], Doc("The converter.")],
        "max_rel_diff": Annotated[
            float,
            Doc(
                "Largest difference from onnxruntime on seeded uniform random inputs, as a share of the output's range."
            ),
        ],
        "max_rel_diff_samples": NotRequired[
            Annotated[
                float | None,
                Doc(
                    "The same on the first calibration samples (what the model sees; it decides when given); "
                    "null without any."
                ),
            ]
        ],
        "samples": NotRequired[  # none in results.json of earlier builds
            Annotated[int, Doc("How many calibration samples the conversion was compared on."), Min(0)]
        ],
        "warning": NotRequired[  # none in results.json of earlier builds
            Annotated[
                str | None,
                Doc(
                    "Why a conversion that differs beyond the tolerance was accepted (the triage compared the "
                    "intermediate tensors and found no operator that departs); null when within it."
                ),
            ]
        ],
        "inputs": Annotated[list[ConvertedTensor], Doc("The ONNX model's inputs.")],
        "outputs": Annotated[list[ConvertedTensor], Doc("Its outputs.")],
    },
)
Conversion.__doc__ = "An ONNX model's conversion to TFLite."


# --- the evaluate step (tasks/model/accuracy.py) -------------------------------------------------------------


class OutputError(TypedDict):
    """One output of the quantized model against the float model's."""

    max_abs: Annotated[float, Doc("Largest absolute error, in the output's units.")]
    rmse: Annotated[float, Doc("RMSE, in the output's units.")]
    snr_db: Annotated[float, Doc("SNR, dB, capped at ±200 (JSON has no infinity).")]
    cosine: Annotated[float, Doc("Cosine similarity with the float output.")]


class WorstSample(OutputError):
    """The sample with the lowest SNR."""

    sample: Annotated[int, Doc("Its index in the validation set."), Min(0)]


class OutputAccuracy(OutputError):
    """One output of the quantized model against the float model's: the mean over the samples."""

    worst: Annotated[WorstSample, Doc("The sample with the lowest SNR.")]


class TaskResult(TypedDict):
    """One of the model's tasks: its metrics, or why it was skipped."""

    # a row of tasks.model.metrics.TASKS
    type: Annotated[str, Doc("The task's type: classification, keypoints, detection, segmentation, custom.")]
    output: NotRequired[Annotated[str, Doc("The output it reads, as project.yaml names it.")]]
    boxes: NotRequired[Annotated[str, Doc("detection: the boxes output.")]]
    scores: NotRequired[Annotated[str, Doc("detection: the scores output.")]]
    metrics: NotRequired[
        Annotated[
            dict[str, float | None],
            Doc(
                "Metric name → value; null where undefined on these samples (e.g. recall when the float model "
                "found nothing)."
            ),
        ]
    ]
    skipped: NotRequired[Annotated[str, Doc("Why it was not evaluated (a prune variant cut its output away).")]]


class LabelMetric(TypedDict):
    """One metric against the validation set's labels, for the float model and the quantized one."""

    float: Annotated[float | None, Doc("The float model's value; null without a float model (pre-quantized).")]
    quantized: Annotated[float | None, Doc("This variant's value; null where undefined (no labelled object).")]
    drop: Annotated[float | None, Doc("(float - quantized) x 100: points lost; positive is worse.")]
    interval: Annotated[
        list[float] | None, Doc("95 % bootstrap interval of the drop over the samples, [low, high], points.")
    ]
    resamples: Annotated[int, Doc("Bootstrap resamples behind the interval."), Min(1)]


class Confusion(TypedDict):
    """A classifier's confusion matrices: rows the label, columns the model's top-1 class."""

    classes: Annotated[list[str], Doc("Class names in index order.")]
    float: Annotated[list[list[int]] | None, Doc("The float model's; null without a float model.")]
    quantized: Annotated[list[list[int]], Doc("This variant's.")]


class PrCurve(TypedDict):
    """A detector's precision at each recall (COCO's 101 points), at one IoU threshold, over the classes."""

    iou: Annotated[float, Doc("The IoU a detection needs to match a labelled box.")]
    recall: Annotated[list[float], Doc("0, 0.01, …, 1.")]
    float: Annotated[list[float | None] | None, Doc("The float model's precision at each recall (null: not reached).")]
    quantized: Annotated[list[float | None], Doc("This variant's.")]


class LabelAccuracy(TypedDict):
    """The float and the quantized model against the validation set's labels (datasets.NAME.labels)."""

    dataset: Annotated[str, Doc("The labelled dataset.")]
    samples: Annotated[int, Doc("Labelled samples."), Min(1)]
    metrics: Annotated[dict[str, LabelMetric], Doc("top1_accuracy, top5_accuracy, map50_95, map50, oks_ap, miou.")]
    confusion: NotRequired[Annotated[Confusion, Doc("A classifier's (50 classes at most).")]]
    pr_curve: NotRequired[Annotated[PrCurve, Doc("A detector's, at IoU 0.5.")]]


class Accuracy(TypedDict):
    """accuracy.json: the quantized model against its float original on the validation set."""

    outputs: Annotated[dict[str, OutputAccuracy], Doc("By output name.")]
    worst_output: Annotated[str | None, Doc("The output with the lowest SNR; null without a float model.")]
    samples: Annotated[int, Doc("Validation samples compared."), Min(1)]
    dataset: Annotated[str, Doc("The validation dataset.")]
    part: Annotated[str | None, Doc("The part of a split dataset (validation), else null.")]
    in_sample: Annotated[bool, Doc("The samples are calibration samples too: the numbers flatter the model.")]
    tasks: Annotated[list[TaskResult], Doc("Each of the model's tasks, with its settings.")]
    metrics: Annotated[
        dict[str, float | None],
        Doc("Every task metric by name, label metrics and their NAME_drop too (gates read them here)."),
    ]
    labels: NotRequired[Annotated[LabelAccuracy, Doc("Against the labels, where the validation set has them.")]]
    # kept for older readers
    top1_agreement: NotRequired[
        Annotated[float | None, Doc("A classification task's top1_agreement, also under metrics.")]
    ]


class VariantAccuracy(Accuracy):
    """The evaluate step's comparison of the quantized model with its float original on the validation set."""

    measured_on: Annotated[
        str, Doc("What was evaluated: the quantized model (the one a Vela artifact was compiled from).")
    ]


# --- the limits step (tasks/model/limits.py) -----------------------------------------------------------------


class LimitsOutput(TypedDict):
    """One output's SNR, calibrated on the dataset and on the one sample."""

    snr_db: Annotated[float, Doc("SNR, dB, calibrated on the dataset.")]
    snr_db_one_sample: Annotated[float, Doc("SNR, dB, calibrated on this sample alone.")]


class Limits(TypedDict):
    """The quantization limits check: calibrated on one validation sample and evaluated on it."""

    sample: Annotated[str, Doc("The validation sample (its file, or DATASET #N of random data).")]
    outputs: Annotated[dict[str, LimitsOutput], Doc("By output name.")]
    worst_output: Annotated[str, Doc("The output with the lowest SNR calibrated on the dataset.")]
    gap_db: Annotated[float, Doc("dB the one-sample model is better on the worst output.")]
    verdict: Annotated[
        Literal["none", "calibration", "precision"], Doc("No problem, a dataset problem, or the scheme's precision.")
    ]
    advice: Annotated[str, Doc("What the numbers say and what to do.")]


# --- the benchmark and agreement steps (tasks/steps/benchmark.py, tasks/steps/agreement.py) ----------------


class Latency(TypedDict):
    """Measured latency."""

    avg: Annotated[float, Doc("ms, over the measured runs.")]
    min: Annotated[float, Doc("ms.")]
    max: Annotated[float, Doc("ms.")]
    std: Annotated[float | None, Doc("ms; null when the tool gives none.")]
    median: NotRequired[Annotated[float | None, Doc("ms, the median run (null: the tool does not print it).")]]


class Delegated(TypedDict):
    """benchmark_model's delegate lines."""

    nodes: Annotated[int | None, Doc("Nodes the delegate took.")]
    total: Annotated[int | None, Doc("Nodes of the graph.")]
    complete: Annotated[bool | None, Doc("The delegate runs the whole graph.")]


class Benchmark(TypedDict):
    """What a board measured (the benchmark step's benchmark-<board>.json)."""

    board: Annotated[str, Doc("The board's name in project.yaml.")]
    latency_ms: Annotated[Latency, Doc("Measured latency.")]
    runs: Annotated[int, Doc("Measured runs."), Min(0)]
    first_ms: Annotated[float, Doc("The first inference, ms (a delegate compiles its graph there).")]
    init_ms: Annotated[float | None, Doc("The interpreter's set-up, ms.")]
    load_ms: NotRequired[Annotated[float | None, Doc("synap_cli's model load, ms.")]]
    peak_mem_mb: Annotated[float | None, Doc("Peak memory, MB; null when not reported.")]
    delegated: Annotated[Delegated | None, Doc("benchmark_model's delegate lines; null when there are none.")]
    bytes_sent: Annotated[int, Doc("Bytes uploaded to the board (0: already there)."), Min(0)]
    command: Annotated[str, Doc("The command that ran, as a shell shows it.")]
    cpu_fallback_at_runtime: NotRequired[
        Annotated[Literal[True], Doc("Present when the delegate left part of the graph to the CPU.")]
    ]


class OutputAgreement(TypedDict):
    """One output of the artifact on the board against the host's quantized model."""

    index: Annotated[int, Doc("Position among the model's outputs."), Min(0)]
    dtype: Annotated[str, Doc("The output's type.")]
    shape: Annotated[list[int], Doc("Without the batch axis.")]
    agreement: Annotated[float, Doc("Share of samples within the tolerance, 0–1."), Min(0), Max(1)]
    exact: Annotated[float, Doc("Share of values exactly equal, 0–1."), Min(0), Max(1)]
    max_abs: Annotated[float | None, Doc("Largest difference in the output's float units; null when NaN on one side.")]
    max_lsb: Annotated[int | None, Doc("Largest difference in quantization steps; null for a float output.")]
    max_ulp: Annotated[int | None, Doc("Largest difference in units in the last place (float16/32 outputs).")]
    snr_db: Annotated[float, Doc("The worst sample's SNR, dB.")]
    first_mismatch: Annotated[int | None, Doc("The first sample that does not agree.")]


class BoardLabelMetric(TypedDict):
    """One metric against the labels of the samples the board ran: the host's quantized model and the board's."""

    host: Annotated[float | None, Doc("The quantized model on the host's builtin kernels.")]
    board: Annotated[float | None, Doc("The artifact on the board.")]
    drop: Annotated[float | None, Doc("(host - board) x 100: points the board loses; positive is worse.")]
    interval: Annotated[list[float] | None, Doc("95 % bootstrap interval of the drop over the samples, points.")]
    resamples: Annotated[int, Doc("Bootstrap resamples behind the interval."), Min(1)]


class BoardLabels(TypedDict):
    """The board's outputs decoded by the model's tasks and scored against the samples' labels."""

    samples: Annotated[int, Doc("Labelled samples the board ran."), Min(1)]
    metrics: Annotated[dict[str, BoardLabelMetric], Doc("top1_accuracy, map50, … by name.")]


class Agreement(TypedDict):
    """The validation samples through the artifact on a board against the host's quantized model (the agreement
    step)."""

    board: Annotated[str, Doc("The board's name.")]
    samples: Annotated[int, Doc("Validation samples run."), Min(0)]
    dataset: Annotated[str, Doc("The validation dataset.")]
    tolerance_lsb: Annotated[int, Doc("Quantization steps an integer output may differ by and still agree.")]
    tolerance_abs: Annotated[float, Doc("The same for a float output, in its own units.")]
    agreement: Annotated[float, Doc("Share of samples where every output agrees, 0–1."), Min(0), Max(1)]
    outputs: Annotated[dict[str, OutputAgreement], Doc("By output name.")]
    bytes_sent: Annotated[int, Doc("Bytes uploaded to the board."), Min(0)]
    command: Annotated[str, Doc("The command that ran.")]
    labels: NotRequired[Annotated[BoardLabels, Doc("Against the labels, where the validation set has them.")]]


# --- the search step (tasks/model/mixed_search.py, tasks/steps/search.py) ------------------------------------


class Candidate(TypedDict):
    """A candidate the search measured."""

    stage: Annotated[str, Doc("The path that tried it: 8-bit, 16-bit, a route's name.")]
    step: Annotated[int | None, Doc("Its step on that path.")]
    weights: Annotated[str, Doc("Weight rounding, e.g. min_max.")]
    ms: Annotated[float, Doc("Vela's estimate on the budget's target, ms.")]
    value: Annotated[float | None, Doc("The goal's metric; null where undefined.")]
    widened: Annotated[int, Doc("Layers in int16x8.")]
    type_changes: Annotated[int, Doc("int8 ↔ int16 boundaries.")]
    met: Annotated[bool, Doc("Meets the goal.")]
    within: Annotated[bool, Doc("Within the budget.")]
    estimated_ms: Annotated[float | None, Doc("The sensitivity step's estimate of ms, for a path's candidate.")]


class ChosenScheme(TypedDict):
    """The choice as a fixed scheme."""

    type: Annotated[str, Doc("The scheme's type.")]  # "int8"
    weights: Annotated[str, Doc("Weight rounding.")]
    overrides: NotRequired[Annotated[list[dict[str, str]], Doc("Each {match, type}: the layers in int16x8.")]]


class Chosen(TypedDict):
    """The candidate chosen."""

    ms: Annotated[float, Doc("ms.")]
    value: Annotated[float | None, Doc("The goal's metric.")]
    widened: Annotated[int, Doc("Layers in int16x8.")]
    type_changes: Annotated[int, Doc("int8 ↔ int16 boundaries.")]
    weights: Annotated[str, Doc("Weight rounding.")]
    layers: Annotated[list[str], Doc("The output tensors of the layers in int16x8.")]
    scheme: Annotated[ChosenScheme, Doc("The choice as a fixed scheme.")]
    summary: Annotated[str, Doc("The choice in one line.")]  # e.g. "3 layers in int16x8"


class SearchCost(TypedDict):
    """What the search spent: its candidate steps and the sensitivity step's estimate."""

    candidates: Annotated[int, Doc("Candidates measured (each quantized, compiled by Vela and evaluated).")]
    seconds: Annotated[float, Doc("The candidate steps' time together, s (spread over the cores).")]
    estimate_seconds: Annotated[float, Doc("The sensitivity step's estimate, s.")]
    refined: Annotated[int, Doc("Models the search step measured along the paths for its budget.")]
    refine_seconds: Annotated[float, Doc("The search step's time, s.")]


class Search(TypedDict):
    """What an automatic (mixed-precision) scheme's search chose, and every candidate it measured."""

    goal: Annotated[str, Doc("The goal as text.")]  # e.g. "top1_agreement >= 0.98"
    metric: Annotated[str, Doc("The goal's metric.")]
    bound: Annotated[float, Doc("The goal's bound.")]
    max_ms: Annotated[float, Doc("The budget, ms.")]
    met: Annotated[bool, Doc("A candidate meets the goal within the budget.")]
    why: Annotated[str, Doc("Why this choice.")]
    chosen: Annotated[Chosen, Doc("The candidate chosen.")]
    candidates: Annotated[list[Candidate], Doc("Every candidate measured.")]
    pareto: Annotated[
        list[Annotated[int, Min(0)]], Doc("Indices into candidates: the front of latency against the goal's metric.")
    ]
    cost: Annotated[SearchCost, Doc("What the search spent.")]
    target: Annotated[str, Doc("The budget's Vela target.")]
    snippet: Annotated[str, Doc("The choice as project.yaml text, to paste under quantization:.")]


# --- build/results.json (tasks/steps/results.py) -------------------------------------------------------------


class VariantRow(TypedDict):
    """One variant: its names and every fact about it; null where a step does not apply to it."""

    id: Annotated[str, Doc("MODEL[.PRUNE]/QUANT@TARGET."), Pattern("^[^/@]+/[^/@]+@[^/@]+$")]
    model: Annotated[str, Doc("The model's name in project.yaml.")]
    prune: Annotated[str | None, Doc("The prune variant; null for the whole model.")]
    quantization: Annotated[str, Doc("The quantization scheme's name.")]
    target: Annotated[str, Doc("The target's name.")]
    artifact: Annotated[str | None, Doc("The file that ships, relative to the project; null when the variant failed.")]
    size_bytes: Annotated[int | None, Doc("The artifact's size, bytes; null when the variant failed."), Min(0)]
    inputs: Annotated[
        list[Tensor] | None, Doc("The quantized model's inputs; null where NPUForge does not quantize (SyNAP).")
    ]
    outputs: Annotated[list[Tensor] | None, Doc("Its outputs.")]
    ops: Annotated[VelaOps | None, Doc("Vela's operator counts; null for other targets.")]
    cpu_fallback: Annotated[
        list[CpuFallback] | None, Doc("Each operator Vela left on the CPU, with Vela's reason; null for other targets.")
    ]
    estimate: Annotated[Estimate | None, Doc("Vela's estimate; null for other targets.")]
    layers: Annotated[list[VelaLayer] | None, Doc("Vela's per-layer table; null for other targets.")]
    model_info: Annotated[ModelInfo | None, Doc("SyNAP's model_info.txt; null for other targets.")]
    findings: Annotated[
        list[Finding] | None, Doc("The analyse step's findings (Vela and delegate targets); null elsewhere.")
    ]
    rewrites: Annotated[
        list[Rewritten] | None,
        Doc("What the rewrite step changed (or left) in the model the variant was quantized from."),
    ]
    conversion: Annotated[Conversion | None, Doc("An ONNX source's conversion; null otherwise.")]
    quant_errors: Annotated[list[LayerError] | None, Doc("The 20 worst layers of the quantization error table.")]
    error_budget: Annotated[ErrorBudget | None, Doc("The layers that add most to the worst output's error.")]
    accuracy: Annotated[VariantAccuracy | None, Doc("Against the float model on the validation set; null without one.")]
    limits: Annotated[Limits | None, Doc("The quantization limits check (integer schemes with a validation set).")]
    benchmark: Annotated[Benchmark | None, Doc("The first board's measurement.")]
    benchmarks: Annotated[list[Benchmark], Doc("Every board's measurement.")]
    board_agreement: Annotated[Agreement | None, Doc("The first board's agreement with the host.")]
    board_agreements: Annotated[list[Agreement], Doc("Every board's agreement.")]
    search: Annotated[Search | None, Doc("An automatic scheme's search.")]
    error: NotRequired[
        Annotated[
            Failure,
            Doc("Present when the variant failed; its facts are then null."),
            NullsWhenPresent(artifact="A failed variant has no artifact.", size_bytes="Nor its size."),
        ]
    ]


# --- pipelines (tasks/steps/pipeline.py, tasks/model/pipelines.py) -------------------------------------------


class RegionShift(TypedDict):
    """How far the quantized chain's crops sat from the float chain's."""

    centre_mean: Annotated[float, Doc("Mean distance of the regions' centres, pixels of the frame."), Min(0)]
    size_mean: Annotated[float, Doc("Mean relative difference of the regions' sides."), Min(0)]


class LabelledAp(TypedDict):
    """pycocotools' keypoint AP (OKS .50:.95) of the float and the quantized chain against the frames' labels."""

    float: Annotated[float, Doc("The float chain's, 0–1."), Min(0), Max(1)]
    quantized: Annotated[float, Doc("The quantized chain's, 0–1."), Min(0), Max(1)]
    drop: Annotated[float, Doc("float − quantized, in points (positive is worse).")]


class PipelineLabels(TypedDict):
    """Both chains against the frames' labels (COCO keypoints): each chain's landmarks in the frame, one person a
    frame it carried to the end."""

    oks_ap: Annotated[LabelledAp, Doc("Keypoint AP over OKS thresholds .50:.95.")]
    labelled_frames: Annotated[int, Doc("Frames with a labelled person."), Min(0)]


class PipelineAccuracy(TypedDict):
    """The quantized chain against the float chain on the pipeline's frames (pipeline-evaluate)."""

    frames: Annotated[int, Doc("Frames run through both chains."), Min(1)]
    reference_frames: Annotated[int, Doc("Frames the float chain carried to the last stage."), Min(0)]
    misses: Annotated[int, Doc("Of those, frames the quantized chain found nothing in."), Min(0)]
    false_alarms: Annotated[int, Doc("Frames only the quantized chain carried to the last stage."), Min(0)]
    scored_frames: Annotated[int, Doc("Frames both chains carried to the end: the task metrics' samples."), Min(0)]
    in_sample: Annotated[bool, Doc("Some frames are calibration samples of a stage.")]
    miss_rate: Annotated[float | None, Doc("misses / reference_frames; null without a reference frame.")]
    tasks: Annotated[list[TaskResult], Doc("The last stage's tasks, end to end.")]
    metrics: Annotated[
        dict[str, float | None], Doc("The last stage's task metrics end to end, and pipeline_miss_rate.")
    ]
    from_crops: Annotated[
        dict[str, float | None], Doc("The float last stage on the quantized chain's crops: the crops' share.")
    ]
    region_shift_px: Annotated[RegionShift | None, Doc("Null without a scored frame.")]
    top1_agreement: NotRequired[Annotated[float | None, Doc("A classification task's, also under metrics.")]]
    labels: NotRequired[
        Annotated[PipelineLabels, Doc("Where the frames have keypoint labels and the last stage a keypoints task.")]
    ]


class PipelineStage(TypedDict):
    """One stage of a pipeline variant: what its own variant's steps measured."""

    variant: Annotated[str, Doc("The stage's variant id, UNIT/SCHEME@TARGET.")]
    npu_ms: Annotated[float | None, Doc("Vela's estimate, ms; null for other targets.")]
    cpu_ops: Annotated[int | None, Doc("Operators Vela left on the CPU (not in the estimate); null for other targets.")]
    cpu_fallback: Annotated[list[str], Doc("Their operator types.")]
    sram_kib: Annotated[float | None, Doc("Vela's SRAM use, KiB.")]
    dram_kib: Annotated[float | None, Doc("Vela's DRAM use, KiB.")]
    size_kib: Annotated[float, Doc("The artifact's size, KiB."), Min(0)]
    measured_ms: Annotated[float | None, Doc("The stage alone on the first board, ms average.")]
    declare: NotRequired[
        Annotated[
            str,
            Doc(
                "A search's stage that is a candidate of an automatic scheme, not a variant of the build: the scheme "
                "to paste under quantization: to build it (its variant id is UNIT/SCHEME:CANDIDATE@TARGET)."
            ),
        ]
    ]


class PipelineTiming(TypedDict):
    """The pipeline's latency, from the stages' Vela estimates."""

    ms: Annotated[float, Doc("The stages' NPU estimates summed, ms."), Min(0)]
    fps: Annotated[float | None, Doc("1000 / ms.")]
    cpu_ops: Annotated[int, Doc("The stages' CPU operators, not in ms."), Min(0)]


class FrameTimes(TypedDict):
    """Per-frame time on the board, ms."""

    avg: Annotated[float, Doc("ms.")]
    min: Annotated[float, Doc("ms.")]
    max: Annotated[float, Doc("ms.")]
    median: Annotated[float, Doc("ms.")]
    p95: Annotated[float, Doc("ms.")]


class PipelineMeasured(TypedDict):
    """The stages run one after another on the pipeline's frames on a board (pipeline-benchmark)."""

    board: Annotated[str, Doc("The board's name.")]
    frames: Annotated[int, Doc("Frames, each decoded once before timing."), Min(1)]
    passes: Annotated[int, Doc("Times every frame was run."), Min(1)]
    carried: Annotated[int, Doc("Frames the chain carried to the last stage (a pass's)."), Min(0)]
    frame_ms: Annotated[FrameTimes, Doc("From preprocessing to the last stage's outputs.")]
    stage_ms: Annotated[list[float], Doc("Each stage's inference, ms a frame on average.")]
    cpu_ms: Annotated[float, Doc("The rest of a frame: preprocessing, decoding, crops, copies, ms on average.")]
    fps: Annotated[float, Doc("1000 / frame_ms.avg."), Min(0)]


class PipelineMemory(TypedDict):
    """The pipeline's memory against the target's."""

    sram_kib: Annotated[float | None, Doc("The largest stage's SRAM: the stages run in turn and share the arena.")]
    flash_kib: Annotated[float, Doc("The stages' artifacts summed, KiB."), Min(0)]
    target_sram_kib: Annotated[float | None, Doc("targets.NAME.memory.sram_kib; null when not declared.")]
    target_flash_kib: Annotated[float | None, Doc("targets.NAME.memory.flash_kib; null when not declared.")]
    fits: Annotated[bool | None, Doc("Both fit what the target declares; null when nothing can be checked.")]


class FrontPoint(TypedDict):
    """A scheme a stage could take: its variant's Vela estimate and its error alone."""

    scheme: Annotated[str, Doc("The scheme.")]
    variant: Annotated[str, Doc("The stage's variant with it.")]
    ms: Annotated[float, Doc("Vela's estimate on the search's target, ms.")]
    cpu_ops: Annotated[int, Doc("Operators Vela left on the CPU (not in ms).")]
    alone: Annotated[float | None, Doc("The goal's metric of the model alone, on its own validation set.")]
    candidate: NotRequired[
        Annotated[bool, Doc("A candidate an automatic scheme's search measured (SCHEME:CANDIDATE), on its front.")]
    ]


class SearchCombination(TypedDict):
    """A combination of the stages' schemes."""

    schemes: Annotated[list[str], Doc("One per stage.")]
    variants: Annotated[list[str], Doc("The stages' variants.")]
    ms: Annotated[float, Doc("The stages' estimates added up, ms.")]
    cpu_ops: Annotated[int, Doc("The stages' operators left on the CPU: at equal ms, fewer are measured first.")]
    measured: Annotated[bool, Doc("Measured end to end.")]
    value: NotRequired[Annotated[float | None, Doc("Measured: the goal's metric end to end.")]]
    met: NotRequired[Annotated[bool, Doc("Measured: it meets the goal.")]]


class PipelineSearchResult(TypedDict):
    """pipelines.NAME.search: the stages' schemes chosen together (pipeline-search)."""

    met: Annotated[bool, Doc("A combination within the budget meets the goal.")]
    why: Annotated[str, Doc("What was chosen and why, or what the closest combination would need.")]
    goal: Annotated[dict[str, Any], Doc("The goal, as project.yaml gives it.")]
    chosen: Annotated[int | None, Doc("Index into combinations of the choice; null when none meets the goal.")]
    closest: Annotated[int | None, Doc("The choice, else the measured combination nearest the goal: the row's.")]
    combinations: Annotated[list[SearchCombination], Doc("Every combination, cheapest first: the combined front.")]
    fronts: Annotated[list[list[FrontPoint]], Doc("Each stage's schemes.")]


class PipelineRow(TypedDict):
    """One pipeline variant: a scheme combination of a pipeline on a target."""

    id: Annotated[str, Doc("PIPELINE/COMBINATION@TARGET."), Pattern("^[^/@]+/[^/@]+@[^/@]+$")]
    pipeline: Annotated[str, Doc("The pipeline's name in project.yaml.")]
    quantization: Annotated[str, Doc("The scheme combination's name.")]
    target: Annotated[str, Doc("The target's name.")]
    stages: Annotated[list[PipelineStage] | None, Doc("In the order they run; null when the pipeline failed.")]
    budget_ms: Annotated[float | None, Doc("The frame budget, ms (fps: 1000 / fps).")]
    fps_goal: Annotated[float | None, Doc("pipelines.NAME.fps.")]
    estimate: Annotated[PipelineTiming | None, Doc("From Vela's estimates; null when a stage has none.")]
    measured: Annotated[PipelineMeasured | None, Doc("On the first board that runs it; null without one.")]
    memory: Annotated[PipelineMemory | None, Doc("Against targets.NAME.memory.")]
    accuracy: Annotated[PipelineAccuracy | None, Doc("End to end against the float chain.")]
    search: NotRequired[Annotated[PipelineSearchResult, Doc("The search variant (NAME/search@TARGET)'s choice.")]]
    error: NotRequired[Annotated[Failure, Doc("Present when the pipeline variant failed; its facts are then null.")]]


class Results(TypedDict):
    """build/results.json: every variant's facts, written by the results step (tasks/steps/results.py). Numbers are
    numbers, not strings."""

    project: Annotated[str, Doc("project.yaml's name.")]
    variants: Annotated[list[VariantRow], Doc("One entry per variant, in planning order.")]
    pipelines: NotRequired[
        Annotated[list[PipelineRow], Doc("One entry per pipeline variant (pipelines: in project.yaml).")]
    ]


# --- the report (tasks/steps/report.py → tasks/report/html.py) -----------------------------------------------


class OverviewRow(TypedDict):
    """A built variant's row of the report's overview: the numbers its columns show (None: not known)."""

    id: str
    model: str
    prune: Annotated[str, Doc('"" for the whole model.')]
    quantization: str
    target: str
    size: Annotated[int, Doc("Bytes of the artifact.")]
    ops: Annotated[str, Doc('"NPU/CPU" operator counts, "" when not compiled by Vela.')]
    est_ms: Annotated[float | None, Doc("ms, Vela's estimate.")]
    fps: Annotated[float | None, Doc("Vela's estimate.")]
    sram_kib: Annotated[float | None, Doc("KiB.")]
    dram_kib: Annotated[float | None, Doc("KiB.")]
    macs: int | None
    snr_db: Annotated[float | None, Doc("dB, the worst output's.")]
    in_sample: Annotated[bool, Doc("The validation samples are calibration samples too.")]
    task: Annotated[
        tuple[str, float] | None, Doc("The task metric shown: a gated one, else the headline (or its worse pair).")
    ]
    task_beside: Annotated[
        tuple[str, float] | None,
        Doc("Shown beside it: a label metric's drop in points, or the worse of a recall/precision pair."),
    ]
    measured_ms: Annotated[float | None, Doc("ms, the first board's average.")]
    measured_range: Annotated[tuple[float, float] | None, Doc("ms, its fastest and slowest run.")]
    first_ms: Annotated[float | None, Doc("ms, its first inference (includes a delegate's graph compilation).")]
    runtime_cpu: Annotated[bool, Doc("The delegate left part of the graph to the CPU.")]
    npu_ratio: Annotated[float | None, Doc("NPU operators over all, 0–1.")]
    gates: Annotated[tuple[str, str], Doc('The gates cell: ("✓ 3" | "✗ 1 of 3" | "–", its CSS class).')]
    gate_cells: Annotated[dict[str, str], Doc("Overview column → why its number fails a gate.")]


# --- gates.json (tasks/steps/gates.py) and the release manifest (tasks/steps/release.py) ---------------------


class GatesRecord(TypedDict):
    checks: Annotated[
        list[dict[str, Any]],
        Doc("tasks/config/quality_gates.check's: {gate, variant, metric, output, value, …}."),
    ]
    warnings: Annotated[list[str], Doc("Variants a rule could not check, and why.")]


class ManifestEntry(TypedDict):
    """A released artifact in MANIFEST.json."""

    variant: Annotated[str, Doc("The variant's id.")]
    path: Annotated[str, Doc("In the archive.")]
    sha256: Annotated[str, Doc("Hex.")]
    size: Annotated[int, Doc("Bytes.")]
    params: Annotated[dict[str, Any], Doc("The fingerprints of its quantize and compile steps.")]
    inputs: Annotated[dict[str, str], Doc("Source file (relative to the project) → sha256.")]
    accuracy: Annotated[
        dict[str, Any] | None,
        Doc("Against the float model: samples, dataset, worst_output, outputs, metrics."),
    ]
    gates: Annotated[
        list[dict[str, Any]],
        Doc("Its checks: {gate, metric, output, value (None if measured on a board), bound, passed}."),
    ]


class Manifest(TypedDict):
    name: Annotated[str, Doc("release.name.")]
    version: Annotated[str, Doc("release.version.")]
    project_yaml_sha256: str
    tools: Annotated[dict[str, str], Doc("Distribution → version.")]
    gates_overridden: Annotated[str | None, Doc("release.override_gates, when the archive ships failing gate checks.")]
    artifacts: list[ManifestEntry]
