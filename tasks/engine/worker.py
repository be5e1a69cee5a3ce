"""Run a step function in a child Python process: a warm worker, or a fresh process.

TensorFlow, the TFLite calibrator and Vela are native code: a segfault or an
abort inside them must fail one step with a clear message, not take the build
down.  The child gets the step's function, its options type and its options as
JSON, and calls the function with the options, typed again; its native chatter
goes to the step's log file under build/logs/, and only the progress lines the
step writes with ``tasks.progress.progress()`` reach the terminal (through a
pipe named in the child's environment), prefixed with the step.

A warm worker (``python -m tasks.engine.worker --warm``) runs step after step of one
family (the steps that import TensorFlow, or Vela), for one doit thread: the
import is paid once.  Requests come in on a pipe, one JSON line each; the
step's progress lines and then one result line go back on another.  Before
each step it points fds 1 and 2 at the step's log, TMPDIR at the step's scratch
folder, and clears Keras' session.  A worker that crashed is not reused.
``NPUFORGE_WARM_WORKERS=0``: a fresh process per step (``python -m tasks.engine.worker``,
the request on stdin, its stdout and stderr the log).

Parent side: ``run()``, ``stop_workers()``.  Child side: ``_warm_child()``, ``_child()``.
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
import threading
import traceback
from collections import deque
from pathlib import Path

from tasks.errors import StepError
from tasks.progress import PROGRESS_FD
from tasks.toolchains.registry import TOOLCHAINS

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
_EXIT_STEP_ERROR = 3
_EXIT_CRASH = 4

# Environment that makes TensorFlow quiet and its arithmetic repeatable.
CHILD_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONHASHSEED": "0",
    "PYTHONUNBUFFERED": "1",
}


WARM = "NPUFORGE_WARM_WORKERS"  # "0": a fresh process for every step (the sequential baseline of bench/build.py)
_RESULT = b"\x1eRESULT "  # a warm worker's answer line, after the step's progress lines on the same pipe

# which warm workers a step may reuse: those that already imported the same heavy tool
_FAMILIES = (
    *(
        t.builds.warm for t in TOOLCHAINS if t.builds.warm
    ),  # a toolchain's own tool first: its steps may import TensorFlow too
    ("tensorflow", "tensorflow"),
    ("ai-edge-litert", "tensorflow"),
)


def family(tools: tuple[str, ...], kind: str) -> str:
    """The warm-worker family of a step kind that fingerprints ``tools``."""
    return next((name for dist, name in _FAMILIES if dist in tools), kind)


def run(function: str, options_type: str, options: dict, log: Path, label: str, family: str | None = None):
    """Run ``function(options)`` in a child; return None, or doit's TaskFailed / TaskError.

    ``function`` and ``options_type`` are "module:name"; ``options`` is tasks.planning.options.to_json's output.
    With a ``family``, a warm worker of that family runs it (started if none is idle), unless
    NPUFORGE_WARM_WORKERS=0.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    # The step's own temporary folder (TensorFlow's and Vela's scratch files
    # too): removed however the step ends.
    scratch = Path(tempfile.mkdtemp(prefix=f".{log.stem}-", suffix=".tmp", dir=log.parent))
    request = {"function": function, "type": options_type, "options": options, "log": str(log), "scratch": str(scratch)}
    try:
        if family is None or os.environ.get(WARM) == "0":
            code, outcome = _run_fresh(request, log, label)
        else:
            code, outcome = _run_warm(family, request, label)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _outcome(code, outcome, log, label)


def _child_env() -> dict[str, str]:
    env = dict(os.environ, **CHILD_ENV, NPUFORGE_PARENT_PID=str(os.getpid()))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _run_fresh(request: dict, log: Path, label: str) -> tuple[int, dict]:
    """A process of its own for this one step: its stdout and stderr are the log."""
    result = log.with_suffix(".result.json")
    result.unlink(missing_ok=True)
    env = _child_env() | {"TMPDIR": request["scratch"]}
    progress_in, progress_out = os.pipe()
    env[PROGRESS_FD] = str(progress_out)
    try:
        with open(log, "wb") as log_file, os.fdopen(progress_in, "rb") as progress_lines:
            # Its own process group: Ctrl-C reaches doit, which then ends the
            # whole group (the step and anything it started) at once.  Its
            # stdout and stderr (native code prints there too) go to the log.
            proc = subprocess.Popen(
                [sys.executable, "-m", "tasks.engine.worker"],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=log_file,
                env=env,
                process_group=0,
                pass_fds=(progress_out,),
            )
            os.close(progress_out)
            progress_out = -1
            with _LIVE_LOCK:
                _FRESH.add(proc)
            try:
                proc.stdin.write(json.dumps(request | {"result": str(result)}).encode())
                proc.stdin.close()
                for raw in progress_lines:
                    _show(label, raw)
                code = proc.wait()
            except BaseException:
                _kill_group(proc)
                raise
            finally:
                with _LIVE_LOCK:
                    _FRESH.discard(proc)
    finally:
        if progress_out >= 0:
            os.close(progress_out)
    outcome = json.loads(result.read_text()) if result.exists() else {}
    result.unlink(missing_ok=True)
    return code, outcome


def _show(label: str, raw: bytes) -> None:
    """One progress line, whole, prefixed with its step (steps run side by side)."""
    sys.stdout.write(f"   {label}: {raw.decode(errors='replace').rstrip()}\n")
    sys.stdout.flush()


class _Warm:
    """A worker process that runs step after step of one family, for one doit thread."""

    def __init__(self, family: str):
        self.family, self.ended = family, False
        requests_in, requests_out = os.pipe()
        answers_in, answers_out = os.pipe()
        env = _child_env() | {PROGRESS_FD: str(answers_out), "NPUFORGE_REQUESTS_FD": str(requests_in)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tasks.engine.worker", "--warm"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            process_group=0,
            pass_fds=(requests_in, answers_out),
        )
        os.close(requests_in)
        os.close(answers_out)
        self.requests = os.fdopen(requests_out, "wb")
        self.answers = os.fdopen(answers_in, "rb")
        with _LIVE_LOCK:
            _LIVE.add(self)

    def step(self, request: dict, label: str) -> tuple[int, dict] | None:
        """Run one step; (0 | error code, outcome), or None if the worker died (it is then gone)."""
        self.requests.write(json.dumps(request).encode() + b"\n")
        self.requests.flush()
        for raw in self.answers:
            if raw.startswith(_RESULT):
                outcome = json.loads(raw[len(_RESULT) :])
                return outcome.pop("code"), outcome
            _show(label, raw)
        return None

    def end(self, kill: bool = False) -> int:
        self.ended = True
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if kill:
            _kill_group(self.proc)
        try:
            self.requests.close()  # a worker waiting for its next step reads the end, and exits
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
            code = self.proc.wait()
        if not kill:  # killed, another thread may still be reading its last lines: the collector closes it
            self.answers.close()
        return code


_LIVE: set[_Warm] = set()  # every warm worker of this build, for Ctrl-C and the end of the build
_FRESH: set[subprocess.Popen] = set()  # every one-step process running
_LIVE_LOCK = threading.Lock()
_IDLE = threading.local()  # this doit thread's idle warm workers, by family


def _run_warm(family: str, request: dict, label: str) -> tuple[int, dict]:
    idle: dict[str, _Warm] = _IDLE.__dict__.setdefault("workers", {})
    worker = idle.pop(family, None)
    if worker is None or worker.ended:  # none idle, or stopped since (stop_workers)
        worker = _Warm(family)
    try:
        answer = worker.step(request, label)
    except BaseException:
        worker.end(kill=True)
        raise
    if answer is None:  # died inside the step (a segfault, an abort, a kill): its exit status says how
        return worker.end(), {}
    code, outcome = answer
    if code == _EXIT_CRASH:  # a tool raised: this process may be in any state, the next step gets a fresh one
        worker.end(kill=True)
    else:
        idle[family] = worker
    return code, outcome


_KILLED = threading.Event()  # Ctrl-C: the steps still running are being killed


def killed() -> bool:
    """Whether the build is being interrupted: a step that ends now was killed, it did not fail."""
    return _KILLED.is_set()


def stop_workers(kill: bool = False) -> None:
    """End every warm worker (at the end of a build; ``kill``: at once, on Ctrl-C)."""
    if kill:
        _KILLED.set()
    with _LIVE_LOCK:
        workers, fresh = list(_LIVE), list(_FRESH) if kill else []
    for proc in fresh:  # steps of other doit threads (Ctrl-C reaches only the main one)
        _kill_group(proc)
    for worker in workers:
        worker.end(kill=kill)


def _outcome(code: int, outcome: dict, log: Path, label: str):
    from doit.exceptions import TaskError, TaskFailed

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
        f"{label}: the step crashed ({why}).\nFull log: {log}\nLast lines:\n{tail}\n{_advice(code, outcome)}"
    )


def _advice(code: int, outcome: dict) -> str:
    """What to do about a crash, by what broke (crash_kind)."""
    kind = outcome.get("kind") or {}
    if kind.get("kind") == "network":
        return (
            "A network failure: check the connection (and any proxy) to the "
            "server the step reads from, then run doit again."
        )
    if kind.get("kind") == "project":
        return (
            f"The error is in the project's own code, {kind['file']}:{kind['line']}: fix it there, then run doit again."
        )
    if kind.get("kind") == "memory" or code == -signal.SIGKILL:
        return (
            "Out of memory, or killed from outside: build with fewer steps "
            "side by side (doit -n 1), then run doit again."
        )
    return "Check the input model with a LiteRT interpreter, or report the log with the model."


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


def _call(request: dict) -> tuple[int, dict]:
    """Run one request's step here; (exit code, outcome)."""
    from tasks.planning import options as opts

    try:
        function, options_type = (_named(request[key]) for key in ("function", "type"))
        function(opts.from_json(options_type, request["options"]))
    except StepError as exc:
        return _EXIT_STEP_ERROR, {"error": str(exc)}
    except Exception as exc:  # a tool broke: keep the traceback in the log
        traceback.print_exc()
        return _EXIT_CRASH, {"crash": f"{type(exc).__name__}: {exc}", "kind": crash_kind(exc)}
    return 0, {}


_NETWORK_WORDS = (
    "name or service not known",
    "temporary failure in name resolution",
    "network is unreachable",
    "connection refused",
    "connection reset",
    "timed out",
    "no route to host",
    "urlopen error",
)
_PACKAGE_FOLDERS = ("site-packages", "dist-packages", f"{os.sep}lib{os.sep}python")
_OWN_FOLDER = str(Path(__file__).resolve().parent.parent)


def crash_kind(exc: BaseException) -> dict[str, str]:
    """What broke: the network, the project's own code (file and line), memory, or a tool (the default).

    The message a crash gets depends on it: only a tool's bug is worth reporting with the log.
    """
    import socket
    import urllib.error

    seen: BaseException | None = exc
    while seen is not None:  # a network failure is often the cause of the exception that surfaced
        text = str(seen).lower()
        if isinstance(seen, socket.gaierror | urllib.error.URLError | ConnectionError | TimeoutError) or any(
            word in text for word in _NETWORK_WORDS
        ):
            return {"kind": "network"}
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, MemoryError):
        return {"kind": "memory"}
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = str(Path(frame.filename).resolve()) if frame.filename and not frame.filename.startswith("<") else ""
        if not path or any(folder in path for folder in _PACKAGE_FOLDERS):
            continue
        if not path.startswith(_OWN_FOLDER):
            return {"kind": "project", "file": path, "line": str(frame.lineno)}
        break
    return {"kind": "tool"}


def _child() -> int:
    _die_with_parent()
    request = json.loads(sys.stdin.read())
    code, outcome = _call(request)
    if outcome:
        Path(request["result"]).write_text(json.dumps(outcome))
    return code


def _fresh_state(scratch: str) -> None:
    """What one step may leave behind that would change the next one's output, undone."""
    os.environ["TMPDIR"] = tempfile.tempdir = scratch
    if "keras" in sys.modules:  # Keras numbers its layers and models per session: names end up in the model
        sys.modules["keras"].backend.clear_session()


def _warm_child() -> int:
    """Step after step: a request line in, the step's progress lines and one result line out."""
    _die_with_parent()
    requests = os.fdopen(int(os.environ.pop("NPUFORGE_REQUESTS_FD")), "rb")
    answers = int(os.environ[PROGRESS_FD])
    cwd = os.getcwd()
    for line in requests:
        request = json.loads(line)
        _fresh_state(request["scratch"])
        with open(request["log"], "wb") as log:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            code, outcome = _call(request)
            sys.stdout.flush(), sys.stderr.flush()
        os.chdir(cwd)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1), os.dup2(null, 2), os.close(null)
        os.write(answers, _RESULT + json.dumps({"code": code, **outcome}).encode() + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(_warm_child() if sys.argv[1:] == ["--warm"] else _child())
