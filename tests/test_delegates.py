"""Delegate targets (i.MX8M Plus VX, Arm NN, XNNPACK): no compile step, the quantized model benchmarked
through a delegate on a real SSH board, findings from the model's operators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sshd

from support import doit, ok, ran
from tasks import config
from tasks.errors import ConfigError


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = sshd.start(tmp_path_factory.mktemp("sshd"))
    yield srv
    srv.stop()


def delegate_project(tiny: Path, server, targets: str, board_benchmark: str = "") -> None:
    b = server.board()
    text = (tiny / "project.yaml").read_text()
    text = text.replace("  int8: {type: int8}\n", "  int8: {type: int8}\n  int8_io: {type: int8, io: int8}\n")
    text = text.replace("targets:\n", "targets:\n" + targets)
    names = [line.split(":")[0].strip() for line in targets.strip().splitlines()]
    text += (
        f"boards:\n  imx: {{host: 127.0.0.1, port: {server.port}, user: {b['user']}, key: {b['key']}, "
        f"known_hosts: {b['known_hosts']}, workdir: {b['workdir']}, targets: [{', '.join(names)}], "
        f"benchmark: {{python: {b['python']}, runs: 3, warmup: 1{board_benchmark}}}}}\n"
        f"builds:\n  - {{models: [tiny], quantization: [int8, int8_io], targets: [{', '.join(names)}]}}\n"
    )
    (tiny / "project.yaml").write_text(text)


def test_xnnpack_target_benchmarks_on_the_board_with_first_inference_and_graph_cache(tiny, server):
    delegate_project(tiny, server, "  xnn: {compiler: none, delegate: xnnpack}\n", ", graph_cache: /tmp/vx-cache")
    proc = ok(doit(tiny))
    assert not any(s.startswith("compile:") for s in ran(proc))  # a delegate target has no compile step
    results = {v["id"]: v for v in json.loads((tiny / "build" / "results.json").read_text())["variants"]}
    bench = results["tiny/int8@xnn"]["benchmark"]
    assert bench["board"] == "imx" and bench["runs"] == 3
    assert bench["first_ms"] > 0 and bench["init_ms"] > 0  # first inference reported on its own
    assert "--use_xnnpack=true" in bench["command"]
    assert bench["command"].startswith(
        "env VIV_VX_CACHE_BINARY_GRAPH_DIR=/tmp/vx-cache VIV_VX_ENABLE_CACHE_GRAPH_BINARY=1 "
    )
    assert results["tiny/int8@xnn"]["artifact"] == "build/tiny/int8/tiny_int8.tflite"
    assert "first inference ms" in (tiny / "build" / "report" / "report.md").read_text()


def test_findings_name_the_float_io_conversions_a_delegate_leaves_on_the_cpu(tiny, server):
    delegate_project(tiny, server, "  xnn: {compiler: none, delegate: xnnpack}\n")
    ok(doit(tiny, "analyse"))
    float_io = json.loads((tiny / "build/tiny/int8/xnn/findings.json").read_text())
    assert [(f["kind"], f["op"]) for f in float_io] == [("cpu_fallback", "QUANTIZE"), ("cpu_fallback", "DEQUANTIZE")]
    assert float_io[0]["action"].startswith("float input: quantize with integer I/O (io: int8)")
    assert "(xnnpack delegate): float input" in float_io[0]["detail"]
    assert json.loads((tiny / "build/tiny/int8_io/xnn/findings.json").read_text()) == []


def test_the_vx_delegate_library_and_its_options_reach_the_runner_on_the_board(tiny, server):
    delegate_project(
        tiny,
        server,
        "  imx8mp: {compiler: none, delegate: vx, delegate_options: {backends: [VsiNpu, CpuAcc, CpuRef]}}\n",
    )
    proc = doit(tiny, "benchmark:imx:tiny/int8@imx8mp")
    assert proc.returncode != 0
    said = proc.stdout + proc.stderr
    # this machine has no VX delegate: the board's runner says so, naming what it was given
    assert "External delegate path: [/usr/lib/libvx_delegate.so]" in said
    assert "External delegate options: [backends:VsiNpu,CpuAcc,CpuRef]" in said
    assert "ERROR: cannot load delegate /usr/lib/libvx_delegate.so: /usr/lib/libvx_delegate.so: cannot open" in said
    assert "board imx: the benchmark exited with code 1" in said
    assert not (tiny / "build/tiny/int8/imx8mp/benchmark-imx.json").exists()


def test_a_board_maps_a_named_delegate_to_its_own_library_and_a_target_may_give_a_path(tiny, server):
    delegate_project(
        tiny,
        server,
        "  imx8mp: {compiler: none, delegate: vx}\n  custom: {compiler: none, delegate: /opt/npu/libmy_delegate.so}\n",
        ", delegates: {vx: /opt/imx-bsp/libvx_delegate.so}",
    )
    said = "".join(
        p.stdout + p.stderr
        for p in (doit(tiny, "benchmark:imx:tiny/int8@imx8mp"), doit(tiny, "benchmark:imx:tiny/int8@custom"))
    )
    assert "External delegate path: [/opt/imx-bsp/libvx_delegate.so]" in said
    assert "ERROR: cannot load delegate /opt/npu/libmy_delegate.so" in said


def test_delegate_options_need_a_delegate(tmp_path):
    from support import tiny_project

    project = tiny_project(tmp_path)
    project.write_text(
        project.read_text().replace("cpu: {compiler: none}", "cpu: {compiler: none, delegate_options: {a: 1}}")
    )
    with pytest.raises(
        ConfigError, match=r"targets.cpu.delegate_options: delegate_options need a delegate: name it too"
    ):
        config.load(project)
