"""Tiny ONNX graphs for the tests, built with onnx.helper.  Runs in the onnx2tf tool environment (it has onnx).

python onnx_graphs.py KIND OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


def weights(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32) * 0.3, name)


def vision(batch="N") -> tuple[list, list, list]:
    """conv → depthwise conv → resize ×2 → concat with a 1x1 conv → softmax over channels."""
    init = [
        weights("w1", 8, 3, 3, 3),
        weights("b1", 8),
        weights("dw", 8, 1, 3, 3),
        weights("w2", 4, 8, 1, 1),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
        numpy_helper.from_array(np.array([], dtype=np.float32), "roi"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "dw"], ["d1"], pads=[1, 1, 1, 1], group=8, name="depthwise"),
        helper.make_node("Resize", ["d1", "roi", "scales"], ["up"], mode="nearest", name="resize"),
        helper.make_node("Conv", ["up", "w2"], ["p"], name="project"),
        helper.make_node("Concat", ["p", "up"], ["cat"], axis=1, name="concat"),
        helper.make_node("Softmax", ["cat"], ["scores"], axis=1, name="softmax"),
    ]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, 16, 16])]
    return nodes, inputs, init


def build(kind: str) -> onnx.ModelProto:
    nodes, inputs, init = vision(batch=1 if kind == "static" else "N")
    opsets = [helper.make_opsetid("", 13)]
    if kind == "unsupported":
        nodes.insert(2, helper.make_node("FancyNorm", ["r1"], ["r1b"], domain="com.example", name="fancy_norm"))
        nodes[3].input[0] = "r1b"
        opsets.append(helper.make_opsetid("com.example", 1))
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)]
    model = helper.make_model(helper.make_graph(nodes, kind, inputs, outputs, init), opset_imports=opsets)
    model.ir_version = 8
    return model


if __name__ == "__main__":
    onnx.save(build(sys.argv[1]), sys.argv[2])
