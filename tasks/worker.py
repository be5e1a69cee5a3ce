"""Run a step function in a child Python process.

TensorFlow, the TFLite calibrator and Vela are native code: a segfault or an
abort inside them must fail one step with a clear message, not take the build
down.  The child gets the step's function, its options type and its options as JSON
on stdin, and calls the function with the options, typed again; its
native chatter goes to a log file under build/logs/, and only the progress
lines the step writes with ``tasks.progress.progress()`` reach the terminal
(through a pipe named in the child's environment).

Parent side: ``run()``.  Child side: ``python -m tasks.worker``.
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
from tasks.progress import PROGRESS_FD

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_EXIT_STEP_ERROR = 3
_EXIT_CRASH = 4

# Environment that makes TensorFlow quiet and its arithmetic repeatable.
CHILD_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONHASHSEED": "0",
    "PYTHONUNBUFFERED": "1",
}


def run(function: str, options_type: str, options: dict, log: Path, label: str):
    """Run ``function(options)`` in a child; return None, or doit's TaskFailed / TaskError.

    ``function`` and ``options_type`` are "module:name"; ``options`` is tasks.options.to_json's output.
    """
    from doit.exceptions import TaskError, TaskFailed

    log.parent.mkdir(parents=True, exist_ok=True)
    result = log.with_suffix(".result.json")
    result.unlink(missing_ok=True)
    # The step's own temporary folder (TensorFlow's and Vela's scratch files
    # too): removed however the step ends.
    scratch = Path(tempfile.mkdtemp(prefix=f".{log.stem}-", suffix=".tmp", dir=log.parent))
    env = dict(os.environ, **CHILD_ENV, TMPDIR=str(scratch), NPUFORGE_PARENT_PID=str(os.getpid()))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    request = json.dumps({"function": function, "type": options_type, "options": options, "result": str(result)})
    progress_in, progress_out = os.pipe()
    env[PROGRESS_FD] = str(progress_out)
    try:
        with open(log, "wb") as log_file, os.fdopen(progress_in, "rb") as progress_lines:
            # Its own process group: Ctrl-C reaches doit, which then ends the
            # whole group (the step and anything it started) at once.  Its
            # stdout and stderr (native code prints there too) go to the log.
            proc = subprocess.Popen(
                [sys.executable, "-m", "tasks.worker"],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=log_file,
                env=env,
                process_group=0,
                pass_fds=(progress_out,),
            )
            os.close(progress_out)
            progress_out = -1
            try:
                proc.stdin.write(request.encode())
                proc.stdin.close()
                for raw in progress_lines:
                    sys.stdout.write(f"   {label}: {raw.decode(errors='replace')}")
                    sys.stdout.flush()
                code = proc.wait()
            except BaseException:
                _kill_group(proc)
                raise
    finally:
        if progress_out >= 0:
            os.close(progress_out)
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


def _named(name: str):
    module, attribute = name.split(":")
    return getattr(importlib.import_module(module), attribute)


def _child() -> int:
    from tasks import options as opts

    _die_with_parent()
    request = json.loads(sys.stdin.read())
    result = Path(request["result"])
    try:
        function, options_type = (_named(request[key]) for key in ("function", "type"))
        function(opts.from_json(options_type, request["options"]))
    except StepError as exc:
        result.write_text(json.dumps({"error": str(exc)}))
        return _EXIT_STEP_ERROR
    except Exception as exc:  # a tool broke: keep the traceback in the log
        traceback.print_exc()
        result.write_text(json.dumps({"crash": f"{type(exc).__name__}: {exc}"}))
        return _EXIT_CRASH
    return 0


if __name__ == "__main__":
    sys.exit(_child())
