"""benchmark: run a variant's artifact on a board and record the measured timings.

``runner: litert`` runs tasks/runners/litert_benchmark.py (copied to the board
by content); ``runner: benchmark_model`` runs the board's TFLite
benchmark_model.  Both print benchmark_model's format, read by
tasks/adapters/benchmark_model.py.  Never records a result that was not
measured: every fault ends the step with a message naming the board.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from tasks import atomic, boards
from tasks.adapters import benchmark_model
from tasks.digests import sha256_file
from tasks.worker import progress

RUNNER = Path(__file__).resolve().parent.parent / "runners" / "litert_benchmark.py"
REMOTE_GRACE = 15.0  # seconds past the board's own timeout before the SSH side gives up


def _args(board: dict[str, Any], graph: str) -> list[str]:
    args = [f"--graph={graph}", f"--num_threads={board['threads']}", f"--warmup_runs={board['warmup']}",
            f"--num_runs={board['runs']}"]  # fmt: skip
    if board.get("delegate"):
        args.append(f"--external_delegate_path={board['delegate']}")
    return args


def run(artifact: str, out: str, board: dict[str, Any], label: str) -> None:
    model = Path(artifact)
    where = f"board {board['name']}"
    sent = 0
    if board["host"] == "local":
        progress(f"running on this machine ({board['runs']} runs, {board['threads']} thread(s))")
        argv = [sys.executable, str(RUNNER), *_args(board, str(model))]
        outcome = boards.Local(board).run(argv, board["timeout"])
        shown = " ".join(shlex.quote(a) for a in argv[1:])
    else:
        remote = boards.Remote(board)
        try:
            workdir = board["workdir"].rstrip("/")
            graph = f"{workdir}/{sha256_file(model)}.tflite"
            sent = remote.put(model, graph)
            if board["runner"] == "litert":
                script = f"{workdir}/litert_benchmark-{sha256_file(RUNNER)[:12]}.py"
                sent += remote.put(RUNNER, script)
                argv = [board["python"], script, *_args(board, graph)]
            else:
                argv = [board["command"], *_args(board, graph)]
            progress(f"{'uploaded ' + format(sent, ',') + ' bytes' if sent else 'artifact already on the board'}; "
                     f"running ({board['runs']} runs)")  # fmt: skip
            shown = " ".join(shlex.quote(a) for a in argv)
            lock = shlex.quote(f"{workdir}/.npuforge.lock")
            # the board's own `timeout` ends a hung benchmark there too, so it cannot hold the lock
            limit = f"timeout -k 5 {board['timeout']:g}"
            outcome = remote.run(f"flock {lock} {limit} {shown}", board["timeout"] + REMOTE_GRACE)
        finally:
            remote.close()
    text = outcome.stdout + "\n" + outcome.stderr
    if outcome.exit_code in (124, 137) and board["host"] != "local":  # killed by the board's timeout
        raise boards.BoardError(
            f"{where}: the command did not finish within {board['timeout']:g} s; "
            "check the board (is it busy, is the model too slow?) or raise timeout"
        )
    if outcome.exit_code != 0:
        tail = "\n".join(text.strip().splitlines()[-4:])
        raise boards.BoardError(f"{where}: the benchmark exited with code {outcome.exit_code}:\n{tail}")
    try:
        parsed = benchmark_model.parse(text)
    except benchmark_model.ParseError as exc:
        head = "\n".join(text.strip().splitlines()[:4]) or "(no output)"
        raise boards.BoardError(
            f"{where}: cannot read the benchmark output ({exc}); is the command benchmark_model? It printed:\n{head}"
        ) from None
    result = {"board": board["name"], **parsed, "bytes_sent": sent, "command": shown}
    delegated = parsed.get("delegated")
    if board.get("delegate") and delegated and not delegated.get("complete"):
        result["cpu_fallback_at_runtime"] = True
        progress(
            f"WARNING: the delegate took {delegated['nodes']} of {delegated['total']} nodes; the rest ran on the CPU"
        )
    atomic.write_json(Path(out), result)
    lat = parsed["latency_ms"]
    progress(f"{lat['avg']:.3f} ms avg (min {lat['min']:.3f}, max {lat['max']:.3f}) over {parsed['runs']} runs")
