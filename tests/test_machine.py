"""A benchmark on this machine holds its cores: no step runs beside it, and it is not starved."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from support import doit, ok
from tasks.boards import benchmark_output
from tasks.engine.machine import Machine
from tasks.steps import benchmark


def test_a_held_machine_waits_for_running_steps_and_keeps_new_ones_out():
    machine, log, lock = Machine(), [], threading.Lock()
    running, release = threading.Event(), threading.Event()

    def step(name: str, alone: bool, started: threading.Event | None = None, wait: threading.Event | None = None):
        with machine.use(alone):
            with lock:
                log.append(f"{name} start")
            if started:
                started.set()
            if wait:
                wait.wait(10)
            time.sleep(0.05)
            with lock:
                log.append(f"{name} end")

    first = threading.Thread(target=step, args=("quantize", False, running, release))
    first.start()
    running.wait(10)
    bench = threading.Thread(target=step, args=("benchmark", True))
    bench.start()
    time.sleep(0.1)  # the benchmark waits for quantize; a step asking now waits for the benchmark
    later = threading.Thread(target=step, args=("compile", False))
    later.start()
    time.sleep(0.1)
    assert log == ["quantize start"]
    release.set()
    for t in (first, bench, later):
        t.join(10)
    assert log == ["quantize start", "quantize end", "benchmark start", "benchmark end", "compile start", "compile end"]


def test_steps_that_share_run_side_by_side():
    machine, both = Machine(), threading.Barrier(2, timeout=10)

    def step():
        with machine.use(alone=False):
            both.wait()  # raises BrokenBarrierError unless the two run at once

    threads = [threading.Thread(target=step) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not both.broken


def test_only_a_board_that_is_this_machine_holds_it():
    def options(host: str | None, transport: str = "ssh") -> benchmark.Options:
        return benchmark.Options(
            board={"host": host, "transport": transport}, label="m/int8@cpu", artifact=None, out=None, connection={}
        )

    assert benchmark.on_this_machine(options("local")) and benchmark.on_this_machine(options("127.0.0.1"))
    assert not benchmark.on_this_machine(options("imx93.lab")) and not benchmark.on_this_machine(options(None, "adb"))


def test_the_median_run_is_read_where_the_tool_prints_it():
    line = "count=50 first=2795 curr=2704 min=2653 max=2849 avg=2693.12 std=21 p5=2660 median=2690 p95=2760"
    timings = "Inference timings in us: Init: 3840, First inference: 6036807, Warmup (avg): 6.03681e+06, "
    text = f"{line}\n{timings}Inference (avg): 2693.12\n"
    latency = benchmark_output.parse(text)["latency_ms"]
    assert latency == {"avg": 2.69312, "min": 2.653, "max": 2.849, "std": 0.021, "median": 2.69}
    older = text.replace(" p5=2660 median=2690 p95=2760", "")
    assert benchmark_output.parse(older)["latency_ms"]["median"] is None


def test_a_build_runs_the_benchmarks_on_this_machine_when_no_other_step_runs(tiny: Path):
    """The benchmarks ready early (the built schemes') wait for the new scheme's steps, not the other way."""
    text = (
        (tiny / "project.yaml")
        .read_text()
        .replace("  a16w8: {type: int16x8}\n", "  a16w8: {type: int16x8}\n  io: {type: int8, io: int8}\n")
    )
    (tiny / "project.yaml").write_text(text + "boards:\n  here: {host: local, targets: [cpu], benchmark: {runs: 2}}\n")
    proc = ok(doit(tiny, "-n", "2"))
    running: set[str] = set()
    order: list[tuple[str, set[str]]] = []  # each step as it starts, with the steps running then
    for line in proc.stdout.splitlines():
        if line.startswith(".  "):
            order.append((line[3:].strip(), set(running)))
            running.add(line[3:].strip())
        elif line.startswith("   ") and ": done in " in line:
            running.discard(line[3:].split(": done in ")[0])
    names = [name for name, _ in order]
    benchmarks = [i for i, name in enumerate(names) if name.startswith("benchmark:")]
    assert {names[i] for i in benchmarks} == {f"benchmark:here:tiny/{s}@cpu" for s in ("int8", "a16w8", "io")}
    assert "quantize:tiny/io" in names and "compile:tiny/io@u65" in names
    for i in benchmarks:
        assert order[i][1] == set(), f"{names[i]} started beside {order[i][1]}"
    after = {name for name in names[benchmarks[0] :] if not name.startswith("benchmark:")}
    assert after <= {"gates", "results", "report"}, after


def test_the_ready_step_with_the_longest_chain_after_it_goes_first(tmp_path: Path):
    """Four independent steps on two threads: the two with the most work after them start, then the others,
    longest first, whatever order doit lists them in."""
    from doit.control import TaskControl
    from doit.dependency import Dependency, JsonDB
    from doit.reporter import ZeroReporter
    from doit.task import Task

    from tasks.engine.machine import Runner

    started, lock = [], threading.Lock()

    def step(name: str) -> None:
        with lock:
            started.append(name)
        time.sleep(0.3)

    steps = (("short", 1.0), ("long", 9.0), ("medium", 4.0), ("longer", 12.0))
    tasks = [Task(n, [(step, [n])], meta={"alone": False, "priority": p}) for n, p in steps]
    control = TaskControl(tasks)
    control.process(None)
    runner = Runner(Dependency(JsonDB, str(tmp_path / "db.json")), ZeroReporter(None, {}), num_process=2)
    assert runner.run_all(control.task_dispatcher()) == 0
    assert set(started[:2]) == {"longer", "long"} and started[2:] == ["medium", "short"]
