"""The evaluate step's time with and without the metrics against labels, on the example's digits.

    python bench/evaluate_labels.py [--scheme int8] [--repeat 3]

Runs the evaluate step's work (tasks/model/accuracy.run) on the example's built digits model
(`make` builds it) and its 315 labelled validation digits, alternately with the dataset's labels
(the comparison with the float model, then top-1/top-5 accuracy, the confusion matrices and the
bootstrap intervals of the drops) and without them (the comparison alone, as before labels),
``--repeat`` times each, and prints the median time of each and their ratio.  Both run in this
process, interleaved, so the machine's load weighs on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import _paths  # noqa: F401  (first: the checkout and tests/ on sys.path)

from support import REPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheme", default="int8")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from tasks.config import load
    from tasks.engine.plan import planning
    from tasks.model import accuracy

    plan = planning(load(REPO / "project.yaml"))
    step = plan.step_of("evaluate", f"digits/{args.scheme}")
    if step is None or not step.options.quantized.exists():
        sys.exit(f"build the example first (make): {step.options.quantized if step else 'no digits model'} missing")
    o = step.options
    specs = tuple(t.spec() for t in o.tasks)
    times: dict[str, list[float]] = {"without labels": [], "with labels": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name, dataset in (("without labels", replace(o.dataset, labels=None)), ("with labels", o.dataset)):
                start = time.perf_counter()
                accuracy.run(o.float_model, o.quantized, Path(tmp) / "a.json", dataset, specs, o.label, o.in_sample)
                times[name].append(time.perf_counter() - start)
    base, labelled = statistics.median(times["without labels"]), statistics.median(times["with labels"])
    print(f"\nevaluate digits/{args.scheme}: {len(o.dataset.files)} samples, median of {args.repeat} runs each\n")
    print(f"{'':16} {'seconds':>8}")
    print(f"{'without labels':16} {base:8.2f}")
    print(f"{'with labels':16} {labelled:8.2f}")
    print(f"{'ratio':16} {labelled / base:8.2f}x")


if __name__ == "__main__":
    main()
