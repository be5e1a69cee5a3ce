"""Cutting a model down to the outputs (and inputs) a prune variant names."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from tasks.errors import StepError
from tasks.tflite.flatbuffer import find_tensor, is_constant, tensor_name
from tasks.tflite.surgery import collect_garbage, set_serving_signature


def prune(model: schema.ModelT, outputs: list[str], inputs: list[str] | None, where: str) -> schema.ModelT:
    """Keep only the ops that compute ``outputs`` (which become the outputs, in order).

    With ``inputs``, those tensors become the inputs and everything before them
    goes.  Every kept output must be computed from the inputs.
    """
    sg = model.subgraphs[0]

    def find(name: str, key: str) -> int:
        return find_tensor(model, name, f"{where}.{key}")

    out_idx = [find(n, "outputs") for n in outputs]
    in_idx = [find(n, "inputs") for n in inputs] if inputs else list(sg.inputs)
    producer = {o: k for k, op in enumerate(sg.operators) for o in op.outputs}
    constant = {i for i, t in enumerate(sg.tensors) if is_constant(model, t)}
    starts = set(in_idx)

    keep_ops: set[int] = set()
    reaches: dict[int, bool] = {}  # tensor -> computed from the inputs?

    def visit(tensor: int) -> bool:
        if tensor in reaches:
            return reaches[tensor]
        if tensor in starts:
            result = True
        elif tensor in constant or tensor not in producer:
            if tensor not in constant and tensor in sg.inputs:
                raise StepError(
                    f"{where}.inputs: keeping the outputs needs model input '{tensor_name(sg.tensors[tensor])}', "
                    "which the given inputs cut off; add it to inputs"
                )
            result = False
        else:
            k = producer[tensor]
            keep_ops.add(k)
            result = any([visit(i) for i in sg.operators[k].inputs if i >= 0])
        reaches[tensor] = result
        return result

    for name, index in zip(outputs, out_idx, strict=True):
        if not visit(index):
            raise StepError(
                f"{where}.outputs: '{name}' is not computed from the model's "
                "inputs (it is a constant); keep another tensor"
            )
    sg.operators = [op for k, op in enumerate(sg.operators) if k in keep_ops]
    sg.inputs = [i for i in in_idx if i in reaches]
    sg.outputs = out_idx
    for i in sg.inputs:
        sg.tensors[i].buffer = 0  # a cut point is fed at run time, not stored
    # kept tensors keep their signature names; new inputs/outputs are named by tensor
    return collect_garbage(set_serving_signature(model))
