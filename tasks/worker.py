"""Run a step function in a child Python process.

TensorFlow, the TFLite calibrator and Vela are native code: a segfault or an
abort inside them must fail one step with a clear message, not take the build
down.  The child gets its arguments as JSON on stdin; its native chatter goes
to a log file under build/logs/, and only the progress lines the step writes
with ``progress()`` reach the terminal.

Parent side: ``run()``.  Child side: ``python -m tasks.worker MODULE:FUNCTION``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections import deque
from pathlib import Path

from tasks.errors import StepError

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_EXIT_STEP_ERROR = 3
_EXIT_CRASH = 4
_progress_fd: int | None = None

# Environment that makes TensorFlow quiet and its arithmetic repeatable.
CHILD_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONHASHSEED": "0",
    "PYTHONUNBUFFERED": "1",
}


def progress(message: str) -> None:
    """Show one line of progress on the user's terminal (child side)."""
    line = (message.rstrip("\n") + "\n").encode()
    if _progress_fd is None:
        sys.stdout.write(line.decode())
        sys.stdout.flush()
    else:
        os.write(_progress_fd, line)


def run(func: str, kwargs: dict, log: Path, label: str):
    """Run ``func(**kwargs)`` in a child; return None, or doit's TaskFailed / TaskError."""
    from doit.exceptions import TaskError, TaskFailed

    log.parent.mkdir(parents=True, exist_ok=True)
    result = log.with_suffix(".result.json")
    result.unlink(missing_ok=True)
    # The step's own temporary folder (TensorFlow's and Vela's scratch files
    # too): removed however the step ends.
    scratch = Path(tempfile.mkdtemp(prefix=f".{log.stem}-", suffix=".tmp", dir=log.parent))
    env = dict(os.environ, **CHILD_ENV, TMPDIR=str(scratch), NPUFORGE_PARENT_PID=str(os.getpid()))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    request = json.dumps({"kwargs": kwargs, "result": str(result)})
    try:
        with open(log, "wb") as log_file:
            # Its own process group: Ctrl-C reaches doit, which then ends the
            # whole group (the step and anything it started) at once.
            proc = subprocess.Popen(
                [sys.executable, "-m", "tasks.worker", func],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                process_group=0,
            )
            try:
                proc.stdin.write(request.encode())
                proc.stdin.close()
                for raw in proc.stdout:
                    sys.stdout.write(f"   {label}: {raw.decode(errors='replace')}")
                    sys.stdout.flush()
                code = proc.wait()
            except BaseException:
                _kill_group(proc)
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    outcome = json.loads(result.read_text()) if result.exists() else {}
    result.unlink(missing_ok=True)
    if code == 0:
        return None
    if code == _EXIT_STEP_ERROR and "error" in outcome:
        return TaskFailed(outcome["error"])
    if code < 0:
        try:
            why = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            why = f"killed by signal {-code}"
    else:
        why = outcome.get("crash", f"exit code {code}")
    with open(log, errors="replace") as f:
        tail = "".join(deque(f, maxlen=6)).rstrip()
    return TaskError(
        f"{label}: the step crashed ({why}).\n"
        f"Full log: {log}\n"
        f"Last lines:\n{tail}\n"
        "Check the input model with a LiteRT interpreter, or report the log with the model."
    )


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when doit dies, even by SIGKILL, so no step outlives its build."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != os.environ.get("NPUFORGE_PARENT_PID", str(os.getppid())):
        os._exit(_EXIT_CRASH)  # the parent died before the request took effect


def _child(func: str) -> int:
    global _progress_fd
    _die_with_parent()
    # Progress keeps the real stdout; everything else written to fd 1 (native
    # code prints there too) goes to the log with stderr.
    _progress_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    request = json.loads(sys.stdin.read())
    result = Path(request["result"])
    module_name, function_name = func.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        function(**request["kwargs"])
    except StepError as exc:
        result.write_text(json.dumps({"error": str(exc)}))
        return _EXIT_STEP_ERROR
    except Exception as exc:  # a tool broke: keep the traceback in the log
        traceback.print_exc()
        result.write_text(json.dumps({"crash": f"{type(exc).__name__}: {exc}"}))
        return _EXIT_CRASH
    return 0


if __name__ == "__main__":
    # Run as the importable module, so steps' ``progress()`` sees the same state.
    from tasks import worker

    sys.exit(worker._child(sys.argv[1]))
