#!/usr/bin/env python3
"""Run given inputs through a .tflite with the LiteRT interpreter and save every output's raw values.

Standalone (no NPUForge imports): it is copied to boards that have Python and
ai-edge-litert (or tflite_runtime), so the outputs come from the board's own
runtime and delegate, set up as litert_benchmark.py sets them up.

    python3 litert_outputs.py --graph=m.tflite --inputs=in.npz --outputs=out.npz [--num_threads=1]
                              [--external_delegate_path=LIB [--external_delegate_options='k:v;k:v']]
                              [--use_xnnpack=true|false]

in.npz holds ``input_I`` (I: the model's input position), each a stack of
samples already in that input's dtype.  out.npz gets ``output_J`` for every
output position J: the stack of that output's values, in its own dtype
(int8 stays int8: nothing is dequantized here).  It is written under a
temporary name and renamed, so a half-written file is never read.
"""

import argparse
import os
import sys


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            sys.exit("ERROR: neither ai_edge_litert nor tflite_runtime is installed; pip install ai-edge-litert")
    return interpreter


def _interpreter(lite, args):
    """The interpreter as the benchmark runner builds it: same delegate, same resolver choice."""
    delegates = []
    if args.external_delegate_path:
        options = dict(kv.split(":", 1) for kv in args.external_delegate_options.split(";") if kv)
        try:
            delegates.append(lite.load_delegate(args.external_delegate_path, options))
        except (ValueError, OSError) as exc:
            print(f"ERROR: cannot load delegate {args.external_delegate_path}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)  # no interpreter teardown noise after the one line that matters
    extra = {}
    if args.use_xnnpack == "false":  # the plain builtin kernels, as benchmark_model --use_xnnpack=false
        extra["experimental_op_resolver_type"] = lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = lite.Interpreter(
        model_path=args.graph, num_threads=args.num_threads, experimental_delegates=delegates or None, **extra
    )
    interpreter.allocate_tensors()
    return interpreter


def _stacks(np, interpreter, path):
    """The input stacks of ``path`` in the model's input order, checked against the model's inputs."""
    with np.load(path, allow_pickle=False) as given:
        stacks = {name: given[name] for name in given.files}
    details = interpreter.get_input_details()
    found = []
    for i, d in enumerate(details):
        stack = stacks.get(f"input_{i}")
        shape = [int(x) for x in d["shape"]]
        if stack is None or list(stack.shape[1:]) != shape or stack.dtype != d["dtype"]:
            got = "missing" if stack is None else f"{stack.dtype} {list(stack.shape)}"
            sys.exit(
                f"ERROR: input_{i} of {path} is {got}; the model's input {i} takes N x {np.dtype(d['dtype'])} {shape}"
            )
        found.append((d["index"], stack))
    if len({len(s) for _, s in found}) > 1:
        sys.exit(f"ERROR: the inputs of {path} hold different numbers of samples")
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graph", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--num_threads", type=int, default=1)
    p.add_argument("--external_delegate_path")
    p.add_argument("--external_delegate_options", default="")
    p.add_argument("--use_xnnpack", choices=("true", "false"), default="true")
    args = p.parse_args(argv)

    import numpy as np

    lite = _interpreter_module()
    print(f"Use xnnpack: [{int(args.use_xnnpack == 'true')}]", flush=True)
    interpreter = _interpreter(lite, args)
    inputs = _stacks(np, interpreter, args.inputs)
    count = len(inputs[0][1]) if inputs else 0
    outputs = interpreter.get_output_details()
    values = [[] for _ in outputs]
    for n in range(count):
        for index, stack in inputs:
            interpreter.set_tensor(index, stack[n])
        interpreter.invoke()
        for j, d in enumerate(outputs):
            values[j].append(interpreter.get_tensor(d["index"]).copy())
    tmp = f"{args.outputs}.{os.getpid()}.part"
    with open(tmp, "wb") as f:
        np.savez(f, **{f"output_{j}": np.stack(v) for j, v in enumerate(values)})
    os.replace(tmp, args.outputs)
    print(f"{count} samples, {len(outputs)} outputs written to {args.outputs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
