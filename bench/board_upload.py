"""Bytes sent to a board on a first and a repeated benchmark (upload by content).

    python bench/board_upload.py [ARTIFACT]

Starts the test board (a real OpenSSH server on 127.0.0.1, as in the tests), benchmarks the
artifact twice with the LiteRT runner and prints what each run sent.  Needs openssh-server
(`make test` installs it) and a built project (`make`).
"""

import json
import sys
import tempfile
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)
import sshd

from support import REPO
from tasks.steps import benchmark

CONNECTION = ("name", "key", "known_hosts", "host_key", "timeout", "connect_timeout")


def main() -> None:
    artifact = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "build/pose_detection/int8/pose_detection_int8.tflite")
    server = sshd.start(Path(tempfile.mkdtemp(prefix="npuforge-board-")) / "sshd")
    try:
        print(f"{'run':<6} {'bytes sent':>12} {'avg ms':>8}")
        for run in ("first", "repeat"):
            out = Path(tempfile.mkdtemp()) / "benchmark.json"
            board = server.board(runs=20, warmup=3, threads=2)
            connection = {k: board.pop(k) for k in CONNECTION}  # the fields planning keeps out of the fingerprint
            benchmark.run(
                benchmark.Options(board=board, label=artifact.name, artifact=artifact, out=out, connection=connection)
            )
            result = json.loads(out.read_text())
            print(f"{run:<6} {result['bytes_sent']:>12,} {result['latency_ms']['avg']:>8.2f}")
        print(f"(artifact {artifact.stat().st_size:,} B, runner {benchmark.RUNNER.stat().st_size:,} B)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
