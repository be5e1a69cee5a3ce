"""Accuracy on the board: tiny int8 models quantized here, a real OpenSSH server as the board, and this machine.

What the measurements found (LiteRT 2.3.0, x86-64): the interpreter's default
op resolver applies XNNPACK, int8 included, whether or not the target names
it (``delegate: xnnpack`` adds ``--use_xnnpack=true``, the same resolver).
XNNPACK requantizes in float where TFLite's builtin kernels use a fixed-point
multiplier, so a small convolution net differs from the host's builtin
kernels by 1 LSB on some samples; an identity 1x1 convolution (exact
requantization) agrees bit for bit; a float model differs by a few ulp.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import sshd

from models_for_tests import calibrated_by_step, identity_conv, imported, keras_net, random_dataset
from support import doit, ok, ran, tiny_project
from tasks import config
from tasks.boards.transport import BoardError
from tasks.engine import plan
from tasks.errors import ConfigError
from tasks.model.datasets import Samples
from tasks.steps import agreement, quantize

CONNECTION = ("name", "key", "known_hosts", "host_key", "timeout", "connect_timeout")
VALIDATION = Samples(name="val", kind="random", seed=7, count=16)  # other samples than the calibration's (seed 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = sshd.start(tmp_path_factory.mktemp("sshd"))
    yield srv
    srv.stop()


def int8_model(folder: Path, keras_model) -> Path:
    """``keras_model`` imported and quantized by the quantize step: int8 inside and at its input and output."""
    out = folder / "net_int8_io.tflite"
    float_model = imported(folder, keras_model)
    scheme = quantize.Scheme(type="int8", io="int8")
    quantize.run(
        quantize.Options(
            scheme=scheme,
            label="net/int8_io",
            where=quantize.Where(scheme="int8_io", model="models.net", unit="models.net"),
            model=float_model,
            out=out,
            facts=folder / "quantize.json",
            **calibrated_by_step(float_model, random_dataset(), folder / "calibrated"),
        )
    )
    return out


@pytest.fixture(scope="module")
def conv_net(tmp_path_factory) -> Path:
    return int8_model(tmp_path_factory.mktemp("conv"), keras_net(batch=1))


@pytest.fixture(scope="module")
def identity(tmp_path_factory) -> Path:
    return int8_model(tmp_path_factory.mktemp("identity"), identity_conv())


@pytest.fixture(scope="module")
def float_net(tmp_path_factory) -> Path:
    return imported(tmp_path_factory.mktemp("float"), keras_net(batch=1))


def output_scale(model: Path) -> float:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(model)).get_output_details()[0]["quantization"][0]


def agree(model: Path, out: Path, board: dict, tolerance_lsb: int = 0, tolerance_abs: float = 0.0) -> dict:
    """The agreement step on ``board`` (split as planning splits it), 16 samples of a seeded random set."""
    settings = {k: v for k, v in board.items() if k not in CONNECTION}
    connection = {k: v for k, v in board.items() if k in CONNECTION}
    options = agreement.Options(
        board=settings,
        label="net/int8_io@cpu",
        samples=16,
        tolerance_lsb=tolerance_lsb,
        tolerance_abs=tolerance_abs,
        artifact=model,
        host_model=model,
        dataset=VALIDATION,
        out=out,
        connection=connection,
    )
    agreement.run(options)
    return json.loads(out.read_text())


def test_the_plain_cpu_runtime_over_ssh_agrees_bit_exactly(server, identity: Path, tmp_path: Path):
    """An identity 1x1 convolution: XNNPACK, which the default runtime applies, requantizes it exactly too."""
    result = agree(identity, tmp_path / "agreement.json", server.board())
    (name,) = result["outputs"]
    assert result["agreement"] == 1.0 and result["samples"] == 16 and result["tolerance_lsb"] == 0
    assert result["outputs"][name] == {
        "index": 0,
        "dtype": "int8",
        "shape": [1, 4, 4, 8],
        "agreement": 1.0,
        "exact": 1.0,
        "max_abs": 0.0,
        "max_lsb": 0,
        "max_ulp": None,
        "snr_db": 200.0,
        "first_mismatch": None,
    }
    uploaded = identity.stat().st_size + agreement.RUNNER.stat().st_size
    assert result["bytes_sent"] > uploaded  # the model, the runner and the inputs
    assert "--inputs=" in result["command"] and str(server.folder / "board") in result["command"]
    again = agree(identity, tmp_path / "again.json", server.board())
    assert again["bytes_sent"] == 0 and again["outputs"] == result["outputs"]  # all of it already on the board
    assert not list((server.folder / "board").glob("outputs-*"))  # read back, then removed there


def test_xnnpack_rounds_int8_differently_from_the_builtin_kernels(server, conv_net: Path, tmp_path: Path):
    """``delegate: xnnpack`` on the target (benchmark's --use_xnnpack=true): 1 LSB off on some samples."""
    xnnpack = agree(conv_net, tmp_path / "xnnpack.json", server.board(xnnpack=True))
    assert "--use_xnnpack=true" in xnnpack["command"]
    (m,) = xnnpack["outputs"].values()
    assert 0.5 < xnnpack["agreement"] < 1.0 and m["max_lsb"] == 1 and m["first_mismatch"] is not None
    assert 0.9 < m["exact"] < 1.0 and m["max_abs"] == pytest.approx(output_scale(conv_net)) and m["snr_db"] < 200
    plain = agree(conv_net, tmp_path / "plain.json", server.board())  # the default resolver applies XNNPACK too
    assert plain["outputs"] == xnnpack["outputs"]
    lenient = agree(conv_net, tmp_path / "lenient.json", server.board(xnnpack=True), tolerance_lsb=1)
    assert lenient["agreement"] == 1.0 and lenient["tolerance_lsb"] == 1


def test_the_builtin_kernels_on_the_board_side_agree_bit_for_bit(conv_net: Path, tmp_path: Path):
    """The runner without XNNPACK (--use_xnnpack=false) gives the host's integers: the difference above is XNNPACK's."""
    import subprocess
    import sys

    from tasks.model import agreement as host_side

    stacks = host_side.inputs(conv_net, VALIDATION, 16, "board here")
    details, host = host_side.host_outputs(conv_net, stacks, "board here")
    inputs, outputs = tmp_path / "in.npz", tmp_path / "out.npz"
    inputs.write_bytes(host_side.npz_bytes({"input_0": stacks[0]}))
    argv = [sys.executable, str(agreement.RUNNER), f"--graph={conv_net}", f"--inputs={inputs}", f"--outputs={outputs}"]
    subprocess.run([*argv, "--use_xnnpack=false"], check=True, capture_output=True, timeout=120)
    board = host_side.read_outputs(outputs.read_bytes(), "board here")
    compared = host_side.compare(details, host, board, 0, 0.0, "board here")
    assert compared["agreement"] == 1.0 and next(iter(compared["outputs"].values()))["max_lsb"] == 0


def test_a_float_model_on_this_machine_differs_by_ulps(server, float_net: Path, tmp_path: Path):
    board = server.board("local", host="local", xnnpack=True)
    exact = agree(float_net, tmp_path / "exact.json", board)
    (m,) = exact["outputs"].values()
    assert exact["agreement"] < 1.0 and exact["bytes_sent"] == 0
    assert m["dtype"] == "float32" and m["max_lsb"] is None and m["max_ulp"] > 0 and 0 < m["max_abs"] < 1e-5
    loose = agree(float_net, tmp_path / "loose.json", board, tolerance_abs=1e-5)
    assert loose["agreement"] == 1.0 and loose["tolerance_abs"] == 1e-5


def test_a_board_without_that_python_names_the_key_to_set(server, identity: Path, tmp_path: Path):
    with pytest.raises(BoardError) as info:
        agree(identity, tmp_path / "a.json", server.board(python="/opt/no-such/python3"))
    assert str(info.value) == (
        "board ssh: /opt/no-such/python3 is not installed on the board (exit 127); install Python with "
        "ai-edge-litert there, or give its path as boards.ssh.benchmark.python"
    )
    assert not (tmp_path / "a.json").exists()


def test_a_failing_runner_is_not_a_result(server, identity: Path, tmp_path: Path):
    with pytest.raises(BoardError) as info:
        agree(identity, tmp_path / "a.json", server.board(delegate="/opt/no-such/libdelegate.so"))
    message = str(info.value)
    assert message.startswith("board ssh: the outputs runner exited with code 1:\n")
    assert "ERROR: cannot load delegate /opt/no-such/libdelegate.so" in message
    assert not (tmp_path / "a.json").exists()


def boards_section(cpu: str, other: str) -> str:
    return (
        "boards:\n"
        f"  a: {{host: 10.0.0.2, targets: [cpu]{cpu}}}\n"
        "  b: {host: 10.0.0.3, targets: [cpu]}\n"
        f"  c: {{host: 10.0.0.4, targets: [u65]{other}}}\n"
    )


def test_only_boards_that_opt_in_get_agreement_steps(tmp_path: Path):
    path = tiny_project(tmp_path)
    path.write_text(
        path.read_text() + boards_section(", agreement: {samples: 4, tolerance_lsb: 1}", ", agreement: true")
    )
    project = config.load(path)
    planning = plan.planning(project)
    steps = {s.task_name: s for s in planning.steps if s.kind.name == "agreement"}
    # b serves cpu too: it measures a16w8@cpu, and b does not opt in
    assert list(steps) == ["agreement:c:tiny/int8@u65", "agreement:a:tiny/int8@cpu", "agreement:c:tiny/a16w8@u65"]
    on_cpu, on_u65 = steps["agreement:a:tiny/int8@cpu"], steps["agreement:c:tiny/int8@u65"]
    build = project.build_dir / "tiny"
    assert on_u65.file_dep[:2] == (
        build / "int8" / "u65" / "tiny_int8_vela.tflite",
        build / "int8" / "tiny_int8.tflite",
    )
    assert sorted(p.name for p in on_u65.file_dep[2:]) == ["host-outputs.npz", "img0.png", "img1.png", "img2.png"]
    # the host's half comes from the evaluate step, which keeps the most samples any board compares (a: 4, c: 16)
    evaluate = planning.find("evaluate:tiny/int8").options
    assert on_u65.options.host == on_cpu.options.host == evaluate.kept == build / "int8" / "host-outputs.npz"
    assert evaluate.keep == 16
    assert on_u65.targets == (build / "int8" / "u65" / "agreement-c.json",)
    assert (
        on_cpu.options.artifact
        == on_cpu.options.host_model
        == on_cpu.file_dep[0]
        == build / "int8" / "tiny_int8.tflite"
    )
    fingerprint = planning.fingerprint(on_cpu)
    assert (fingerprint["samples"], fingerprint["tolerance_lsb"], fingerprint["tolerance_abs"]) == (4, 1, 0.0)
    assert fingerprint["board"] == planning.fingerprint(planning.find("benchmark:a:tiny/int8@cpu"))["board"]
    assert "connection" not in fingerprint and planning.fingerprint(on_u65)["samples"] == 16


def test_no_board_opts_in_no_agreement_step(tmp_path: Path):
    path = tiny_project(tmp_path)
    path.write_text(path.read_text() + boards_section(", agreement: false", ""))
    assert not [s for s in plan.plan(config.load(path)) if s.kind.name == "agreement"]


def test_a_misspelt_agreement_key_is_refused(tmp_path: Path):
    path = tiny_project(tmp_path)
    path.write_text(path.read_text() + boards_section(", agreement: {sample: 4}", ""))
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == (
        f"{path}:18: boards.a.agreement.sample: unknown key 'sample'; "
        "allowed keys: samples, tolerance_abs, tolerance_lsb"
    )


def test_doit_runs_agreement_on_this_machine(tiny: Path):
    project = tiny / "project.yaml"
    project.write_text(
        project.read_text() + "boards:\n  here: {host: local, targets: [cpu], agreement: {samples: 2}}\n"
    )
    proc = ok(doit(tiny, "agreement"))
    assert {s for s in ran(proc) if s.startswith("agreement:")} == {
        "agreement:here:tiny/int8@cpu",
        "agreement:here:tiny/a16w8@cpu",
    }
    facts = json.loads((tiny / "build" / "tiny" / "int8" / "cpu" / "agreement-here.json").read_text())
    assert facts["board"] == "here" and facts["samples"] == 2 and facts["dataset"] == "pics"
    assert set(facts["outputs"]) and all(m["dtype"] == "float32" for m in facts["outputs"].values())
    assert "agree with the host" in proc.stdout
    assert not ran(ok(doit(tiny, "agreement"))) & {"agreement:here:tiny/int8@cpu"}  # up to date: nothing re-runs
    # the host's half came from the evaluate step's outputs, and is what running the model here gives
    assert proc.stdout.count("the host's outputs on 2 samples: kept by the evaluate step") == 2
    step = plan.planning(config.load(project)).find("agreement:here:tiny/a16w8@cpu")
    assert step.options.host == tiny / "build" / "tiny" / "a16w8" / "host-outputs.npz"
    again = tiny / "again.json"
    agreement.run(dataclasses.replace(step.options, host=None, out=again))
    kept = json.loads(step.options.out.read_text())
    assert {k: v for k, v in json.loads(again.read_text()).items() if k != "command"} == {
        k: v for k, v in kept.items() if k != "command"
    }


def test_kept_outputs_are_taken_only_for_the_same_inputs(conv_net: Path, tmp_path: Path):
    from tasks.model import accuracy, host_outputs
    from tasks.model import agreement as host_side

    runner = accuracy.Runner(conv_net.read_bytes())
    stacks = host_side.inputs(conv_net, VALIDATION, 4, "board here")
    keeper = host_outputs.Keeper(runner.outputs, 3)
    for x in host_side.inputs(conv_net, VALIDATION, 5, "board here")[0]:
        keeper.add(x, runner.runner(**{next(iter(runner.inputs)): x}))
    keeper.write(tmp_path / "kept.npz")
    details, computed = host_side.host_outputs(conv_net, [stacks[0][:2]], "board here")
    outs = [{"index": d["index"]} for d in details]
    taken = host_outputs.taken(tmp_path / "kept.npz", [stacks[0][:2]], outs)
    assert [t.tobytes() for t in taken] == [c.tobytes() for c in computed]  # the first two of the three kept
    assert host_outputs.taken(tmp_path / "kept.npz", stacks, outs) is None  # four samples: more than kept
    other = [stacks[0][1:3]]  # other inputs (the 2nd and 3rd samples) than the kept ones
    assert host_outputs.taken(tmp_path / "kept.npz", other, outs) is None
    assert host_outputs.taken(tmp_path / "kept.npz", [stacks[0][:2]], [{"index": 999}]) is None
    (tmp_path / "damaged.npz").write_bytes(b"PK\x03\x04 not a whole archive")
    assert host_outputs.taken(tmp_path / "damaged.npz", [stacks[0][:2]], outs) is None


def test_a_dequantized_float_output_is_compared_in_its_integer_steps():
    import numpy as np

    from tasks.model.agreement import output_metrics

    # softmax-like output: dequantized from int8 with a step of 1/256; the board's second sample is one step off
    host = np.array([[[0.0, 0.5]], [[0.25, 0.75]]], dtype=np.float32)
    board = np.array([[[0.0, 0.5]], [[0.25, 0.75 + 1 / 256]]], dtype=np.float32)
    detail = {"name": "probs", "step": 1 / 256}
    metrics, agree = output_metrics(detail, host, board, tolerance_lsb=1, tolerance_abs=0.0)
    assert metrics["max_lsb"] == 1 and list(agree) == [True, True]
    metrics, agree = output_metrics(detail, host, board, tolerance_lsb=0, tolerance_abs=0.0)
    assert list(agree) == [True, False] and metrics["agreement"] == 0.5
    # a float output of its own (no integer tensor behind it): no steps, only tolerance_abs
    metrics, agree = output_metrics({"name": "f", "step": None}, host, board, tolerance_lsb=1, tolerance_abs=0.0)
    assert metrics["max_lsb"] is None and list(agree) == [True, False]
