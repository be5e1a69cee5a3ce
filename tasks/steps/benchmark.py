"""benchmark: run a variant's artifact on a board and record the measured timings.

``runner: litert`` runs tasks/boards/runners/litert_benchmark.py (copied to the board
by content); ``runner: benchmark_model`` runs the board's TFLite
benchmark_model.  Both print benchmark_model's format, read by
tasks/boards/benchmark_output.py; a delegate target adds
``--external_delegate_path`` (and its options).  A toolchain with a board
command of its own runs with that: SyNAP's ``synap_cli -m MODEL -r N random``
(its row's ``runtime``, tasks/toolchains/synap/runtime.py).  Boards
are reached over SSH or adb.  Never records a result that was not measured:
every fault ends the step with a message naming the board.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.boards import benchmark_output as benchmark_model
from tasks.boards import transport as boards
from tasks.boards.settings import BoardSettings, Connection, Reach
from tasks.digests import sha256_file
from tasks.planning.options import input_file, output_file, unfingerprinted
from tasks.progress import progress
from tasks.toolchains.registry import TOOLCHAINS

if TYPE_CHECKING:
    from tasks.config import Board, Target
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step
    from tasks.results.records import Benchmark

RUNNER_MODULE = "tasks.boards.runners.litert_benchmark"  # copied to the board by content
RUNNER = Path(importlib.util.find_spec(RUNNER_MODULE).origin)
# a toolchain's own board command, by its row's runtime (else the LiteRT runner, or the board's benchmark_model)
BOARD_RUNTIMES = {t.ships.runtime: t.ships.runner for t in TOOLCHAINS if t.ships.runner}


@dataclass(frozen=True, kw_only=True)
class Options:
    board: BoardSettings  # what the measurement depends on: host, runner, threads, runs, delegate, …
    label: str
    artifact: Path = input_file()
    out: Path = output_file()
    connection: Connection = unfingerprinted()  # name, key, known_hosts, host_key, timeouts


def plan_benchmark(planning: Planning) -> list[Step]:
    steps = []
    for v, board in planning.board_assignments():
        target = planning.project.targets[v.target]
        options = Options(
            board=_settings(board, target),
            label=v.id,
            artifact=planning.artifact(v),
            out=planning.paths.benchmark(v, board.name),
            connection=connection(board),
        )
        runner = options.board["kind"] if options.board["kind"] in BOARD_RUNTIMES else board.runner
        doc = f"run the artifact on a board and measure it ({board.name}: {board.where}, {runner})"
        steps.append(planning.new("benchmark", f"{board.name}:{v.id}", doc, options))
    return steps


THIS_MACHINE = ("local", "localhost", "127.0.0.1", "::1")


def on_this_machine(o: Options) -> bool:
    """A board that is this machine (or an SSH server on it): the measurement needs its cores to itself."""
    return o.board.get("transport") != "adb" and (o.board.get("host") or "") in THIS_MACHINE


def connection(board: Board) -> Connection:
    """How a step reaches ``board`` (not fingerprinted: a moved key file does not change a measurement)."""
    return {
        "name": board.name,
        "key": str(board.key) if board.key else None,
        "known_hosts": str(board.known_hosts) if board.known_hosts else None,
        "host_key": board.host_key,
        "timeout": board.timeout,
        "connect_timeout": board.connect_timeout,
    }


def _settings(board: Board, target: Target) -> BoardSettings:
    delegate, options = target.settings.board_delegate()
    return {
        **board.settings(),
        **({"machine": boards.this_machine()} if board.local else {}),
        "kind": target.toolchain.ships.runtime,  # litert, or a toolchain's own command (BOARD_RUNTIMES)
        "delegate": board.delegate_library(delegate),
        "delegate_options": delegate_options(options),
        "xnnpack": delegate == "xnnpack",
    }


def delegate_options(options: dict[str, Any] | None) -> str | None:
    """``--external_delegate_options`` text: ``key:value;key:value``, a list's items joined by commas."""
    if not options:
        return None

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(text(x) for x in value)
        return str(value)

    return ";".join(f"{key}:{text(value)}" for key, value in options.items())


def _args(board: BoardSettings, graph: str) -> list[str]:
    return [
        f"--graph={graph}",
        f"--warmup_runs={board['warmup']}",
        f"--num_runs={board['runs']}",
        *([f"--max_secs={board['max_seconds']:g}"] if board.get("max_seconds") else []),
        *runtime_args(board),
    ]


def runtime_args(board: BoardSettings) -> list[str]:
    """The LiteRT runners' threads, delegate and kernel choice, as the board's settings give them."""
    args = [f"--num_threads={board['threads']}"]
    if board.get("delegate"):
        args.append(f"--external_delegate_path={board['delegate']}")
        if board.get("delegate_options"):
            args.append(f"--external_delegate_options={board['delegate_options']}")
    if board.get("xnnpack"):
        args.append("--use_xnnpack=true")
    return args


def _env_prefix(env: dict[str, str]) -> list[str]:
    return ["env", *(f"{k}={v}" for k, v in sorted(env.items()))] if env else []


def run(o: Options) -> None:
    _measure(o.artifact, o.out, {**o.board, **o.connection})


def check_exit(
    outcome: boards.Outcome,
    board: Reach,
    command: str,
    key: str,
    *,
    what: str = "the benchmark",
    slow: str = "the command did not finish within {timeout} s; check the board (is it busy, is the model too "
    "slow?) or raise timeout",
    install: str = "it",
) -> None:
    """A board command that did not finish, was not found or failed, as a BoardError naming the board.

    ``key`` is the board setting that names ``command`` (python, command, …); ``what`` names the command in a
    failure, ``slow`` says what to do when it timed out, ``install`` what to install when it is missing."""
    where = f"board {board['name']}"
    if outcome.exit_code in (124, 137) and board["host"] != "local":  # killed by the board's timeout
        raise boards.BoardError(f"{where}: " + slow.format(timeout=format(board["timeout"], "g")))
    if outcome.exit_code == 127 and board["host"] != "local":  # the shell found no such command
        raise boards.BoardError(
            f"{where}: {command} is not installed on the board "
            f"(exit 127); install {install} there, or give its path as boards.{board['name']}.benchmark.{key}"
        )
    if outcome.exit_code != 0:
        tail = "\n".join((outcome.stdout + "\n" + outcome.stderr).strip().splitlines()[-4:])
        raise boards.BoardError(f"{where}: {what} exited with code {outcome.exit_code}:\n{tail}")


def _measure(model: Path, out: Path, board: Reach) -> None:
    where = f"board {board['name']}"
    sent = 0
    env_words = _env_prefix(board.get("env") or {})
    if board["host"] == "local":
        most = f", at most {board['max_seconds']:g} s" if board.get("max_seconds") else ""
        progress(f"running on this machine ({board['runs']} runs{most}, {board['threads']} thread(s))")
        argv = [sys.executable, str(RUNNER), *_args(board, str(model))]
        outcome = boards.Local(board).run(argv, board["timeout"], env=board.get("env"))
        shown = " ".join(shlex.quote(a) for a in env_words + argv[1:])
    else:
        remote = boards.connect(board)
        own = BOARD_RUNTIMES.get(board.get("kind"))
        try:
            workdir = board["workdir"].rstrip("/")
            graph = f"{workdir}/{sha256_file(model)}{own.SUFFIX if own else '.tflite'}"
            sent = remote.put(model, graph)
            if own:
                argv = own.argv(board, graph)
            elif board["runner"] == "litert":
                script = f"{workdir}/litert_benchmark-{sha256_file(RUNNER)[:12]}.py"
                sent += remote.put(RUNNER, script)
                argv = [board["python"], script, *_args(board, graph)]
            else:
                argv = [board["command"], *_args(board, graph)]
            progress(
                f"{'uploaded ' + format(sent, ',') + ' bytes' if sent else 'artifact already on the board'}; "
                f"running ({board['runs']} runs)"
            )
            shown = " ".join(shlex.quote(a) for a in env_words + argv)
            outcome = boards.run_exclusive(remote, board, shown)
        finally:
            remote.close()
    text = outcome.stdout + "\n" + outcome.stderr
    own = BOARD_RUNTIMES.get(board.get("kind"))
    check_exit(outcome, board, argv[0], own.NAME if own else "python" if board["runner"] == "litert" else "command")
    tool = own.NAME if own else "benchmark_model"
    try:
        parsed = own.parse(text) if own else benchmark_model.parse(text)
    except (benchmark_model.ParseError, (own or benchmark_model).ParseError) as exc:
        head = "\n".join(text.strip().splitlines()[:4]) or "(no output)"
        raise boards.BoardError(
            f"{where}: cannot read the benchmark output ({exc}); is the command {tool}? It printed:\n{head}"
        ) from None
    result: Benchmark = {"board": board["name"], **parsed, "bytes_sent": sent, "command": shown}
    delegated = parsed.get("delegated")
    if board.get("delegate") and delegated and not delegated.get("complete"):
        result["cpu_fallback_at_runtime"] = True
        progress(
            f"WARNING: the delegate took {delegated['nodes']} of {delegated['total']} nodes; the rest ran on the CPU"
        )
    atomic.write_json(out, result)
    lat = parsed["latency_ms"]
    first = f"; first inference {parsed['first_ms']:.3f} ms" if parsed.get("first_ms") is not None else ""
    progress(f"{lat['avg']:.3f} ms avg (min {lat['min']:.3f}, max {lat['max']:.3f}) over {parsed['runs']} runs{first}")
