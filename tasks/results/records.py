"""The records steps hand to each other as JSON, typed: results.json, its rows and the facts files they are made of.

Each step writes a dict to a facts file and a later step reads it back by
key (the results step assembles build/results.json from them; the report,
gates and release steps read that).  These TypedDicts name every key, what
it means and its unit, so a key written in one module and read in another
is spelled once.  schema/results.schema.json says the same for results.json
as a JSON Schema, and the results step checks what it writes against it.

Annotations only: nothing here runs, and the modules that use these types
import them for type checkers alone (``if TYPE_CHECKING``).  The facts
Vela and SyNAP give (``ops``, ``cpu_fallback``, ``estimate``, ``layers``,
``findings``, ``model_info``) are typed by their toolchains; here they are
plain dicts and lists.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# --- a failed step (tasks/results/failures.py) -----------------------------------------------------------


class Failure(TypedDict):
    """build/failures/<task>.json, and a failed variant's ``error`` in results.json."""

    step: str | None  # the task that failed, e.g. "import:m" (None: the variant planned no step)
    message: str  # that step's one-line error


# --- the quantize step's facts (tasks/model/quantizer.py, tasks/model/quant_errors.py) ----------------------


class Tensor(TypedDict):
    """A model input or output, as the LiteRT interpreter sees it."""

    name: str
    shape: list[int]  # dimensions, batch first
    dtype: str  # numpy's name: "float32", "int8", …


class LayerError(TypedDict):
    """A row of the quantization error table: one layer's output, quantized against float."""

    tensor: str  # the layer's output tensor
    op: str  # its operator, e.g. "CONV_2D"
    rmse: float | None  # in the tensor's float units
    rel_rmse: float | None  # RMSE over the float range
    snr_db: float | None  # dB; None: infinite (no error)
    scale: float | None  # quantization scale (None: per-channel)
    zero_point: int | None  # quantization zero point (None: per-channel)
    dtype: str  # the quantized tensor's type
    float_min: float | None  # the float tensor's range over the samples
    float_max: float | None
    share: float | None  # share of the worst output's error this layer adds (0–1; None: not upstream of it)


class BudgetLayer(TypedDict):
    tensor: str
    op: str  # the operator, "VIA + OP" when a layer passes through another
    dtype: str
    share: float  # share of the worst output's error it adds, 0–1


class ErrorBudget(TypedDict):
    """The layers that add most to the worst output's error."""

    output: str  # the worst output
    snr_db: float | None  # its SNR, dB (None: infinite)
    layers: list[BudgetLayer]  # largest share first


class QuantizeFacts(TypedDict):
    """quantize.json: the quantized model's interface and, for integer schemes, its error table."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    ops: dict[str, int]  # operator name → count
    size_bytes: int
    quant_errors: NotRequired[list[LayerError]]  # the 20 worst layers
    error_budget: NotRequired[ErrorBudget | None]


# --- the rewrite and convert steps (tasks/model/rewrites, tasks/steps/convert.py) ---------------------------


class Rewritten(TypedDict):
    """One match of a rewrite: done, or left with the reason."""

    rewrite: NotRequired[str]  # the rewrite's name, e.g. "depth_to_space"
    op: str  # the operator it replaces
    name: str  # the operator's output tensor
    block: NotRequired[int]  # depth_to_space: the block size
    done: bool
    becomes: NotRequired[str]  # what it became (done)
    reason: NotRequired[str]  # why it was left (not done)


class ConvertedTensor(TypedDict):
    """An input or output of an ONNX model on both sides of the conversion."""

    onnx: str | None  # the ONNX name
    onnx_shape: list[int] | None  # in the ONNX model's layout
    tflite: str | None  # the TFLite name
    tflite_shape: list[int] | None
    axes: list[int] | None  # the ONNX axis each TFLite axis comes from


# ``from`` is a Python keyword: the functional form
Conversion = TypedDict(
    "Conversion",
    {
        "from": Literal["onnx"],  # the source format
        "converter": Literal["onnx2tf"],
        "max_rel_diff": float,  # largest difference from onnxruntime on random inputs, as a share of the output range
        "max_rel_diff_samples": NotRequired[float | None],  # the same on the first calibration samples; None: none
        "samples": NotRequired[
            int
        ],  # how many calibration samples were compared (results.json of earlier builds: none)
        "inputs": list[ConvertedTensor],
        "outputs": list[ConvertedTensor],
    },
)


# --- the evaluate step (tasks/model/accuracy.py) -------------------------------------------------------------


class OutputError(TypedDict):
    """One output of the quantized model against the float model's."""

    max_abs: float  # in the output's units
    rmse: float  # in the output's units
    snr_db: float  # dB, capped at ±200 (JSON has no infinity)
    cosine: float  # cosine similarity, -1–1


class WorstSample(OutputError):
    sample: int  # index in the validation set


class OutputAccuracy(OutputError):
    """The mean over the samples, and the sample with the lowest SNR."""

    worst: WorstSample


class TaskResult(TypedDict):
    """One of the model's tasks: its metrics, or why it was skipped."""

    type: str  # a row of tasks.model.metrics.TASKS
    output: NotRequired[str]  # the outputs the task reads, as project.yaml names them
    boxes: NotRequired[str]
    scores: NotRequired[str]
    metrics: NotRequired[dict[str, float | None]]  # metric name → value (None: undefined on these samples)
    skipped: NotRequired[str]  # a prune variant cut its output away


class Accuracy(TypedDict):
    """accuracy.json: the quantized model against its float original on the validation set."""

    outputs: dict[str, OutputAccuracy]  # by output name
    worst_output: str  # the output with the lowest SNR
    samples: int
    dataset: str  # the validation dataset's name
    part: str | None  # "validation" of a split dataset, else None
    in_sample: bool  # the samples are calibration samples too
    tasks: list[TaskResult]
    metrics: dict[str, float | None]  # every task metric by name (gates read them here)
    top1_agreement: NotRequired[float | None]  # metrics' top1_agreement, where kept for older readers


class VariantAccuracy(Accuracy):
    """A variant's accuracy in results.json: the evaluate step's record, and what it was measured on."""

    measured_on: str  # "the quantized model …"


# --- the limits step (tasks/model/limits.py) -----------------------------------------------------------------


class LimitsOutput(TypedDict):
    snr_db: float  # dB, the model calibrated on the dataset, on the one sample
    snr_db_one_sample: float  # dB, the model calibrated on that sample alone


class Limits(TypedDict):
    """limits.json: calibrated on one validation sample and evaluated on it."""

    sample: str  # the sample's file (or "DATASET #N" of random data)
    outputs: dict[str, LimitsOutput]
    worst_output: str
    gap_db: float  # dB the one-sample model is better on the worst output
    verdict: Literal["none", "calibration", "precision"]  # no problem, a dataset problem, the scheme's precision
    advice: str  # one sentence: what the numbers say and what to do


# --- the benchmark and agreement steps (tasks/steps/benchmark.py, tasks/steps/agreement.py) ----------------


class Latency(TypedDict):
    avg: float  # ms, over the measured runs
    min: float  # ms
    max: float  # ms
    std: float | None  # ms (None: synap_cli did not say)
    median: NotRequired[float | None]  # ms, the median run (None: the tool does not print it)


class Delegated(TypedDict):
    """benchmark_model's delegate lines."""

    nodes: int | None  # nodes the delegate took
    total: int | None  # nodes of the graph
    complete: bool | None  # the delegate runs the whole graph


class Benchmark(TypedDict):
    """benchmark-<board>.json: what a board measured."""

    board: str  # the board's name in project.yaml
    latency_ms: Latency
    runs: int  # measured runs
    first_ms: float  # ms, the first inference (a delegate compiles its graph there)
    init_ms: float | None  # ms, the interpreter's set-up
    load_ms: NotRequired[float | None]  # ms, synap_cli's model load
    peak_mem_mb: float | None  # MB, peak memory (None: not reported)
    delegated: Delegated | None  # None: no delegate lines
    bytes_sent: int  # bytes uploaded to the board (0: already there)
    command: str  # the command line that ran, as a shell shows it
    cpu_fallback_at_runtime: NotRequired[bool]  # true: the delegate left part of the graph to the CPU


class OutputAgreement(TypedDict):
    """One output of the artifact on the board against the host's quantized model."""

    index: int  # position among the model's outputs
    dtype: str
    shape: list[int]  # without the batch axis
    agreement: float  # share of samples within the tolerance, 0–1
    exact: float  # share of values exactly equal, 0–1
    max_abs: float | None  # largest difference, in the output's float units (None: NaN on one side)
    max_lsb: int | None  # largest difference in quantization steps (None: a float output)
    max_ulp: int | None  # largest difference in units in the last place (float16/32 outputs)
    snr_db: float  # dB, the worst sample's
    first_mismatch: int | None  # the first sample that does not agree


class Agreement(TypedDict):
    """agreement-<board>.json."""

    board: str
    samples: int  # validation samples run
    dataset: str
    tolerance_lsb: int  # quantization steps an integer output may differ by
    tolerance_abs: float  # the same for a float output, in its units
    agreement: float  # share of samples where every output agrees, 0–1
    outputs: dict[str, OutputAgreement]  # by output name
    bytes_sent: int
    command: str


# --- the search step (tasks/model/mixed_search.py, tasks/steps/search.py) ------------------------------------


class Candidate(TypedDict):
    """A mixed-precision candidate the search measured."""

    stage: str  # the path that tried it: "8-bit", "16-bit", a route's name
    step: int | None  # its step on that route
    weights: str  # weight rounding, e.g. "min_max"
    ms: float  # ms, Vela's estimate on the budget's target
    value: float | None  # the goal's metric (None: undefined)
    widened: int  # layers in int16x8
    type_changes: int  # int8 ↔ int16 boundaries
    met: bool  # meets the goal
    within: bool  # within the budget
    cached: bool  # read from the candidate cache


class ChosenScheme(TypedDict):
    type: str  # "int8"
    weights: str
    overrides: NotRequired[list[dict[str, str]]]  # each {match, type}: the layers in int16x8


class Chosen(TypedDict):
    ms: float
    value: float | None
    widened: int
    type_changes: int
    weights: str
    layers: list[str]  # the output tensors of the layers in int16x8
    scheme: ChosenScheme  # the choice as a fixed scheme
    summary: str  # one line, e.g. "3 layers in int16x8"


class SearchCost(TypedDict):
    quantizations: int
    compiles: int
    evaluations: int
    cached: int  # candidates read from the cache
    seconds: float  # s


class Search(TypedDict):
    """search.json: what an automatic scheme's search chose, and every candidate it measured."""

    goal: str  # the goal as text, e.g. "top1_agreement >= 0.98"
    metric: str  # the goal's metric
    bound: float  # the goal's bound
    max_ms: float  # ms, the budget
    met: bool  # a candidate meets the goal within the budget
    why: str  # why this one
    chosen: Chosen
    candidates: list[Candidate]
    pareto: list[int]  # indices into candidates: the front of latency against the goal's metric
    cost: SearchCost  # what the search step spent
    target: str  # the budget's Vela target
    sensitivity_cost: SearchCost  # what the sensitivity step spent
    snippet: str  # the choice as project.yaml text


# --- build/results.json (tasks/steps/results.py) -------------------------------------------------------------


class VariantRow(TypedDict):
    """One variant of results.json: its names and every fact about it (None where a step does not apply)."""

    id: str  # MODEL[.PRUNE]/QUANT@TARGET
    model: str
    prune: str | None
    quantization: str
    target: str
    artifact: str | None  # the file that ships, relative to the project (None: failed)
    size_bytes: int | None  # bytes of the artifact
    inputs: list[Tensor] | None  # the quantized model's (None: SyNAP quantizes itself)
    outputs: list[Tensor] | None
    ops: dict[str, Any] | None  # Vela's: {npu, cpu} operator counts
    cpu_fallback: list[dict[str, Any]] | None  # Vela's: {op, name, reason} per operator left on the CPU
    estimate: dict[str, Any] | None  # Vela's performance estimate
    layers: list[dict[str, Any]] | None  # Vela's per-layer table
    model_info: dict[str, Any] | None  # SyNAP's model_info.txt: {inputs, outputs}
    findings: list[dict[str, Any]] | None  # the analyse step's: {kind, layer, op, cycles_pct, detail, action}
    rewrites: list[Rewritten] | None
    conversion: Conversion | None  # an ONNX source's
    quant_errors: list[LayerError] | None
    error_budget: ErrorBudget | None
    accuracy: VariantAccuracy | None
    limits: Limits | None
    benchmark: Benchmark | None  # the first board's
    benchmarks: list[Benchmark]  # every board's
    board_agreement: Agreement | None  # the first board's
    board_agreements: list[Agreement]
    search: Search | None  # an automatic scheme's
    error: NotRequired[Failure]  # a variant that failed (its facts are None)


class Results(TypedDict):
    """build/results.json."""

    project: str  # project.yaml's name
    variants: list[VariantRow]  # in planning order


# --- the report (tasks/steps/report.py → tasks/report/html.py) -----------------------------------------------


class OverviewRow(TypedDict):
    """A built variant's row of the report's overview: the numbers its columns show (None: not known)."""

    id: str
    model: str
    prune: str  # "" for the whole model
    quantization: str
    target: str
    size: int  # bytes of the artifact
    ops: str  # "NPU/CPU" operator counts, "" when not compiled by Vela
    est_ms: float | None  # ms, Vela's estimate
    fps: float | None  # Vela's estimate
    sram_kib: float | None  # KiB
    dram_kib: float | None  # KiB
    macs: int | None
    snr_db: float | None  # dB, the worst output's
    in_sample: bool  # the validation samples are calibration samples too
    task: tuple[str, float] | None  # the task metric shown: a gated one, else the headline (or its worse pair)
    task_beside: tuple[str, float] | None  # the worse of a recall/precision pair, shown beside a gated one
    measured_ms: float | None  # ms, the first board's average
    measured_range: tuple[float, float] | None  # ms, its fastest and slowest run
    first_ms: float | None  # ms, its first inference (includes a delegate's graph compilation)
    runtime_cpu: bool  # the delegate left part of the graph to the CPU
    npu_ratio: float | None  # NPU operators over all, 0–1
    gates: tuple[str, str]  # the gates cell: ("✓ 3" | "✗ 1 of 3" | "–", its CSS class)
    gate_cells: dict[str, str]  # overview column → why its number fails a gate


# --- gates.json (tasks/steps/gates.py) and the release manifest (tasks/steps/release.py) ---------------------


class GatesRecord(TypedDict):
    checks: list[dict[str, Any]]  # tasks/config/quality_gates.check's: {gate, variant, metric, output, value, …}
    warnings: list[str]  # variants a rule could not check, and why


class ManifestEntry(TypedDict):
    """A released artifact in MANIFEST.json."""

    variant: str  # the variant's id
    path: str  # in the archive
    sha256: str  # hex
    size: int  # bytes
    params: dict[str, Any]  # the fingerprints of its quantize and compile steps
    inputs: dict[str, str]  # source file (relative to the project) → sha256
    accuracy: dict[str, Any] | None  # against the float model: samples, dataset, worst_output, outputs, metrics
    gates: list[
        dict[str, Any]
    ]  # its checks: {gate, metric, output, value (None if measured on a board), bound, passed}


class Manifest(TypedDict):
    name: str  # release.name
    version: str  # release.version
    project_yaml_sha256: str
    tools: dict[str, str]  # distribution → version
    gates_overridden: str | None  # release.override_gates, when the archive ships failing gate checks
    artifacts: list[ManifestEntry]
