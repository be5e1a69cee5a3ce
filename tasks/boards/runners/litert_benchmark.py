#!/usr/bin/env python3
"""Benchmark a .tflite with the LiteRT interpreter; print what TFLite's benchmark_model prints.

Standalone (no NPUForge imports): it is copied to boards that have Python and
ai-edge-litert (or tflite_runtime) but no benchmark_model binary.

    python3 litert_benchmark.py --graph=m.tflite [--num_threads=2] [--warmup_runs=5] [--num_runs=50]
                                [--max_secs=S]
                                [--external_delegate_path=LIB [--external_delegate_options='k:v;k:v']]
                                [--use_xnnpack=true|false]
"""

import argparse
import os
import resource
import statistics
import sys
import time


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            sys.exit("ERROR: neither ai_edge_litert nor tflite_runtime is installed; pip install ai-edge-litert")
    return interpreter


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def _timed(once, count: int, max_secs: float | None) -> list:
    """``count`` runs, or fewer once ``max_secs`` have passed (at least one)."""
    runs = []
    started = time.perf_counter()
    while len(runs) < count and not (runs and max_secs and time.perf_counter() - started >= max_secs):
        runs.append(once())
    return runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graph", required=True)
    p.add_argument("--num_threads", type=int, default=1)
    p.add_argument("--warmup_runs", type=int, default=1)
    p.add_argument("--num_runs", type=int, default=50)
    p.add_argument("--max_secs", type=float, help="stop the measured runs after this long (at least one run)")
    p.add_argument("--external_delegate_path")
    p.add_argument("--external_delegate_options", default="")
    p.add_argument("--use_xnnpack", choices=("true", "false"), default="true")
    args = p.parse_args(argv)

    import numpy as np

    lite = _interpreter_module()
    print("STARTING!", flush=True)
    before = _peak_mb()
    print(f"Use xnnpack: [{int(args.use_xnnpack == 'true')}]")
    delegates = []
    if args.external_delegate_path:
        print(f"External delegate path: [{args.external_delegate_path}]")
        if args.external_delegate_options:
            print(f"External delegate options: [{args.external_delegate_options}]")
        sys.stdout.flush()
        options = dict(kv.split(":", 1) for kv in args.external_delegate_options.split(";") if kv)
        try:
            delegates.append(lite.load_delegate(args.external_delegate_path, options))
        except (ValueError, OSError) as exc:
            print(f"ERROR: cannot load delegate {args.external_delegate_path}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)  # no interpreter teardown noise after the one line that matters
    extra = {}
    if args.use_xnnpack == "false":  # the plain reference kernels, as benchmark_model --use_xnnpack=false
        extra["experimental_op_resolver_type"] = lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    start = time.perf_counter()
    interpreter = lite.Interpreter(
        model_path=args.graph, num_threads=args.num_threads, experimental_delegates=delegates or None, **extra
    )
    interpreter.allocate_tensors()
    init_us = (time.perf_counter() - start) * 1e6
    init_mb = _peak_mb() - before
    rng = np.random.default_rng(0)
    for d in interpreter.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            info = np.iinfo(d["dtype"])
            x = rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(d["dtype"])
        else:
            x = rng.random(d["shape"], dtype=np.float32).astype(d["dtype"])
        interpreter.set_tensor(d["index"], x)

    def once() -> float:
        t = time.perf_counter()
        interpreter.invoke()
        return (time.perf_counter() - t) * 1e6

    first = once()
    warm = [once() for _ in range(max(args.warmup_runs - 1, 0))] or [first]
    print(
        f"count={len(warm)} first={first:.0f} curr={warm[-1]:.0f} min={min(warm):.0f} max={max(warm):.0f} "
        f"avg={statistics.fmean(warm):.6g} std={statistics.pstdev(warm):.0f}"
    )
    runs = _timed(once, args.num_runs, args.max_secs)
    p5, median, p95 = (
        (statistics.quantiles(runs, n=20, method="inclusive")[k] for k in (0, 9, 18)) if len(runs) > 1 else runs * 3
    )
    print(
        f"count={len(runs)} first={runs[0]:.0f} curr={runs[-1]:.0f} min={min(runs):.0f} max={max(runs):.0f} "
        f"avg={statistics.fmean(runs):.6g} std={statistics.pstdev(runs):.0f} "
        f"p5={p5:.0f} median={median:.0f} p95={p95:.0f}"
    )
    print(
        f"Inference timings in us: Init: {init_us:.0f}, First inference: {first:.0f}, "
        f"Warmup (avg): {statistics.fmean(warm):.6g}, Inference (avg): {statistics.fmean(runs):.6g}"
    )
    print(
        f"Memory footprint delta from the start of the tool (MB): init={init_mb:.6g} overall={_peak_mb() - before:.6g}"
    )
    print(f"Overall peak memory footprint (MB) via periodic monitoring: {_peak_mb():.6g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
