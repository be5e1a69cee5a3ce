"""ONNX sources: onnx2tf in its own tool environment, checked against onnxruntime, then the usual import."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from support import REPO, doit, ok, reuse_fetched_wheels, write
from tasks.errors import StepError
from tasks.model import toolenv
from tasks.steps import convert

GRAPHS = REPO / "tests" / "onnx_graphs.py"


def onnx_graph(folder: Path, kind: str) -> Path:
    python = toolenv.ensure(toolenv.TOOLS["onnx2tf"])
    out = folder / f"{kind}.onnx"
    subprocess.run([str(python), str(GRAPHS), kind, str(out)], check=True, capture_output=True)
    return out


def do_convert(tmp_path: Path, source: Path, input_shape=None, samples=None) -> dict:
    out = tmp_path / "out" / "m_onnx.tflite"
    o = convert.Options(
        input_shape=input_shape,
        label="models.m",
        toolenv=toolenv.TOOLS["onnx2tf"].fingerprint(),
        source=source,
        out=out,
        facts=out.with_name("convert.json"),
        samples=samples,
    )
    convert.run(o)
    return json.loads(o.facts.read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_vision_graph_converts_with_its_layouts_recorded_and_the_source_untouched(tmp_path: Path, monkeypatch):
    source = onnx_graph(tmp_path, "dynamic")
    before = sha256(source)
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # no network: a download attempt would fail
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    facts = do_convert(tmp_path, source, input_shape=(1, 3, 16, 16))
    assert sha256(source) == before  # onnx2tf converts a copy
    (image,) = facts["inputs"]
    assert image["onnx"] == "image" and image["onnx_shape"] == [1, 3, 16, 16]
    assert image["tflite_shape"] == [1, 16, 16, 3] and image["layout"] == "axes [0, 2, 3, 1]"
    (scores,) = facts["outputs"]
    assert scores["onnx_shape"] == [1, 12, 16, 16] and scores["tflite_shape"] == [1, 16, 16, 12]
    assert facts["max_rel_diff"] < convert.TOLERANCE
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "CONCATENATION", "SOFTMAX"} <= set(facts["ops"])


def test_the_conversion_is_checked_on_calibration_images_too_and_they_decide(tmp_path: Path, monkeypatch):
    import numpy as np
    from PIL import Image

    from tasks.model.datasets import Preprocess, Samples

    files = []
    for i in range(3):
        files.append(tmp_path / f"img{i}.png")
        pixels = np.random.default_rng(i).integers(0, 256, (24, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(files[-1])
    photos = Samples(
        name="photos", kind="images", preprocess=Preprocess(mean=(127.5,), scale=(127.5,)), files=tuple(files)
    )
    source = onnx_graph(tmp_path, "dynamic")
    facts = do_convert(tmp_path, source, input_shape=(1, 3, 16, 16), samples=photos)
    assert facts["samples"] == 3 and facts["max_rel_diff_samples"] < convert.TOLERANCE
    assert facts["max_rel_diff"] < convert.TOLERANCE
    monkeypatch.setattr(convert, "TOLERANCE", -1.0)  # every difference is too large: the message quotes both
    with pytest.raises(StepError) as failed:
        do_convert(tmp_path / "again", source, input_shape=(1, 3, 16, 16), samples=photos)
    message = str(failed.value)
    assert re.search(r"by \S+ on 3 calibration sample\(s\), \S+ of an output's range on random inputs", message)
    # the triage compared every intermediate tensor, matched to the ONNX graph through onnx2tf's log: with nothing
    # allowed, the first one departs, and is named by its ONNX node
    found = re.search(r"the first operator whose output departs is ONNX node (\w+) \((\w+)\), output (\w+): ", message)
    assert found and found.groups() == ("relu", "Relu", "r1")  # conv's output is fused into relu's tensor in TFLite
    assert "onnx2tf's parameter replacement" in message


# answers of the runner (tasks/model/toolenvs/onnx2tf_run.py) beyond the tolerance, with the triage its departs() gives
PPOCR_DET = {  # PaddleOCR's PP-OCRv4 detector at 640x640, checked on random inputs
    "ok": True,
    "max_rel_diff": 6.45e-03,
    "max_rel_diff_samples": None,
    "samples": 0,
    "departs": {"node": None, "compared": 174, "output_range": 0.998},
}
DEPARTS = {
    "node": "relu",
    "op_type": "Relu",
    "output": "r1",
    "tflite": "model/tf.nn.relu/Relu",
    "rel_diff": 2.5e-02,
    "compared": 6,
}


def judged(answer: dict) -> str | None:
    o = convert.Options(
        input_shape=(1, 3, 640, 640),
        label="models.det",
        toolenv="-",
        source=Path("det.onnx"),
        out=Path("o"),
        facts=Path("f"),
    )
    return convert.judge(o, answer)


def test_a_difference_no_operator_explains_is_accepted_with_a_warning():
    assert judged(PPOCR_DET) == (
        "models.det.source: onnx2tf's model differs from onnxruntime's by 6.45e-03 of an output's range on random "
        "inputs (allowed 1e-04), yet no operator departs: 174 intermediate tensors compared, each within the "
        "tolerance; accepted as rounding spread over the graph (give models.det.calibration inputs like the ones "
        "the model is made for to check on those)"
    )
    on_samples = PPOCR_DET | {"max_rel_diff_samples": 3.1e-04, "samples": 4}
    assert judged(on_samples).endswith("each within the tolerance; accepted as rounding spread over the graph")
    assert judged(PPOCR_DET | {"max_rel_diff": 2e-05, "departs": None}) is None  # within the tolerance: no warning
    assert judged(on_samples | {"max_rel_diff_samples": 5e-05}) is None  # the samples decide


def test_a_departing_operator_or_an_unmatched_graph_is_still_refused():
    with pytest.raises(StepError) as info:
        judged(PPOCR_DET | {"departs": DEPARTS})
    assert str(info.value) == (
        "models.det.source: onnx2tf's model differs from onnxruntime's by 6.45e-03 of an output's range on random "
        "inputs (allowed 1e-04); the first operator whose output departs is ONNX node relu (Relu), output r1: "
        "2.50e-02 of its range (TFLite tensor model/tf.nn.relu/Relu); give models.det.onnx2tf.param_replacement a "
        "JSON that changes that operator (onnx2tf's parameter replacement), or prune the model before it"
    )
    with pytest.raises(StepError) as info:  # nothing matched through onnx2tf's log: nothing proven
        judged(PPOCR_DET | {"departs": {"node": None, "compared": 0, "output_range": 0.998}})
    assert str(info.value).endswith(
        "(allowed 1e-04); the conversion changed the arithmetic, and no intermediate tensor could be matched to the "
        "ONNX graph through onnx2tf's log to name the operator"
    )


def test_the_warning_reaches_results_and_the_report():
    from tasks.steps import report

    facts = {k: v for k, v in PPOCR_DET.items() if k != "ok"} | {"warning": judged(PPOCR_DET), "ops": {}}
    facts |= {"inputs": [], "outputs": []}
    row = convert.row_conversion(facts, compiled=True)
    assert row["conversion"]["warning"] == judged(PPOCR_DET)
    variants = [{"model": "det", **row}]
    html = "".join(report._conversions_html(variants))
    assert "<p class='cpu'>WARNING: models.det.source: onnx2tf&#x27;s model differs from onnxruntime&#x27;s" in html
    assert f"**WARNING:** {judged(PPOCR_DET)}" in report._conversions_markdown(variants)
    within = convert.row_conversion(facts | {"warning": None}, compiled=True)
    assert "WARNING" not in "".join(report._conversions_html([{"model": "det", **within}]))


def test_a_free_dimension_without_input_shape_names_the_input(tmp_path: Path):
    with pytest.raises(StepError) as info:
        do_convert(tmp_path, onnx_graph(tmp_path, "dynamic"))
    assert str(info.value) == (
        "models.m.input_shape: ONNX input 'image' has free dimensions [-1, 3, 16, 16] (-1: free); "
        "give input_shape in the ONNX model's own layout, e.g. [1, 3, 16, 16]"
    )
    assert not (tmp_path / "out" / "m_onnx.tflite").exists()


def test_an_op_onnx2tf_cannot_convert_is_named_with_its_node(tmp_path: Path):
    with pytest.raises(StepError) as info:
        do_convert(tmp_path, onnx_graph(tmp_path, "unsupported"), input_shape=(1, 3, 16, 16))
    message = str(info.value)
    assert message.startswith("models.m.source: onnx2tf cannot convert the FancyNorm op 'fancy_norm': ")
    assert message.endswith(
        "try onnx2tf's parameter replacement file (models.m.onnx2tf.param_replacement), "
        "or export the model without that op"
    )
    assert "Traceback" not in message


def test_npy_samples_in_the_onnx_layout_are_transposed_to_the_models(tmp_path: Path):
    import numpy as np

    from tasks.model import datasets

    nchw = np.random.default_rng(0).random((3, 3, 16, 16), dtype=np.float32)
    np.save(tmp_path / "stack.npy", nchw)
    np.save(tmp_path / "one.npy", nchw[0])
    np.save(tmp_path / "nhwc.npy", nchw[1].transpose(1, 2, 0))
    facts = tmp_path / "convert.json"
    image = {"onnx": "image", "onnx_shape": [1, 3, 16, 16], "tflite": "image", "tflite_shape": [1, 16, 16, 3]}
    facts.write_text(json.dumps({"inputs": [{**image, "axes": [0, 2, 3, 1]}]}))
    files = tuple(tmp_path / f for f in ("stack.npy", "one.npy", "nhwc.npy"))
    got = list(datasets.samples(datasets.Samples(name="cal", kind="npy", files=files, layouts=facts), [1, 16, 16, 3]))
    expected = [
        *nchw.transpose(0, 2, 3, 1)[:, None],
        nchw[0].transpose(1, 2, 0)[None],
        nchw[1].transpose(1, 2, 0)[None],
    ]
    assert len(got) == 5 and all(np.array_equal(g, x) for g, x in zip(got, expected, strict=True))
    np.save(tmp_path / "bad.npy", nchw[:, :2])
    with pytest.raises(StepError) as info:
        list(
            datasets.samples(
                datasets.Samples(name="cal", kind="npy", files=(tmp_path / "bad.npy",), layouts=facts), [1, 16, 16, 3]
            )
        )
    assert str(info.value) == (
        f"datasets.cal: {tmp_path / 'bad.npy'} has shape [3, 2, 16, 16]; the model input is [1, 16, 16, 3] or, in the "
        "ONNX model's layout, [1, 3, 16, 16] (give one sample [16, 16, 3] or a stack [N, 16, 16, 3])"
    )


def test_an_onnx_model_builds_for_the_npu_end_to_end(tmp_path: Path):
    import numpy as np

    (tmp_path / "models").mkdir()
    onnx_graph(tmp_path / "models", "static")
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "nchw.npy", np.random.default_rng(0).random((4, 3, 16, 16), dtype=np.float32))
    write(
        tmp_path / "project.yaml",
        """
        version: 1
        name: onnx
        datasets:
          noise: {random: {seed: 0, count: 4}}
          nchw: {npy: data/nchw.npy}   # as a PyTorch pipeline saves them
        models:
          net:
            source: models/static.onnx
            calibration: nchw
            validation: noise
        quantization:
          int8: {type: int8, io: int8}
        targets:
          u55:
            compiler: vela
            accelerator: ethos-u55-128
            system_config: Ethos_U55_High_End_Embedded
            memory_mode: Shared_Sram
        """,
    )
    proc = ok(doit(tmp_path))
    assert "convert:net: matches onnxruntime" in proc.stdout
    assert "calibration 4/4 samples (nchw)" in proc.stdout
    (variant,) = json.loads((tmp_path / "build" / "results.json").read_text())["variants"]
    assert variant["ops"]["npu"] > 0 and variant["inputs"][0]["shape"] == [1, 16, 16, 3]
    assert variant["accuracy"]["outputs"]
    conversion = variant["conversion"]
    assert conversion["from"] == "onnx" and conversion["max_rel_diff"] < convert.TOLERANCE
    assert conversion["samples"] == 4 and conversion["max_rel_diff_samples"] < convert.TOLERANCE  # checked on nchw too
    assert [(i["onnx"], i["onnx_shape"], i["tflite_shape"], i["axes"]) for i in conversion["inputs"]] == [
        ("image", [1, 3, 16, 16], [1, 16, 16, 3], [0, 2, 3, 1])
    ]
    report = (tmp_path / "build" / "report" / "index.html").read_text()
    assert "<h2>Converted from ONNX</h2>" in report and "transposed [0, 2, 3, 1]" in report
    assert re.search(r"Largest difference from onnxruntime: \S+ on 4 calibration samples, \S+ of an output", report)


def test_the_real_onnx_model_of_the_example_builds_for_the_npu(tmp_path: Path):
    """PaddleOCR's text-direction classifier from the pinned RapidOCR wheel, as the example builds it."""
    reuse_fetched_wheels(tmp_path)
    write(
        tmp_path / "project.yaml",
        """
        version: 1
        name: ocr
        datasets:
          noise: {random: {seed: 0, count: 4}}
        models:
          text_direction:
            source:
              pip: rapidocr-onnxruntime==1.4.4
              member: rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx
              sha256: e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c
            input_shape: [1, 3, 48, 192]
            calibration: noise
        quantization:
          int8_io: {type: int8, io: int8}
        targets:
          u55:
            compiler: vela
            accelerator: ethos-u55-128
            system_config: Ethos_U55_High_End_Embedded
            memory_mode: Shared_Sram
        """,
    )
    ok(doit(tmp_path))
    facts = json.loads((tmp_path / "build" / "text_direction" / "convert.json").read_text())
    assert facts["renamed_nodes"] > 0 and facts["max_rel_diff"] < convert.TOLERANCE  # names like Softmax@0
    assert facts["inputs"][0]["tflite_shape"] == [1, 48, 192, 3]
    (variant,) = json.loads((tmp_path / "build" / "results.json").read_text())["variants"]
    assert variant["ops"] == {"npu": 162, "cpu": 0}
