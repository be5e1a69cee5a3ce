"""The step table: every kind of step NPUForge plans and runs, in planning order.

This is the one place a step kind is declared.  Planning calls each row's
``plan`` in this order; the doit wiring, the worker, the step cache, the
version fingerprint, `doit list` and the generated reference all read it.
Adding a step kind is one module in this package (its ``Options``, its
``plan_<kind>`` and its function) and one row here; a toolchain's own steps
(compile, analyse, metafile, …) are rows of its folder under tasks/toolchains/.

Every module of this package imports only light modules at its top: planning
imports them all, and planning never imports TensorFlow, Vela or fabric.
"""

from __future__ import annotations

from tasks.planning.step import StepKind, register
from tasks.steps import (
    agreement,
    benchmark,
    calibrate,
    convert,
    evaluate,
    fetch,
    gates,
    graph,
    import_model,
    limits,
    prune,
    quantize,
    release,
    report,
    results,
    rewrite,
    search,
)
from tasks.toolchains import registry as toolchains

_TF = ("tensorflow", "keras", "ai-edge-litert", "numpy")
_SEARCH = ("ai-edge-quantizer", "ethos-u-vela", "ai-edge-litert", "numpy", "pillow")
# cost=: a step's mean seconds in the example's build on 2 cores (warm workers), to balance `doit shard=K/N`

STEPS: tuple[StepKind, ...] = (
    StepKind("fetch", "download a pinned wheel, extract the model, verify its sha256",
             fetch.run, fetch.Options, fetch.plan_fetch, tools=("pip",), isolated=False, cached=True, cost=0.6),
    StepKind("convert", "convert an ONNX model to a float .tflite with onnx2tf, checked against onnxruntime",
             convert.run, convert.Options, convert.plan_convert, cached=True, cost=15),
    StepKind("import", "convert the source to a canonical float32 .tflite (batch 1, one signature)",
             import_model.run, import_model.Options, import_model.plan_import, tools=_TF, cached=True, cost=2),
    StepKind("prune", "keep only the operators that compute the named outputs",
             prune.run, prune.Options, prune.plan_prune, tools=("ai-edge-litert",), cached=True, cost=0.3),
    StepKind("rewrite", "rewrite ops Vela leaves on the CPU as equivalent ones it maps to the NPU, proven on random inputs",
             rewrite.run, rewrite.Options, rewrite.plan_rewrite, tools=("ai-edge-litert", "numpy"), cached=True, cost=0.2),
    StepKind("calibrate", "record the float model's activation ranges on its calibration set, for the schemes that reuse them",
             calibrate.run, calibrate.Options, calibrate.plan_calibrate,
             tools=("tensorflow", "ai-edge-litert", "numpy", "pillow"), cached=True, cost=9),
    StepKind("sensitivity", "measure each block of layers widened alone to int16x8 (and narrowed alone): accuracy and Vela's latency",
             search.sensitivity, search.SensitivityOptions, search.plan_sensitivity,
             tools=_SEARCH, cached=True, cost=250),
    StepKind("search", "choose the layers an automatic scheme keeps in int16x8: the cheapest that meets its goal within its budget",
             search.search, search.SearchOptions, search.plan_search, tools=_SEARCH, cached=True, cost=65),
    StepKind("quantize", "quantize the float model",
             quantize.run, quantize.Options, quantize.plan_quantize,
             tools=("tensorflow", "ai-edge-litert", "numpy", "pillow"), cached=True, cost=2.2),
    StepKind("evaluate", "compare the quantized model with the float model on the validation set",
             evaluate.run, evaluate.Options, evaluate.plan_evaluate,
             tools=("ai-edge-litert", "numpy", "pillow"), cached=True, cost=0.6),
    StepKind("limits", "calibrate on one validation sample and evaluate on it: a dataset problem, or the scheme's precision",
             limits.run, limits.Options, limits.plan_limits,
             tools=("tensorflow", "ai-edge-litert", "ai-edge-quantizer", "numpy", "pillow"), cached=True, cost=1.5),
    *toolchains.step_kinds(),  # each toolchain's own (compile, analyse, metafile, …): its folder's rows
    StepKind("benchmark", "run the artifact on a board and measure it",
             benchmark.run, benchmark.Options, benchmark.plan_benchmark,
             tools=("ai-edge-litert", "fabric", "paramiko"), cached=True, cost=1.5),  # a measurement, kept like a test result
    StepKind("agreement", "run validation samples through the artifact on a board and compare with the host's quantized model",
             agreement.run, agreement.Options, agreement.plan_agreement,
             tools=("ai-edge-litert", "numpy", "fabric", "paramiko"), cached=True, cost=2),  # a deterministic measurement
    StepKind("results", "collect every variant's facts into results.json",
             results.run, results.Options, results.plan_results, isolated=False, single=True),
    StepKind("graph", "list the quantized model's operators and tensors for the report's graph view",
             graph.run, graph.Options, graph.plan_graph, tools=("ai-edge-litert",), cached=True, cost=0.1),
    StepKind("report", "write build/report/: an overview, a page per variant with its graph, and report.md",
             report.run, report.Options, report.plan_report, isolated=False, single=True, cached=True),
    StepKind("gates", "check the quality gates of project.yaml against results.json",
             gates.run, gates.Options, gates.plan_gates, isolated=False, single=True),
    StepKind("release", "pack the release variants, their reports and MANIFEST.json into a reproducible tar.gz",
             release.run, release.Options, release.plan_release, isolated=False, single=True),
    StepKind("verify-release", "rebuild and compare with an archive: doit verify-release PATH.tar.gz",
             release.verify, release.VerifyOptions, release.plan_verify, isolated=False, single=True,
             always=True, pos_arg="archives"),
)  # fmt: skip

BY_NAME: dict[str, StepKind] = register(STEPS)
