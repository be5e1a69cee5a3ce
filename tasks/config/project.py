"""The project as frozen dataclasses: one per section of project.yaml.

Built once, at load (tasks/config/sections.py); nothing deeper reads YAML.
Paths are absolute, resolved against the folder of project.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.model import schemes
from tasks.model.datasets import Preprocess
from tasks.model.labels import Labels
from tasks.planning import step
from tasks.toolchains.delegate.settings import DEFAULT_DELEGATES

if TYPE_CHECKING:
    from tasks.boards.settings import BoardBase
    from tasks.toolchains.base import Settings, Toolchain

WEIGHT_ALGORITHMS = ("min_max", "octav", "mse")  # int8 weight rounding (ai-edge-quantizer's algorithms)


@dataclass(frozen=True, kw_only=True)
class Dataset:
    name: str
    kind: str  # images | npy | random
    files: tuple[Path, ...] = ()
    preprocess: Preprocess = Preprocess()
    patterns: tuple[str, ...] = ()  # the globs as written in project.yaml
    seed: int = 0
    count: int = 16
    low: float = 0.0
    high: float = 1.0
    limit: int | None = None
    split: Split | None = None  # calibration and validation parts held apart
    labels: Labels | None = None  # the files' ground truth (folders: classes filled from all the files)


@dataclass(frozen=True, kw_only=True)
class Split:
    """``datasets.NAME.split``: the share of samples each part gets."""

    calibration: float
    validation: float
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class Task:
    """One entry of ``models.NAME.task``: a decoder of tasks/model/metrics and its settings as written."""

    type: str  # a row of tasks.model.metrics.TASKS
    settings: dict[str, Any] = field(default_factory=dict)  # the keys as written, but type and metric
    metric_file: Path | None = None  # custom: the .py file of metric: FILE.py:FUNCTION
    function: str | None = None  # custom: its FUNCTION


@dataclass(frozen=True, kw_only=True)
class Source:
    kind: str  # file | builder | pip
    path: Path | None = None  # file source, or the builder's .py file
    function: str | None = None
    args_json: str = "{}"  # builder args, canonical JSON (hashable, fingerprintable)
    files: tuple[Path, ...] = ()  # the other files or folders a builder reads (its weights): inputs of the import
    pip: str | None = None
    member: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class Prune:
    """Keep only what computes ``outputs`` (in this order); optionally start at ``inputs``."""

    name: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] | None = None
    synap: dict[str, Any] | None = None  # SyNAP settings of the kept outputs


@dataclass(frozen=True, kw_only=True)
class Model:
    name: str
    source: Source
    input_shape: tuple[int, ...] | None = None
    calibration: str | None = None
    validation: str | None = None
    prune: dict[str, Prune] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()  # what evaluate measures beside SNR (tasks/model/metrics)
    synap: dict[str, Any] | None = None  # SyNAP conversion settings: inputs, outputs
    rewrites: tuple[str, ...] | None = None  # None: the default (every rewrite when a Vela target uses it)
    onnx2tf_params: Path | None = None  # an ONNX model's onnx2tf parameter replacement file
    prequantized: str | None = None  # it arrives quantized: its activations' type (int8, uint8, int16), read at load
    reference: str | None = None  # a pre-quantized model's float model (a name of models:) to compare it with
    fetched: Path | None = None  # a pinned wheel's member, once fetched (read at load to see whether it is quantized)

    @property
    def onnx(self) -> bool:
        """An ONNX model: a .onnx file, or a .onnx member of a pinned wheel."""
        if self.source.kind == "pip":
            return str(self.source.member).endswith(".onnx")
        return self.source.path is not None and self.source.path.suffix == ".onnx"


@dataclass(frozen=True, kw_only=True)
class Override:
    """Layers matched by ``match`` (regex on output tensor names) or downstream of ``start`` get ``type``."""

    type: str
    match: str | None = None
    start: str | None = None  # project.yaml: from

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, **({"match": self.match} if self.match else {"from": self.start})}


@dataclass(frozen=True, kw_only=True)
class Goal:
    """What an automatic scheme must reach: a metric as a gate names it (snr_db of ``output``, a task metric)."""

    metric: str
    output: str | None = None
    min: float | None = None
    max: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("metric", "output", "min", "max") if getattr(self, k) is not None}

    @property
    def higher_is_better(self) -> bool:
        return self.min is not None

    def value(self, record: dict[str, Any]) -> float | None:
        """The metric in a measured candidate (its ``accuracy``: outputs and metrics), read as a gate reads it."""
        from tasks.config import quality_gates as gates

        got, _ = gates.value({"accuracy": record["accuracy"]}, self.metric, self.output)
        return got

    def met(self, record: dict[str, Any]) -> bool:
        got = self.value(record)
        if got is None:
            return False
        return got >= self.min if self.min is not None else got <= self.max

    def gain(self, record: dict[str, Any], base: dict[str, Any]) -> float:
        """How much better ``record`` is than ``base`` (negative: worse)."""
        a, b = self.value(record), self.value(base)
        if a is None or b is None:
            return 0.0
        return a - b if self.higher_is_better else b - a

    def text(self) -> str:
        what = self.metric + (f" of {self.output}" if self.output else "")
        return f"{what} {'>=' if self.min is not None else '<='} {self.min if self.min is not None else self.max}"


@dataclass(frozen=True, kw_only=True)
class Budget:
    """What an automatic scheme may cost: Vela's estimated latency for ``target``."""

    target: str
    max_ms: float


@dataclass(frozen=True, kw_only=True)
class Quantization:
    name: str
    type: str
    io: str = "float32"
    per_channel: bool = True
    overrides: tuple[Override, ...] = ()
    scheme: str | None = None  # SyNAP only
    algorithm: str | None = None  # SyNAP only
    weights: str = "min_max"  # int8 weight rounding: min_max (TensorFlow Lite's), octav or mse (ai-edge-quantizer)
    goal: Goal | None = None  # type auto
    budget: Budget | None = None  # type auto

    @property
    def calibrated(self) -> bool:
        """Needs calibration data."""
        return schemes.BY_NAME[self.type].calibrated

    @property
    def uses_ranges(self) -> bool:
        """Quantized by an ai-edge-quantizer recipe from the calibrate step's ranges, not by TensorFlow Lite's."""
        return self.type == schemes.AUTO or bool(self.overrides) or self.weights != "min_max"


@dataclass(frozen=True, kw_only=True)
class Memory:
    """targets.NAME.memory: what the part has, KiB (None: not declared)."""

    sram_kib: float | None = None
    flash_kib: float | None = None


@dataclass(frozen=True, kw_only=True)
class Target:
    """A target: its toolchain (tasks/toolchains/), and the settings that toolchain reads from targets.NAME."""

    name: str
    toolchain: Toolchain  # from the compiler (and, for none, the delegate)
    settings: Settings  # of the toolchain's own type (VelaSettings, SynapSettings, …)
    memory: Memory = Memory()  # the part's SRAM and flash, against which pipelines are checked

    @property
    def compiler(self) -> str:
        return self.toolchain.compiler


@dataclass(frozen=True, kw_only=True)
class Board:
    """A machine that benchmarks variants: over SSH, or this machine when host is 'local'."""

    name: str
    host: str | None  # None for an adb board
    targets: tuple[str, ...]
    user: str | None = None
    port: int = 22
    key: Path | None = None
    known_hosts: Path | None = None
    host_key: str | None = None
    workdir: str = "/tmp/npuforge"
    timeout: float = 300.0
    connect_timeout: float = 15.0
    runner: str = "litert"  # litert | benchmark_model
    command: str | None = None
    python: str = "python3"
    delegate: str | None = None
    threads: int = 1
    warmup: int = 5
    runs: int = 50
    max_seconds: float | None = None  # stop the measured runs after this long
    transport: str = "ssh"  # ssh | adb
    serial: str | None = None  # adb serial
    delegates: dict[str, str] = field(default_factory=dict)  # named delegate -> library on this board
    env: dict[str, str] = field(default_factory=dict)  # environment of the benchmark command
    synap_cli: str = "synap_cli"
    agreement_samples: int | None = None  # boards.NAME.agreement: run the first N validation samples here; None: off
    agreement_tolerance_lsb: int = 0  # quantization steps an integer output may differ by from the host's
    agreement_tolerance_abs: float = 0.0  # the same for a float output, in its own units

    @property
    def local(self) -> bool:
        return self.host == "local"

    @property
    def where(self) -> str:
        if self.transport == "adb":
            return f"adb serial {self.serial}"
        return "this machine" if self.local else str(self.host)

    def settings(self) -> BoardBase:
        """What a benchmark on this board depends on (fingerprinted)."""
        return {
            "host": self.host,
            "user": self.user,
            "port": self.port,
            "workdir": self.workdir,
            "runner": self.runner,
            "command": self.command,
            "python": self.python,
            "delegate": self.delegate,
            "threads": self.threads,
            "warmup": self.warmup,
            "runs": self.runs,
            "transport": self.transport,
            "serial": self.serial,
            "env": dict(sorted(self.env.items())),
            "synap_cli": self.synap_cli,
            **({"max_seconds": self.max_seconds} if self.max_seconds is not None else {}),  # unset: as before
        }

    def delegate_library(self, delegate: str | None) -> str | None:
        """The library this board loads for a target's ``delegate`` (None: built in, or no delegate)."""
        if delegate is None:
            return self.delegate
        if delegate in self.delegates:
            return self.delegates[delegate]
        return DEFAULT_DELEGATES.get(delegate, delegate)


@dataclass(frozen=True, kw_only=True)
class Gate:
    """A quality gate: a metric of the matching variants must stay within min / max."""

    metric: str
    pipelines: str | None = None  # glob on pipeline names: the rule checks pipelines, not variants
    models: str | None = None  # glob on model (or MODEL.PRUNE) names
    quantization: str | None = None
    targets: str | None = None
    output: str | None = None
    min: float | None = None
    max: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rule as project.yaml writes it (tasks/config/quality_gates.py reads this form)."""
        keys = ("pipelines", "models", "quantization", "targets", "metric", "output", "min", "max")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of a pipeline: a unit, and how its input is cut from the frame (None: the whole frame)."""

    unit: str  # MODEL or MODEL.PRUNE
    crop: str | None = None  # a layout of tasks/model/crops.py
    crop_scale: float | None = None  # None: the layout's
    square: bool = True

    @property
    def model(self) -> str:
        return self.unit.split(".", 1)[0]


@dataclass(frozen=True, kw_only=True)
class PipelineSearch:
    """pipelines.NAME.search: the stages' schemes chosen together, to reach ``goal`` end to end within the budget."""

    goal: Goal
    target: str
    measure: int = 6  # combinations measured end to end at most


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    """pipelines.NAME: stages that run one after another on each frame, per scheme combination and target."""

    name: str
    stages: tuple[Stage, ...]
    combinations: dict[str, tuple[str, ...]]  # name -> one scheme per stage
    targets: tuple[str, ...]
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a combination built on some targets alone
    budget_ms: float | None = None  # fps: 1000 / fps
    fps: float | None = None
    dataset: str | None = None  # None: the first stage's validation dataset
    search: PipelineSearch | None = None

    def targets_of(self, combination: str) -> tuple[str, ...]:
        """The targets a scheme combination is built on: its own ``targets``, else the pipeline's."""
        return self.only.get(combination, self.targets)


@dataclass(frozen=True, kw_only=True)
class Release:
    name: str
    version: str
    variants: tuple[str, ...]  # globs on variant ids
    override_gates: str | None = None  # why the release ships variants that fail their gates (else it refuses)


@dataclass(frozen=True, kw_only=True)
class Variant:
    model: str
    quantization: str
    target: str
    prune: str | None = None

    @property
    def unit(self) -> str:
        """The float model it starts from: ``MODEL`` or ``MODEL.PRUNE``."""
        return step.unit_of(self.model, self.prune)

    @property
    def scheme(self) -> str:
        """The name of its unit's steps of its scheme: ``UNIT/SCHEME``."""
        return step.scheme_of(self.unit, self.quantization)

    @property
    def id(self) -> str:
        return step.variant_of(self.unit, self.quantization, self.target)

    @property
    def yaml_path(self) -> str:
        """Its model's YAML path: ``models.MODEL``, or ``models.MODEL.prune.PRUNE`` for a pruned output."""
        return f"models.{self.model}" + (f".prune.{self.prune}" if self.prune else "")


@dataclass(frozen=True, kw_only=True)
class StepCache:
    """Where step results are shared (``cache:`` or NPUFORGE_CACHE): a folder, or object storage by URL."""

    dir: Path | None = None  # a folder, local or NFS
    url: str | None = None  # s3://bucket/prefix (gs://, az:// with their fsspec package)
    read_only: bool = False  # restore, never store (pull requests)
    max_bytes: int | None = None  # a folder: least recently used entries go past this


@dataclass(frozen=True, kw_only=True)
class Project:
    path: Path  # project.yaml
    root: Path  # its folder; every relative path resolves against it
    name: str
    build_dir: Path
    datasets: dict[str, Dataset] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    quantization: dict[str, Quantization] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    gates: tuple[Gate, ...] = ()
    boards: dict[str, Board] = field(default_factory=dict)
    release: Release | None = None
    cache: StepCache | None = None  # shared step cache
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
