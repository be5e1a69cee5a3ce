"""agreement: the validation samples through the deployed artifact on a board, against the host's quantized model.

The idea of TensorFlow Lite's inference_diff tool.  For a board that opts in
(``boards.NAME.agreement``), the first N validation samples run through the
artifact with the board's runtime and the target's delegate, exactly as the
benchmark step runs it: the same board settings, the same interpreter and
delegate arguments, over the same transport (SSH, adb, or this machine).
tasks/boards/runners/litert_outputs.py is copied to the board by content, like the
benchmark runner, and saves every output raw; the host compares them with
the quantized .tflite on TFLite's builtin kernels (tasks/model/agreement.py).
Never records a result that was not measured: every fault ends the step
with a message naming the board.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.util
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.boards import transport as boards
from tasks.boards.settings import BoardSettings, Connection, Reach
from tasks.digests import sha256_file
from tasks.model.datasets import Samples
from tasks.planning.options import added, input_file, output_file, unfingerprinted
from tasks.planning.step import scheme_of
from tasks.progress import progress
from tasks.steps import benchmark
from tasks.steps.evaluate import TaskOptions

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step
    from tasks.results.records import Agreement

RUNNER_MODULE = "tasks.boards.runners.litert_outputs"  # copied to the board by content
RUNNER = Path(importlib.util.find_spec(RUNNER_MODULE).origin)
TIMING_ONLY = (
    "--warmup_runs=",
    "--num_runs=",
    "--max_secs=",
)  # benchmark arguments that do not change what the interpreter computes


@dataclass(frozen=True, kw_only=True)
class Options:
    board: BoardSettings  # the benchmark step's settings of this board and target: runtime, threads, delegate, …
    label: str
    samples: int  # the first N validation samples
    tolerance_lsb: int  # quantization steps an integer output may differ by and still agree
    tolerance_abs: float  # the same for a float output, in its own units
    artifact: Path = input_file()
    host_model: Path = input_file()  # the quantized .tflite the artifact was made from
    dataset: Samples
    out: Path = output_file()
    connection: Connection = unfingerprinted()  # name, key, known_hosts, host_key, timeouts
    tasks: tuple[TaskOptions, ...] = added(())  # with labels on the dataset: the model's tasks, scored on the board
    host: Path | None = added(None, role="in")  # the evaluate step's outputs of host_model on the first samples


def plan_agreement(planning: Planning) -> list[Step]:
    """One step per board that opts in and variant it serves, when the model has a validation set and the
    artifact runs in LiteRT (a SyNAP model runs only in synap_cli)."""
    steps = []
    for v, board in planning.agreements():
        model = planning.project.models[v.model]
        target = planning.project.targets[v.target]
        evaluate = planning.step_of("evaluate", scheme_of(v.unit, v.quantization))
        dataset = planning.samples(model.validation, model, "validation", labelled=True)
        options = Options(
            board=benchmark._settings(board, target),
            label=v.id,
            samples=board.agreement_samples,
            tolerance_lsb=board.agreement_tolerance_lsb,
            tolerance_abs=board.agreement_tolerance_abs,
            artifact=planning.artifact(v),
            host_model=planning.paths.quantized(v.unit, v.quantization),
            dataset=dataset,
            out=planning.paths.agreement(v, board.name),
            connection=benchmark.connection(board),
            tasks=tuple(TaskOptions.of(t) for t in model.tasks) if dataset.labels else (),
            host=evaluate.options.kept if evaluate and evaluate.options.dataset == dataset else None,
        )
        doc = (
            f"run {board.agreement_samples} validation samples through the artifact on a board and compare them "
            f"with the host's quantized model ({board.name}: {board.where})"
        )
        steps.append(planning.new("agreement", f"{board.name}:{v.id}", doc, options))
    return steps


def run(o: Options) -> None:
    from tasks.model import agreement

    board = {**o.board, **o.connection}
    where = f"board {board['name']}"
    stacks = agreement.inputs(o.artifact, o.dataset, o.samples, where)
    details, host = agreement.host_outputs(o.host_model, stacks, f"{where}: {o.label}", o.host)
    with tempfile.TemporaryDirectory(prefix="npuforge-agreement-") as tmp:
        inputs = Path(tmp) / "inputs.npz"
        inputs.write_bytes(agreement.npz_bytes({f"input_{i}": s for i, s in enumerate(stacks)}))
        data, sent, shown = _on_board(o.artifact, inputs, Path(tmp), board, len(stacks[0]))
    got = agreement.read_outputs(data, where)
    compared = agreement.compare(details, host, got, o.tolerance_lsb, o.tolerance_abs, f"{where}: {o.label}")
    result: Agreement = {
        "board": board["name"],
        "samples": len(stacks[0]),
        "dataset": o.dataset.name,
        "tolerance_lsb": o.tolerance_lsb,
        "tolerance_abs": o.tolerance_abs,
        **compared,
        "bytes_sent": sent,
        "command": shown,
    }
    if o.tasks:
        specs = tuple(t.spec() for t in o.tasks)
        labelled = agreement.against_labels(o.host_model, details, host, got, o.dataset, specs, f"{where}: {o.label}")
        if labelled:
            result["labels"] = labelled
    atomic.write_json(o.out, result)
    progress(_summary(result))


def _summary(result: Agreement) -> str:
    """The progress line: the headline and each output's largest difference."""

    def off(m: dict[str, Any]) -> str:
        if m["max_lsb"] is not None:
            return f"{m['max_lsb']} LSB"
        if m["max_abs"] is None:
            return "NaN"
        return f"{m['max_abs']:.3g}" + (f" ({m['max_ulp']} ulp)" if m["max_ulp"] else "")

    each = ", ".join(f"{name} {off(m)}" for name, m in result["outputs"].items())
    return (
        f"{result['agreement']:.1%} of {result['samples']} samples agree with the host "
        f"(tolerance {result['tolerance_lsb']} LSB); largest difference: {each}"
    )


def _runtime_args(board: BoardSettings, graph: str) -> list[str]:
    """The benchmark step's interpreter arguments (threads, delegate and its options, XNNPACK), timing ones left out."""
    return [a for a in benchmark._args(board, graph) if not a.startswith(TIMING_ONLY)]


def _on_board(model: Path, inputs: Path, tmp: Path, board: Reach, count: int) -> tuple[bytes, int, str]:
    """The runner's outputs (.npz bytes), the bytes sent and the command as shown."""
    env_words = benchmark._env_prefix(board.get("env") or {})
    if board["host"] == "local":
        progress(f"running {count} samples on this machine")
        out = tmp / "outputs.npz"
        argv = [
            sys.executable,
            str(RUNNER),
            *_runtime_args(board, str(model)),
            f"--inputs={inputs}",
            f"--outputs={out}",
        ]
        outcome = boards.Local(board).run(argv, board["timeout"], env=board.get("env"))
        _check(outcome, board, argv)
        return out.read_bytes(), 0, " ".join(shlex.quote(a) for a in env_words + argv[1:])
    remote = boards.connect(board)
    try:
        workdir = board["workdir"].rstrip("/")
        graph = f"{workdir}/{sha256_file(model)}.tflite"  # the benchmark's name: one upload serves both
        script = f"{workdir}/litert_outputs-{sha256_file(RUNNER)[:12]}.py"
        given = f"{workdir}/{sha256_file(inputs)}.npz"
        args = [*_runtime_args(board, graph), f"--inputs={given}"]
        out = f"{workdir}/outputs-{hashlib.sha256(' '.join([script, *args]).encode()).hexdigest()[:16]}.npz"
        sent = remote.put(model, graph) + remote.put(RUNNER, script) + remote.put(inputs, given)
        argv = [board["python"], script, *args, f"--outputs={out}"]
        progress(
            f"{'uploaded ' + format(sent, ',') + ' bytes' if sent else 'artifact and inputs already on the board'}; "
            f"running {count} samples"
        )
        shown = " ".join(shlex.quote(a) for a in env_words + argv)
        outcome = boards.run_exclusive(remote, board, shown)
        _check(outcome, board, argv)
        return _download(remote, out, board), sent, shown
    finally:
        remote.close()


def _check(outcome: boards.Outcome, board: Reach, argv: list[str]) -> None:
    benchmark.check_exit(
        outcome,
        board,
        argv[0],
        "python",
        what="the outputs runner",
        slow="the runner did not finish within {timeout} s; check the board (is it busy, is the model too slow?), "
        "raise timeout or lower agreement.samples",
        install="Python with ai-edge-litert",
    )


def _download(remote: boards.Ssh | boards.Adb, path: str, board: Reach) -> bytes:
    """The file at ``path`` on the board, through the shell (sha256sum and base64), then removed there."""
    q = shlex.quote(path)
    outcome = remote.run(f"sha256sum {q} && base64 {q} && rm -f {q}", board["timeout"])
    lines = [line.strip() for line in outcome.stdout.splitlines() if line.strip()]
    if outcome.exit_code != 0 or not lines:
        said = (outcome.stderr.strip() or outcome.stdout.strip() or "no output").splitlines()[-1]
        raise boards.BoardError(
            f"board {board['name']}: cannot read the outputs back ({said}); check that the board has "
            "sha256sum and base64, and free space in workdir"
        )
    try:
        data = base64.b64decode("".join(lines[1:]), validate=True)
    except binascii.Error:
        data = b""
    if hashlib.sha256(data).hexdigest() != lines[0].split()[0]:
        raise boards.BoardError(f"board {board['name']}: the outputs changed on their way back; check the connection")
    return data
