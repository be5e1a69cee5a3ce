"""Benchmarks on boards: a real OpenSSH server on 127.0.0.1 and this machine; every fault's message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sshd

from models_for_tests import keras_net, tflite_of
from support import DATA
from tasks.boards import benchmark_output as benchmark_model
from tasks.boards.transport import BoardError
from tasks.steps import benchmark


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = sshd.start(tmp_path_factory.mktemp("sshd"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "net.tflite"
    path.write_bytes(tflite_of(keras_net(batch=1)))
    return path


CONNECTION = ("name", "key", "known_hosts", "host_key", "timeout", "connect_timeout")


def bench(model: Path, out: Path, board: dict) -> dict:
    """The benchmark step on ``board`` (one dict, split as planning splits it: settings and connection)."""
    settings = {k: v for k, v in board.items() if k not in CONNECTION}
    connection = {k: v for k, v in board.items() if k in CONNECTION}
    benchmark.run(
        benchmark.Options(board=settings, label="net/fp32@cpu", artifact=model, out=out, connection=connection)
    )
    return json.loads(out.read_text())


def test_parse_old_benchmark_model_output():
    parsed = benchmark_model.parse((DATA / "benchmark_model-old.txt").read_text())
    assert parsed["latency_ms"] == {"avg": 2.69312, "min": 2.653, "max": 2.849, "std": 0.021, "median": None}
    assert parsed["runs"] == 361 and parsed["first_ms"] == 6036.807 and parsed["init_ms"] == 3.84
    assert parsed["peak_mem_mb"] == 29.0273 and parsed["delegated"] is None


def test_parse_new_wording_and_delegate_lines():
    text = (
        "INFO: Replacing 12 out of 14 node(s) with delegate (TfLiteVsiNpuDelegate) node, yielding 2 partitions.\n"
        "INFO: The given model will be partially executed by the delegate.\n"
        "count=20 first=900 curr=800 min=790 max=1.2e+03 avg=812.5 std=9\n"
        "Inference timings in us: Init: 2.1e+04, First inference: 9.1e+06, "
        "Warmup (avg): 9.1e+06, Inference (avg): 812.5\n"
        "Memory footprint delta from the start of the tool (MB): init=3.1 overall=20.5\n"
        "Overall peak memory footprint (MB) via periodic monitoring: 41.25\n"
    )
    parsed = benchmark_model.parse(text)
    assert parsed["latency_ms"]["max"] == 1.2 and parsed["first_ms"] == 9100.0 and parsed["init_ms"] == 21.0
    assert parsed["peak_mem_mb"] == 41.25
    assert parsed["delegated"] == {"nodes": 12, "total": 14, "complete": False}


def test_local_board(model: Path, tmp_path: Path, server):
    board = server.board("local", host="local")
    result = bench(model, tmp_path / "b.json", board)
    assert result["board"] == "local" and result["runs"] == 3 and result["bytes_sent"] == 0
    assert 0 < result["latency_ms"]["min"] <= result["latency_ms"]["avg"] <= result["latency_ms"]["max"]


def test_ssh_board_uploads_once(server, model: Path, tmp_path: Path):
    first = bench(model, tmp_path / "1.json", server.board())
    runner = benchmark.RUNNER.stat().st_size
    assert first["bytes_sent"] == model.stat().st_size + runner
    assert first["latency_ms"]["avg"] > 0 and first["runs"] == 3
    assert "--graph=" in first["command"] and str(server.folder / "board") in first["command"]
    second = bench(model, tmp_path / "2.json", server.board())
    assert second["bytes_sent"] == 0


def test_max_seconds_stops_the_measured_runs_on_time(server, model: Path, tmp_path: Path):
    board = {**server.board(), "runs": 1_000_000, "max_seconds": 0.3}  # a million runs would take minutes
    result = bench(model, tmp_path / "b.json", board)
    assert "--max_secs=0.3" in result["command"]
    assert 1 <= result["runs"] < 1_000_000 and result["latency_ms"]["avg"] > 0
    assert result["runs"] * result["latency_ms"]["avg"] / 1000 < 3  # the runs stopped near 0.3 s, not at 1e6


def test_pinned_host_key_is_accepted_without_known_hosts(server, model: Path, tmp_path: Path):
    board = server.board(known_hosts=str(tmp_path / "empty"), host_key=server.host_fingerprint)
    assert bench(model, tmp_path / "b.json", board)["runs"] == 3


def test_unknown_host_key_is_refused(server, model: Path, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", server.board(known_hosts=str(empty)))
    assert str(info.value) == (
        f"board ssh ({server.board()['user']}@127.0.0.1:{server.port}): unknown host key {server.host_fingerprint} "
        f"(ssh-ed25519), not in {empty}; if it is the board's, add it: ssh-keyscan -p {server.port} 127.0.0.1 >> "
        f'{empty} (or pin it: host_key: "{server.host_fingerprint}")'
    )
    assert not (tmp_path / "b.json").exists()


def test_wrong_pinned_key_is_refused(server, model: Path, tmp_path: Path):
    with pytest.raises(BoardError, match=r"does not match host_key SHA256:AAAA in project.yaml"):
        bench(model, tmp_path / "b.json", server.board(host_key="SHA256:AAAA"))


def test_connection_refused(server, model: Path, tmp_path: Path):
    port = sshd.free_port()
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", server.board(port=port))
    assert str(info.value).endswith(
        f"@127.0.0.1:{port}): connection refused; check host and port, and that sshd runs on the board"
    )


def test_bad_key(server, model: Path, tmp_path: Path):
    import subprocess

    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(
        BoardError, match=r"authentication failed for user .*; check key \(.*other\) and that its public key"
    ):
        bench(model, tmp_path / "b.json", server.board(key=str(other)))


def test_hanging_command_times_out(server, model: Path, tmp_path: Path):
    hang = server.folder / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 60\n")
    hang.chmod(0o755)
    board = server.board(runner="benchmark_model", command=str(hang), timeout=2.0)
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", board)
    assert "the command did not finish within 2 s; check the board" in str(info.value)


def test_garbage_output_is_not_a_result(server, model: Path, tmp_path: Path):
    board = server.board(runner="benchmark_model", command="/bin/echo")
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", board)
    assert (
        "cannot read the benchmark output (no 'Inference timings in us' line); is the command benchmark_model?"
        in str(info.value)
    )
    assert "--graph=" in str(info.value)
    assert not (tmp_path / "b.json").exists()


def test_failing_command_reports_its_exit_code(server, model: Path, tmp_path: Path):
    board = server.board(runner="benchmark_model", command="/bin/false")
    with pytest.raises(BoardError, match=r"board ssh: the benchmark exited with code 1"):
        bench(model, tmp_path / "b.json", board)


def test_connection_dropped_mid_run(server, model: Path, tmp_path: Path):
    import subprocess
    import threading
    import time

    slow = server.folder / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 20\n")
    slow.chmod(0o755)
    board = server.board(runner="benchmark_model", command=str(slow), timeout=30.0)

    def drop() -> None:
        time.sleep(1.5)  # the command is running: kill sshd's per-connection processes
        subprocess.run(["pkill", "-KILL", "-P", str(server.process.pid)], check=False)

    killer = threading.Thread(target=drop)
    killer.start()
    started = time.monotonic()
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", board)
    killer.join()
    assert time.monotonic() - started < 15  # noticed at once, not at the timeout
    assert str(info.value) == (
        f"board ssh ({server.board()['user']}@127.0.0.1:{server.port}): the connection dropped during the run "
        "(no exit status); check the board"
    )
    assert not (tmp_path / "b.json").exists()


def test_two_boards_share_a_target_under_parallel_doit(tiny: Path, tmp_path: Path):
    from support import doit, ok, ran

    servers = [sshd.start(tmp_path / f"sshd{i}") for i in range(2)]
    try:
        entries = []
        for name, srv in zip(("a", "b"), servers, strict=True):
            b = srv.board(name)
            entries.append(
                f"  {name}: {{host: 127.0.0.1, port: {srv.port}, user: {b['user']}, key: {b['key']}, "
                f"known_hosts: {b['known_hosts']}, workdir: {b['workdir']}, targets: [cpu], "
                f"benchmark: {{python: {b['python']}, runs: 3, warmup: 1}}}}"
            )
        project = tiny / "project.yaml"
        project.write_text(project.read_text() + "boards:\n" + "\n".join(entries) + "\n")
        proc = ok(doit(tiny, "-n", "2"))
        assert {s for s in ran(proc) if s.startswith("benchmark:")} == {
            "benchmark:a:tiny/int8@cpu",
            "benchmark:b:tiny/a16w8@cpu",
        }
        results = json.loads((tiny / "build" / "results.json").read_text())
        measured = {v["id"]: v["benchmark"]["board"] for v in results["variants"] if v["benchmark"]}
        assert measured == {"tiny/int8@cpu": "a", "tiny/a16w8@cpu": "b"}
    finally:
        for srv in servers:
            srv.stop()


def test_a_synap_model_runs_with_the_boards_synap_cli(server, model: Path, tmp_path: Path):
    """This board has no SyNAP runtime: the step says which program is missing and where to set it."""
    board = server.board(kind="synap_cli", synap_cli="synap_cli", env={})
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", board)
    assert str(info.value) == (
        "board ssh: synap_cli is not installed on the board (exit 127); "
        "install it there, or give its path as boards.ssh.benchmark.synap_cli"
    )
    assert not (tmp_path / "b.json").exists()


@pytest.fixture
def adb_server():
    import shutil
    import subprocess

    if shutil.which("adb") is None:
        pytest.fail("adb is not installed: `make test` installs it")
    yield
    subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)


def test_an_adb_board_without_that_device_is_named(adb_server, model: Path, tmp_path: Path):
    board = {
        "name": "vs680",
        "host": None,
        "transport": "adb",
        "serial": "npuforge-no-such-device",
        "port": 22,
        "user": None,
        "workdir": "/data/local/tmp/npuforge",
        "timeout": 60.0,
        "connect_timeout": 30.0,
        "runner": "litert",
        "kind": "synap_cli",
        "synap_cli": "synap_cli",
        "runs": 3,
        "env": {},
    }
    with pytest.raises(BoardError) as info:
        bench(model, tmp_path / "b.json", board)
    message = str(info.value)
    assert message.startswith("board vs680 (adb serial npuforge-no-such-device): no device with that serial (")
    assert message.endswith("); check `adb devices` (cable, authorisation, or `adb connect HOST:PORT`)")
    assert not (tmp_path / "b.json").exists()
