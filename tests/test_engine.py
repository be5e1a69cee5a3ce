"""The build engine under stress: SIGKILL and resume, two builds at once, `doit explain`, Ctrl-C.

Every test drives the real doit command on the tiny project (real TensorFlow,
real Vela); nothing is simulated.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from doit.dependency import Dependency, JSONCodec, MD5Checker
from doit.task import Task

from engine_trials import (
    Trial,
    broken_artifacts,
    default_steps,
    recorded,
    run_and_stop,
    temporary_files,
    wait_for_no_step_processes,
)
from support import REPO, doit, ok, pause, ran, start_doit, tiny_project, write
from tasks.engine import commands as engine
from tasks.engine import explain, state_db

# ----------------------------------------------------------------- the database


def test_a_step_is_committed_the_moment_doit_saves_it(tmp_path, monkeypatch):
    """doit's own Dependency over StateDB: another connection sees the record before the run ends."""
    (tmp_path / "in.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    db = tmp_path / ".doit.db"
    deps = Dependency(state_db.StateDB, str(db), checker_cls=MD5Checker, codec_cls=JSONCodec)
    task = Task("quantize:m/int8", [lambda: None], file_dep=["in.txt"])
    deps.save_success(task)
    other = sqlite3.connect(str(db))
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in other.execute("SELECT task_id FROM doit")] == ["quantize:m/int8"]
    deps.remove_success(task)
    assert other.execute("SELECT count(*) FROM doit").fetchone()[0] == 0
    deps.close()


def test_a_read_only_command_creates_and_writes_nothing(tmp_path):
    db = tmp_path / ".doit.db"
    deps = Dependency(state_db.ReadOnlyStateDB, str(db), checker_cls=MD5Checker, codec_cls=JSONCodec)
    deps.save_success(Task("t", [lambda: None]))
    deps.close()
    assert not db.exists()


def test_an_unreadable_database_is_one_clear_error(tmp_path):
    tiny_project(tmp_path)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / ".doit.db").write_bytes(b"not a database at all" * 100)
    proc = doit(tmp_path, "list", "--status")
    assert proc.returncode != 0
    assert "build/.doit.db: the build database is unreadable" in proc.stderr
    assert "Delete it to start afresh" in proc.stderr


# ----------------------------------------------------------------- kill and resume

# (steps finished in this run, seconds into the next step) at each SIGKILL; the
# delays put some kills in the middle of TensorFlow or Vela work.  The last one
# lands while a step runs (never between two): the resumed build has its files to remove.
KILL_POINTS = [(0, 2.0), (1, 0.0), (2, 1.0), (1, 0.0), (3, 0.5)]
FRESH_STEPS = {"NPUFORGE_WARM_WORKERS": "0"}  # a fresh process per step: the kill points land inside steps


@pytest.fixture(scope="module")
def tiny_steps(tmp_path_factory) -> set[str]:
    """The steps a plain doit runs on an unbuilt tiny project (the same for every fresh one)."""
    return default_steps(tiny_project(tmp_path_factory.mktemp("unbuilt")).parent)


def _pause_inside_a_step(proc: subprocess.Popen, logs: Path, seconds: float = 120.0) -> None:
    """Stop doit (SIGSTOP) at a moment one of its steps runs, and leave it stopped.

    A running step has a scratch folder beside its log, which only doit removes: with doit
    stopped it is there until the SIGKILL, whatever the step's own process does meanwhile.
    """
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        pause(proc)
        if temporary_files(logs):
            return
        os.kill(proc.pid, signal.SIGCONT)  # between two steps: let it start the next
        time.sleep(0.05)
    raise AssertionError(f"no step of the build was running to be killed (doit exit code {proc.poll()})")


def _kill_inside_a_step(project: Path, finished: int, delay: float) -> Trial:
    """As run_and_stop(how="kill"), but the SIGKILL lands while a step runs, never between two."""
    proc = start_doit(project, "-n", "1", env=FRESH_STEPS, start_new_session=True)
    trial = Trial(pid=proc.pid)
    for line in proc.stdout:
        trial.output += line
        if line.startswith(".  "):
            trial.started.append(line[3:].strip())
            if len(trial.started) == finished + 1:
                time.sleep(delay)
                _pause_inside_a_step(proc, project / "build" / "logs")
                os.kill(proc.pid, signal.SIGKILL)
                break
    rest, trial.errors = proc.stdout.read(), proc.stderr.read()  # what it wrote before the kill: little
    trial.returncode = proc.wait(timeout=120)
    trial.output += rest
    trial.started += [line[3:].strip() for line in rest.splitlines() if line.startswith(".  ")]
    return trial


def test_killed_builds_resume_with_exactly_the_unfinished_steps(tmp_path, tiny_steps):
    project = tmp_path / "p"
    tiny_project(project)
    steps = tiny_steps
    build = project / "build"
    done_before: set[str] = set()
    for k, (finished, delay) in enumerate(KILL_POINTS):
        if k == len(KILL_POINTS) - 1:  # the last kill leaves a running step's temporary files to sweep
            trial = _kill_inside_a_step(project, finished, delay)
            assert temporary_files(build), "the last kill left no temporary file: the sweep below proves nothing"
        else:
            trial = run_and_stop(project, finished, delay, how="kill", env=FRESH_STEPS)
        assert trial.returncode == -signal.SIGKILL, trial.output[-2000:] + trial.errors
        assert not set(trial.started) & done_before, "a step that had finished ran again"
        assert wait_for_no_step_processes(trial.pid) == [], "a step process outlived its killed build"
        now = recorded(project, steps)
        assert now >= done_before | set(trial.started[:finished]), "a finished step lost its record"
        assert now <= done_before | set(trial.started)
        assert broken_artifacts(build) == []
        done_before = now
    final = ok(doit(project))
    assert ran(final) == steps - done_before
    assert recorded(project, steps) == steps
    assert temporary_files(build) == []  # what the killed runs left was swept
    assert "removed" in final.stderr and "left by an interrupted build" in final.stderr
    assert broken_artifacts(build) == []
    assert ran(ok(doit(project))) == set()


# ----------------------------------------------------------------- one build at a time


def _started(proc: subprocess.Popen) -> str:
    """Read doit's output up to the start of its first step; the lock is held from then on."""
    seen = ""
    for line in proc.stdout:
        seen += line
        if line.startswith(".  "):
            return seen
    raise AssertionError(f"doit ended before any step started:\n{seen}\n{proc.stderr.read()}")


def test_two_builds_at_once_queue_and_lose_nothing(tiny):
    project = tiny
    text = (project / "project.yaml").read_text()
    (project / "project.yaml").write_text(text.replace("channels: 8", "channels: 12"))  # everything re-runs

    first = start_doit(project)
    first_out = _started(first)
    second = start_doit(project)
    refused = doit(project, "--no-wait")
    listing = doit(project, "list", "--status")
    explained = doit(project, "explain")
    assert first.poll() is None, "the first build ended before the read-only commands: the test proves nothing"

    assert refused.returncode == 2
    assert f"another build of this project is running (pid {first.pid}" in refused.stderr
    assert ran(refused) == set()
    for proc in (listing, explained):
        assert proc.returncode == 0, proc.stderr  # read-only commands did not wait for the lock
    assert "compile:tiny/int8@u65" in explained.stdout

    first_rest, first_err = first.communicate(timeout=600)
    second_out, second_err = second.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err
    assert f"waiting for another build of this project (pid {first.pid}) …" in second_err
    assert ran(subprocess.CompletedProcess([], 0, second_out, "")) == set(), "the second build redid work"
    assert len(ran(subprocess.CompletedProcess([], 0, first_out + first_rest, ""))) == 21
    assert "all 21 steps are up to date" in ok(doit(project, "explain")).stdout
    assert broken_artifacts(project / "build") == []


# ----------------------------------------------------------------- explain


def _explain(project: Path, *steps: str) -> dict[str, list[str]]:
    out = ok(doit(project, "explain", *steps)).stdout
    reasons: dict[str, list[str]] = {}
    last = ""
    for line in out.splitlines()[:-1]:
        if line.startswith("    "):
            reasons[last].append(line.strip())
        else:
            last = line.strip()
            reasons[last] = []
    return reasons


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_explain_names_a_changed_parameter_with_old_and_new_value(tiny):
    text = (tiny / "project.yaml").read_text()
    (tiny / "project.yaml").write_text(text.replace("int8: {type: int8}", "int8: {type: int8, per_channel: false}"))
    db_before = (tiny / "build" / ".doit.db").read_bytes()
    why = _explain(tiny)
    assert (tiny / "build" / ".doit.db").read_bytes() == db_before  # nothing ran, nothing was written
    assert why["quantize:tiny/int8"] == ["parameter scheme.per_channel: true → false"]
    assert why["compile:tiny/int8@u65"] == [
        "upstream quantize:tiny/int8 will run; this step follows if it rewrites build/tiny/int8/tiny_int8.tflite"
    ]
    assert "quantize:tiny/a16w8" not in why
    assert ran(ok(doit(tiny))) <= set(why)  # what ran had been announced


def test_explain_names_the_files_a_dataset_gained_and_lost_and_each_input_once(tiny):
    text = (tiny / "project.yaml").read_text()
    (tiny / "project.yaml").write_text(
        text.replace('images: "data/*.png"', 'images: ["data/img0.png", "data/img2.png"]')
    )
    why = _explain(tiny)
    assert why["calibrate:tiny"][0] == (
        'parameter dataset.files (datasets.pics: its files, split or limit): 3 → 2 items; -"data/img1.png"'
    )
    assert why["quantize:tiny/int8"][0] == (
        'parameter errors_dataset.files (datasets.pics: its files, split or limit): 3 → 2 items; -"data/img1.png"'
    )
    assert len(why["quantize:tiny/int8"]) == len(set(why["quantize:tiny/int8"]))
    assert explain.parameter_changes({"f": ["a", "b"]}, {"f": ["b", "a"]}) == [
        "parameter f: the same 2 items in another order"
    ]


def test_explain_names_a_changed_file_with_its_hashes(tiny):
    photo = tiny / "data" / "img0.png"
    old = _md5(photo)
    photo.write_bytes((tiny / "data" / "img2.png").read_bytes())
    why = _explain(tiny)
    line = f"input changed: data/img0.png (md5 {old[:8]} → {_md5(photo)[:8]})"
    for step in ("quantize:tiny/int8", "quantize:tiny/a16w8", "evaluate:tiny/int8"):
        assert line in why[step]
    assert "import:tiny" not in why
    assert ran(ok(doit(tiny))) <= set(why)


def test_explain_names_a_missing_output_and_a_forgotten_record(tiny):
    (tiny / "build" / "tiny" / "int8" / "u55" / "findings.json").unlink()
    ok(doit(tiny, "forget", "evaluate:tiny/a16w8"))
    why = _explain(tiny)
    assert why["analyse:tiny/int8@u55"] == ["missing output: build/tiny/int8/u55/findings.json"]
    assert why["evaluate:tiny/a16w8"] == ["no record of an earlier run (a new step, or its record was forgotten)"]
    assert why["results"][0].startswith("upstream ")
    assert set(why) == {"analyse:tiny/int8@u55", "evaluate:tiny/a16w8", "results", "report"}
    # the re-run steps wrote the same bytes again, so results and report had nothing to follow
    assert ran(ok(doit(tiny))) == {"analyse:tiny/int8@u55", "evaluate:tiny/a16w8"}

    (tiny / "models" / "tiny.py").unlink()  # a missing source is found when project.yaml is read
    proc = doit(tiny, "explain")
    assert proc.returncode == 2
    assert proc.stderr.startswith("ERROR: project.yaml:7: models.tiny.source.builder: builder file 'models/tiny.py'")


def test_explain_says_which_steps_run_every_time_and_when_nothing_would_run(tiny):
    assert ok(doit(tiny, "explain")).stdout == "all 21 steps are up to date; nothing would run.\n"
    text = (tiny / "project.yaml").read_text()
    write(tiny / "project.yaml", text + 'release: {version: "0.1", variants: ["tiny/int8@u65"]}\n')
    why = _explain(tiny, "verify-release")
    assert why == {"verify-release": ["runs every time: it checks or measures, it does not build"]}


def test_explain_with_no_plugins_installed_says_how_to_install_them(tmp_path):
    """doit without NPUForge's entry points (another Python): one line naming the fix."""
    tiny_project(tmp_path)
    shutil.copyfile(REPO / "dodo.py", tmp_path / "dodo.py")
    code = (
        "import sys; from doit import plugin; from doit.doit_cmd import DoitMain;"
        "plugin.entry_points_impl = lambda: (lambda group: []);"  # as if the checkout were not installed
        "sys.exit(DoitMain(config_filenames=()).run(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "list"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "NPUForge's doit plugins are not installed in this Python" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("how, jobs", [("int", "1"), ("term", "1"), ("int", "2"), ("term", "2")])
def test_interrupt_stops_the_build_kills_its_steps_and_leaves_no_temporary_files(tmp_path, tiny_steps, how, jobs):
    project = tmp_path / "p"
    tiny_project(project)
    scratch = tmp_path / "system-tmp"
    scratch.mkdir()
    steps = tiny_steps
    # 0.3 s into the third step (import and rewrite done, or with -n 2 under way): TensorFlow is
    # quantizing in the step's own process; the rest of this small build takes seconds, not more
    trial = run_and_stop(project, finished=2, delay=0.3, how=how, args=("-n", jobs), env={"TMPDIR": str(scratch)})
    assert trial.returncode == engine.INTERRUPTED_EXIT, trial.errors
    assert "interrupted: the steps that finished are recorded; run the same command to go on" in trial.errors
    assert "Traceback" not in trial.errors
    assert wait_for_no_step_processes(trial.pid, seconds=0.0) == []
    assert temporary_files(project / "build") == []
    assert list(scratch.iterdir()) == []
    assert (project / "build" / ".lock").read_text().split()[1] == "interrupted"
    assert broken_artifacts(project / "build") == []
    done = recorded(project, steps)
    assert done <= set(trial.started)
    if jobs == "1":  # one step at a time: the second started once the first was recorded
        assert done >= set(trial.started[:1])
    resumed = ok(doit(project, "-n", jobs))  # "run the same command to go on"
    assert not ran(resumed) & done
    assert recorded(project, steps) == steps


def test_a_waiting_build_can_be_interrupted_too(tiny):
    first = start_doit(tiny, "--always-execute", "results")
    _started(first)
    waiting = start_doit(tiny, start_new_session=True)
    deadline = time.monotonic() + 60
    err = ""
    while "waiting for another build" not in err and time.monotonic() < deadline:
        err += waiting.stderr.readline()
    os.killpg(waiting.pid, signal.SIGINT)
    _, rest = waiting.communicate(timeout=60)
    first.terminate()  # it held the lock while the other waited: stopped rather than left to build on
    first.communicate(timeout=600)
    assert waiting.returncode == engine.INTERRUPTED_EXIT, err + rest
    assert "Traceback" not in err + rest
