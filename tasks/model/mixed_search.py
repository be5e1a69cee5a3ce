"""The automatic mixed-precision search: which layers to keep in int16x8 so a goal is met within a latency budget.

The work of the sensitivity and search steps (tasks/steps/search.py), done
the way users do it by hand, with the compiler in the loop:

- **Blocks.** Layers are taken a block at a time: a run of layers between
  branch points (each layer the only user of the one before), so a widened
  block costs two type changes at most.
- **Sensitivity.** Each block alone widened to int16x8 in the int8 model, and
  alone narrowed to int8 in the all-int16x8 model: what it does to the goal
  metric on the validation set and to Vela's latency estimate.  The 8-bit
  models with OCTAV's and MSE's weight rounding are measured too: better
  8-bit costs no millisecond.
- **Search.** Two greedy paths over the blocks: widen from int8 by metric
  gained per millisecond, and narrow from int16x8 by metric lost per
  millisecond saved, each preferring blocks next to the ones already taken so
  type changes stay few.  Along each path the cheapest model that meets the
  goal within the budget is found by bisection; the cheapest of all wins, or,
  when none meets the goal, the best within the budget, with why.

Every candidate is a real model: quantized by ai-edge-quantizer from the
calibrate step's ranges (no calibration per candidate), compiled by Vela for
the budget's target and evaluated on the validation samples like the
evaluate step.  Each is kept in a cache by the content of all it depends on,
so a second search, after an unrelated change or with another budget,
repeats none.  Deterministic: ties are broken by block order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks import atomic
from tasks.errors import StepError
from tasks.model import datasets
from tasks.model.schemes import Scheme
from tasks.progress import progress
from tasks.tflite import flatbuffer, opcodes

if TYPE_CHECKING:
    from tasks.config.project import Goal

WEIGHTS = ("min_max", "octav", "mse")  # int8 weight rounding the search tries before widening anything
ADJACENT = 2.0  # a block next to the ones taken counts this much better: fewer type changes
EPSILON_MS = 0.001  # a block that costs less than this is counted at this
SAME_LATENCY = 0.001  # candidates this close to the fastest (a relative difference) are as fast: the most accurate wins
EPSILON_LOSS = 1e-6  # the same for a block that loses (in the goal's units) less when narrowed
CACHE_VERSION = 1  # bump when what a candidate records changes
# sensitivities are measured on the first few validation samples (an int16x8 model runs ~200 ms a sample on
# TFLite's reference kernels, and each block is measured twice); the search's candidates on all of them
SENSITIVITY_SAMPLES = 8


@dataclass(frozen=True, kw_only=True)
class Block:
    index: int
    ops: tuple[int, ...]  # operator indices, in execution order
    kinds: tuple[str, ...]  # their types (CONV_2D, ...)
    name: str  # the first operator's first output tensor


def blocks(model) -> list[Block]:
    """The model's operators in blocks: runs where each operator is the only user of the previous one's output."""
    sg = model.subgraphs[0]
    constant = {i for i, t in enumerate(sg.tensors) if flatbuffer.is_constant(model, t)}
    users: dict[int, list[int]] = {}
    for k, op in enumerate(sg.operators):
        for i in op.inputs:
            if i >= 0 and i not in constant:
                users.setdefault(i, []).append(k)
    runs: list[list[int]] = []
    for k, op in enumerate(sg.operators):
        inputs = [i for i in op.inputs if i >= 0 and i not in constant]
        last = sg.operators[runs[-1][-1]] if runs else None
        chained = (
            last is not None
            and len(last.outputs) == 1
            and users.get(last.outputs[0]) == [k]
            and inputs == [last.outputs[0]]
            and last.outputs[0] not in sg.outputs
        )
        if chained:
            runs[-1].append(k)
        else:
            runs.append([k])
    return [
        Block(
            index=i,
            ops=tuple(run),
            kinds=tuple(opcodes.op_name(model, sg.operators[k]) for k in run),
            name=flatbuffer.tensor_name(sg.tensors[sg.operators[run[0]].outputs[0]]),
        )
        for i, run in enumerate(runs)
    ]


def neighbours(model, found: list[Block]) -> list[set[int]]:
    """For each block, the blocks that feed it or that it feeds."""
    sg = model.subgraphs[0]
    block_of = {k: b.index for b in found for k in b.ops}
    made_by = {o: k for k, op in enumerate(sg.operators) for o in op.outputs}
    near: list[set[int]] = [set() for _ in found]
    for k, op in enumerate(sg.operators):
        for i in op.inputs:
            if i in made_by and block_of[made_by[i]] != block_of[k]:
                near[block_of[k]].add(block_of[made_by[i]])
                near[block_of[made_by[i]]].add(block_of[k])
    return near


def type_changes(model, wide: set[int]) -> int:
    """How many tensors go from an int8 operator to an int16x8 one or back (``wide``: the int16x8 operators)."""
    sg = model.subgraphs[0]
    made_by = {o: k for k, op in enumerate(sg.operators) for o in op.outputs}
    return sum(
        1
        for k, op in enumerate(sg.operators)
        for i in op.inputs
        if i in made_by and (made_by[i] in wide) != (k in wide)
    )


def overrides(model, wide: set[int]) -> list[dict[str, str]]:
    """The int16x8 operators as mixed-scheme overrides: one exact ``match`` per run of consecutive operators."""
    sg = model.subgraphs[0]
    runs: list[list[int]] = []
    for k in sorted(wide):
        if runs and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    found = []
    for run in runs:
        # ai-edge-quantizer matches against an operator's scope: each output name followed by ';'
        scopes = ["".join(flatbuffer.tensor_name(sg.tensors[o]) + ";" for o in sg.operators[k].outputs) for k in run]
        found.append({"match": "^(?:" + "|".join(re.escape(s) for s in scopes) + ")$", "type": "int16x8"})
    return found


@dataclass(kw_only=True)
class Measurer:
    """Measures candidates of one model: quantize with the ranges, compile with Vela, evaluate; cached by content."""

    content: bytes  # the float model
    qsvs: dict[str, Any]  # the calibrate step's ranges
    ranges_digest: str
    validation: datasets.Samples
    tasks: tuple[dict[str, Any], ...]
    io: str
    per_channel: bool
    # the budget's oracle: latency(src, work) compiles src in the folder work and gives facts with
    # estimate.inference_ms and ops; latency.key() is what its numbers depend on (tasks.toolchains.vela.compile.Latency)
    latency: Any
    cache: Path
    label: str
    pruned: bool = False
    take: int | None = None  # the first this many validation samples only
    counts: dict[str, int] = field(
        default_factory=lambda: {"quantizations": 0, "compiles": 0, "evaluations": 0, "cached": 0}
    )

    def __post_init__(self):
        self.model = flatbuffer.read_bytes(self.content, self.label)
        self.shape = tuple(flatbuffer.single_input_shape(self.model, self.label))
        self._xs: list[np.ndarray] | None = None
        self._expected: list[dict[str, np.ndarray]] | None = None
        self._key: str | None = None
        self._truths: list | None = None

    def inputs(self) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
        from tasks.model import accuracy

        if self._xs is None:
            self._xs = list(itertools.islice(datasets.samples(self.validation, list(self.shape)), self.take))
            if not self._xs:
                raise StepError(f"{self.label}: validation dataset '{self.validation.label}' has no samples")
            reference = accuracy.Runner(self.content)
            self._expected = [reference(x) for x in self._xs]
        return self._xs, self._expected

    def _base_key(self) -> str:
        """A digest of everything a candidate's numbers depend on but its layers."""
        if self._key is None:
            from tasks.planning import versions

            xs, _ = self.inputs()
            h = hashlib.sha256()
            h.update(hashlib.sha256(self.content).digest())
            h.update(self.ranges_digest.encode())
            for x in xs:
                h.update(np.ascontiguousarray(x).tobytes())
            tools = {d: versions.version(d) for d in ("ai-edge-quantizer", "ethos-u-vela", "ai-edge-litert", "numpy")}
            code = [Path(__file__).with_name(n).read_bytes().hex() for n in ("quantizer.py", "accuracy.py")]
            extra = {
                "tasks": self.tasks,
                **({"labels": self._labels_digest()} if self.validation.labels is not None else {}),
                "io": self.io,
                "per_channel": self.per_channel,
                **self.latency.key(),
                "tools": tools,
                "version": CACHE_VERSION,
                "code": code,
            }
            h.update(json.dumps(extra, sort_keys=True, default=str).encode())
            self._key = h.hexdigest()
        return self._key

    def truths(self) -> list:
        """(label, frame) of each validation sample, read once for every candidate (tasks/model/accuracy.py)."""
        from tasks.model import accuracy

        if self._truths is None:
            xs, _ = self.inputs()
            self._truths = accuracy.truths_of(self.validation, len(xs), self.shape)
        return self._truths

    def _labels_digest(self) -> str:
        """A digest of the validation samples' labels (a mask by its bytes)."""
        h = hashlib.sha256()
        for t, _ in self.truths():
            h.update(repr((t.file.name, t.width, t.height, t.label, t.boxes)).encode())
            if t.mask is not None:
                h.update(t.mask.read_bytes())
        return h.hexdigest()

    def scheme(self, wide: set[int], weights: str) -> Scheme:
        return Scheme(
            type="int8",
            io=self.io,
            per_channel=self.per_channel,
            weights=weights,
            overrides=tuple(overrides(self.model, wide)),
        )

    def measure(self, wide: set[int], weights: str = "min_max") -> dict[str, Any]:
        """The candidate with the operators ``wide`` in int16x8: Vela's estimate, accuracy, layers, type changes."""
        key = hashlib.sha256(f"{self._base_key()}/{weights}/{sorted(wide)}".encode()).hexdigest()
        path = self.cache / key[:2] / f"{key}.json"
        if path.is_file():
            self.counts["cached"] += 1
            return {**json.loads(path.read_text()), "cached": True}
        record = self._measure(wide, weights)
        atomic.write_json(path, record)
        return {**record, "cached": False}

    def _measure(self, wide: set[int], weights: str) -> dict[str, Any]:
        from tasks.model import accuracy, quantizer

        quantized = quantizer.mixed(self.content, self.scheme(wide, weights), self.qsvs, self.label)
        self.counts["quantizations"] += 1
        self.cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".candidate-", suffix=".tmp", dir=self.cache))
        try:
            src = work / "candidate.tflite"
            src.write_bytes(quantized)
            facts = self.latency(src, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.counts["compiles"] += 1
        xs, expected = self.inputs()
        runner = accuracy.Runner(quantized)
        got = [{k: v.reshape(e[k].shape) for k, v in runner(x).items()} for x, e in zip(xs, expected, strict=True)]
        self.counts["evaluations"] += 1
        outputs = {}
        for name in expected[0]:
            per_sample = [accuracy.compare(e[name], g[name]) for e, g in zip(expected, got, strict=True)]
            summary = accuracy.summarise(per_sample)
            outputs[name] = {"snr_db": summary["snr_db"], "cosine": summary["cosine"]}
        tasks = accuracy.task_metrics(self.tasks, expected, got, self.shape, self.label, self.pruned)
        if self.validation.labels is not None:  # a goal may name a label metric (top1_accuracy, its _drop, …)
            truths = self.truths()
            labelled = accuracy.label_metrics(self.tasks, expected, got, truths, self.shape, self.label, (), False)
            for name, m in labelled.get("metrics", {}).items():
                tasks["metrics"].update({name: m["quantized"], f"{name}_drop": m["drop"]})
        return {
            "weights": weights,
            "widened": len(wide),
            "type_changes": type_changes(self.model, wide),
            "ms": facts["estimate"]["inference_ms"],
            "ops": facts["ops"],
            "accuracy": {"outputs": outputs, "metrics": tasks["metrics"]},
        }


# --- sensitivity ------------------------------------------------------------------------------------------


def sensitivity(meter: Measurer) -> dict[str, Any]:
    """The ends (int8 with each weight rounding, all int16x8) and each block widened alone / narrowed alone."""
    started = time.monotonic()
    found = blocks(meter.model)
    every = {k for b in found for k in b.ops}
    progress(
        f"{len(found)} blocks of {len(every)} layers, each measured on {len(meter.inputs()[0])} validation "
        "samples; first the 8-bit and 16-bit ends"
    )
    ends = {f"int8_{w}": meter.measure(set(), w) for w in WEIGHTS}
    ends["int16x8"] = meter.measure(every)
    rows = []
    step = max(1, len(found) // 8)
    for b in found:
        ops = set(b.ops)
        rows.append(
            {
                "index": b.index,
                "ops": list(b.ops),
                "kinds": list(b.kinds),
                "name": b.name,
                "widen": meter.measure(ops),
                "narrow": meter.measure(every - ops),
            }
        )
        if (b.index + 1) % step == 0 or b.index + 1 == len(found):
            progress(f"sensitivity: {b.index + 1}/{len(found)} blocks widened alone and narrowed alone")
    return {
        "blocks": rows,
        "ends": ends,
        "samples": len(meter.inputs()[0]),
        "cost": {**meter.counts, "seconds": round(time.monotonic() - started, 1)},
    }


# --- search ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Route:
    """One greedy path: its i-th candidate takes the first i blocks of ``order`` (widened, or narrowed)."""

    name: str  # widen | narrow
    order: tuple[int, ...]  # block indices, in the order taken


def _greedy(benefit: dict[int, float], cost: dict[int, float], near: list[set[int]], floor: float) -> tuple[int, ...]:
    """Blocks by benefit per cost (at least ``floor``), best first; next to one taken, ADJACENT times better."""
    left, taken, order = dict(benefit), set(), []
    while left:

        def score(b: int) -> tuple[float, int]:
            bonus = ADJACENT if near[b] & taken else 1.0
            return (left[b] / max(cost[b], floor) * bonus, -b)

        best = max(left, key=score)
        order.append(best)
        taken.add(best)
        del left[best]
    return tuple(order)


def routes(sens: dict[str, Any], goal: Goal, near: list[set[int]]) -> list[Route]:
    """The widening path (from int8) and the narrowing path (from int16x8), from the blocks' sensitivities."""
    int8, int16 = sens["ends"]["int8_min_max"], sens["ends"]["int16x8"]
    rows = sens["blocks"]
    widen_gain = {r["index"]: goal.gain(r["widen"], int8) for r in rows}
    widen_cost = {r["index"]: r["widen"]["ms"] - int8["ms"] for r in rows}
    narrow_loss = {r["index"]: -goal.gain(r["narrow"], int16) for r in rows}
    narrow_saving = {r["index"]: int16["ms"] - r["narrow"]["ms"] for r in rows}
    useful = {b: g for b, g in widen_gain.items() if g > 0}
    widen = _greedy(useful, widen_cost, near, EPSILON_MS)
    # narrowing: the blocks that save time, most milliseconds saved per metric lost first (no loss: first of all)
    saving = {b: s for b, s in narrow_saving.items() if s > 0}
    narrow = _greedy(saving, {b: narrow_loss[b] for b in saving}, near, EPSILON_LOSS)
    return [Route(name="widen", order=widen), Route(name="narrow", order=narrow)]


def _checked_blocks(meter: Measurer, sens: dict[str, Any], goal: Goal) -> list:
    """The model's blocks, once the sensitivity table is known to be this model's and to measure the goal."""
    found = blocks(meter.model)
    if len(found) != len(sens["blocks"]):
        raise StepError(
            f"{meter.label}: the sensitivity table has {len(sens['blocks'])} blocks, the model "
            f"{len(found)}; run the sensitivity step again"
        )
    if goal.value(sens["ends"]["int8_min_max"]) is None:
        given = ", ".join(sens["ends"]["int8_min_max"]["accuracy"]["metrics"]) or "none"
        raise StepError(
            f"{meter.label}: the goal's metric {goal.metric} is not measured on this model "
            f"(its tasks give: {given}); fix the scheme's goal or the model's task"
        )
    return found


def search(meter: Measurer, sens: dict[str, Any], goal: Goal, max_ms: float) -> dict[str, Any]:
    """The cheapest candidate that meets ``goal`` within ``max_ms``, or the closest, and every candidate measured."""
    started = time.monotonic()
    before = dict(meter.counts)
    found = _checked_blocks(meter, sens, goal)
    near = neighbours(meter.model, found)
    every = {k for b in found for k in b.ops}
    tried: list[dict[str, Any]] = []

    def candidate(stage: str, wide: set[int], weights: str, step: int | None = None) -> dict[str, Any]:
        record = meter.measure(wide, weights)
        entry = {
            "stage": stage,
            "step": step,
            "weights": weights,
            "ms": record["ms"],
            "value": goal.value(record),
            "widened": record["widened"],
            "type_changes": record["type_changes"],
            "met": goal.met(record),
            "within": record["ms"] <= max_ms,
            "cached": record["cached"],
            "wide": sorted(wide),
        }
        if all(t["wide"] != entry["wide"] or t["weights"] != weights for t in tried):
            tried.append(entry)
            shown = "cached" if record["cached"] else "measured"
            progress(
                f"{stage}{'' if step is None else f' {step}'}: {record['ms']:.2f} ms, {goal.metric} "
                f"{_number(entry['value'])}, {record['widened']} layers int16x8 ({shown})"
            )
        return entry

    # better 8-bit first: a weight rounding costs no millisecond
    eights = [candidate("8-bit", set(), w) for w in WEIGHTS]
    candidate("16-bit", every, "min_max")
    chosen = _cheapest(tried, goal)
    if chosen is None or chosen["widened"]:
        measured = [e for e in eights if e["value"] is not None]
        base = max(measured, key=lambda e: (_better(goal, e), -WEIGHTS.index(e["weights"])))
        for route in routes(sens, goal, near):
            _walk(route, found, every, base["weights"], candidate)
        chosen = _cheapest(tried, goal)
    met = chosen is not None
    if chosen is None:
        within = [t for t in tried if t["within"] and t["value"] is not None]
        chosen = (
            max(within, key=lambda t: (_better(goal, t), -t["ms"])) if within else min(tried, key=lambda t: t["ms"])
        )
    wide = set(chosen["wide"])
    scheme = {"type": "int8", "weights": chosen["weights"], "overrides": overrides(meter.model, wide)}
    if not scheme["overrides"]:
        del scheme["overrides"]
    cost = {k: meter.counts[k] - before[k] for k in meter.counts}
    return {
        "goal": goal.text(),
        "metric": goal.metric,
        "bound": goal.min if goal.min is not None else goal.max,
        "max_ms": max_ms,
        "met": met,
        "why": _why(goal, met, chosen, tried, max_ms),
        "chosen": {
            **{k: chosen[k] for k in ("ms", "value", "widened", "type_changes", "weights")},
            "layers": _layer_names(meter.model, wide),
            "scheme": scheme,
            "summary": _summary(goal, chosen),
        },
        "candidates": [{k: v for k, v in t.items() if k != "wide"} for t in tried],
        "pareto": pareto(tried, goal),
        "cost": {**cost, "seconds": round(time.monotonic() - started, 1)},
    }


def _layer_names(model, wide: set[int]) -> list[str]:
    sg = model.subgraphs[0]
    return [flatbuffer.tensor_name(sg.tensors[sg.operators[k].outputs[0]]) for k in sorted(wide)]


def _better(goal: Goal, entry: dict[str, Any]) -> float:
    return entry["value"] if goal.higher_is_better else -entry["value"]


def _cheapest(tried: list[dict[str, Any]], goal: Goal) -> dict[str, Any] | None:
    """The fastest candidate that meets the goal within the budget; at the same latency, the most accurate."""
    good = [t for t in tried if t["met"] and t["within"]]
    if not good:
        return None
    fastest = min(t["ms"] for t in good)
    same = [t for t in good if t["ms"] <= fastest * (1 + SAME_LATENCY)]
    return max(same, key=lambda t: (_better(goal, t), -t["type_changes"], -t["ms"]))


def _walk(
    route: Route, found: list[Block], every: set[int], weights: str, candidate: Callable[..., dict[str, Any]]
) -> None:
    """Along one path (i = 0 its cheap end, i = n its accurate end; Vela's latency grows with i), bisect for the
    last i within the budget, then for the first i that meets the goal: a few candidates, not one per block."""
    n = len(route.order)

    def at(i: int) -> dict[str, Any]:
        taken = {k for b in route.order[: i if route.name == "widen" else n - i] for k in found[b].ops}
        return candidate(route.name, taken if route.name == "widen" else every - taken, weights, i)

    if n == 0 or not at(0)["within"]:
        return
    lo, hi = 0, n  # lo is within the budget
    if not at(n)["within"]:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if at(mid)["within"] else (lo, mid)
        hi = lo
    if not at(hi)["met"] or at(0)["met"]:
        return
    lo = 0  # does not meet the goal; hi does, within the budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if at(mid)["met"] else (mid, hi)


def pareto(tried: list[dict[str, Any]], goal: Goal) -> list[int]:
    """Indices of the candidates no other beats on both latency and the goal metric."""
    front = []
    for i, t in enumerate(tried):
        if t["value"] is None:
            continue
        dominated = any(
            o["value"] is not None
            and o["ms"] <= t["ms"]
            and _better(goal, o) >= _better(goal, t)
            and (o["ms"] < t["ms"] or _better(goal, o) > _better(goal, t))
            for o in tried
        )
        if not dominated:
            front.append(i)
    return front


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _summary(goal: Goal, chosen: dict[str, Any]) -> str:
    rounding = "" if chosen["weights"] == "min_max" else f", {chosen['weights']} weights"
    return (
        f"{chosen['widened']} layers in int16x8{rounding}, {chosen['type_changes']} type changes: "
        f"{chosen['ms']:.2f} ms, {goal.metric} {_number(chosen['value'])}"
    )


def _why(goal: Goal, met: bool, chosen: dict[str, Any], tried: list[dict[str, Any]], max_ms: float) -> str:
    if met:
        return f"the cheapest of {len(tried)} candidates that meets {goal.text()} within {max_ms:g} ms"
    ends = {t["stage"]: t for t in tried if t["stage"] in ("8-bit", "16-bit") and t["weights"] == "min_max"}
    wide = ends.get("16-bit")
    reach = f"; int16x8 everywhere gives {goal.metric} {_number(wide['value'])} at {wide['ms']:.2f} ms" if wide else ""
    if wide and not wide["met"]:
        reach += " (the goal is out of reach of int16x8 too: loosen it, or give more calibration data)"
    elif wide:
        reach += f" (raise the budget towards {wide['ms']:.2f} ms, or loosen the goal)"
    return f"no candidate meets {goal.text()} within {max_ms:g} ms: the closest is {_summary(goal, chosen)}" + reach


def snippet(name: str, chosen: dict[str, Any]) -> str:
    """The choice as a fixed scheme to paste under ``quantization:`` of project.yaml."""
    import yaml

    scheme = chosen["scheme"]
    body = {"type": "int8", **({"weights": scheme["weights"]} if scheme["weights"] != "min_max" else {})}
    if scheme.get("overrides"):
        body["overrides"] = scheme["overrides"]
    return yaml.safe_dump({name: body}, sort_keys=False, width=1000)
