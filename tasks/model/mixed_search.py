"""The automatic mixed-precision search: which layers to keep in int16x8 so a goal is met within a latency budget.

The work of the candidate, sensitivity and search steps (tasks/steps/search.py),
done the way users do it by hand, with the compiler in the loop, but measuring
little:

- **Blocks.** Layers are taken a block at a time: a run of layers between
  branch points (each layer the only user of the one before), so a widened
  block costs two type changes at most.
- **The ends, measured.** int8 (with min/max, OCTAV's and MSE's weight
  rounding: better 8-bit costs no millisecond) and all-int16x8 are real
  candidates; the int8 and int16x8 ones also record Vela's per-layer cycles
  and the noise each layer's output carries against the float model.
- **Sensitivity, estimated** from those two (``Estimate``): what each block
  adds to the error in int8 over int16x8, and what it costs in Vela's cycles,
  type changes included.  No candidate per block.
- **Paths.** Two greedy paths over the blocks: widen from int8 by error
  removed per millisecond, narrow from int16x8 by milliseconds saved per error
  added, each step's milliseconds the marginal ones of the model so far (a
  block next to those taken needs no type change).  A few models along each,
  their estimated latencies spread between the ends', are real candidates.
- **Choice.** The cheapest real candidate that meets the goal within the
  budget, or, when none does, the best within the budget, with why.  Goal and
  budget are read here only: changing them measures nothing.

Every candidate is a real model: quantized by ai-edge-quantizer from the
calibrate step's ranges (no calibration per candidate), compiled by Vela for
the budget's target and evaluated on the validation samples like the
evaluate step; each is a step, kept in the step cache by the content of all it
depends on.  Deterministic: ties are broken by block order.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.errors import StepError
from tasks.model import datasets
from tasks.model.schemes import Scheme
from tasks.progress import progress
from tasks.tflite import flatbuffer, opcodes

if TYPE_CHECKING:
    from tasks.config.project import Goal

WEIGHTS = ("min_max", "octav", "mse")  # int8 weight rounding the search tries before widening anything
EPSILON_MS = 0.001  # a block that costs less than this is counted at this
EPSILON_ERROR = 1e-9  # the same for a block that adds less error than this when narrowed
SAME_LATENCY = 0.001  # candidates this close to the fastest (a relative difference) are as fast: the most accurate wins


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
    """Measures one candidate of a model: quantize with the ranges, compile with Vela, evaluate.

    A candidate step measures one (tasks/steps/search.py); the step cache keeps it by the content of all it
    depends on, so a search never measures a candidate twice.
    """

    content: bytes  # the float model
    qsvs: dict[str, Any]  # the calibrate step's ranges
    validation: datasets.Samples
    tasks: tuple[dict[str, Any], ...]
    io: str
    per_channel: bool
    # the budget's oracle: latency(src, work) compiles src in the folder work and gives Vela's facts
    # (estimate.inference_ms, ops, layers) (tasks.toolchains.vela.compile.Latency)
    latency: Any
    label: str
    pruned: bool = False
    take: int | None = None  # the first this many validation samples only (bench/auto_mixed.py --rank)
    expected: Path | None = None  # the float model's outputs on the validation samples (tasks/model/expected.py)

    def __post_init__(self):
        self.model = flatbuffer.read_bytes(self.content, self.label)
        self.shape = tuple(flatbuffer.single_input_shape(self.model, self.label))
        self._inputs: tuple[list[np.ndarray], list[dict[str, np.ndarray]]] | None = None

    def inputs(self) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
        """The validation samples and the float model's outputs for them (read and run once for every candidate)."""
        from tasks.model import accuracy, expected

        if self._inputs is None:
            xs = accuracy.validation_inputs(self.validation, self.shape, self.label, self.take)
            kept = expected.read(self.expected, xs)
            if kept is None:
                reference = accuracy.Runner(self.content)
                kept = [reference(x) for x in xs]
            self._inputs = xs, kept
        return self._inputs

    def scheme(self, wide: set[int], weights: str) -> Scheme:
        return Scheme(
            type="int8",
            io=self.io,
            per_channel=self.per_channel,
            weights=weights,
            overrides=tuple(overrides(self.model, wide)),
        )

    def measure(self, wide: set[int], weights: str = "min_max", tables: bool = False) -> dict[str, Any]:
        """The candidate with the operators ``wide`` in int16x8: Vela's estimate, accuracy, layers, type changes;
        with ``tables``, what the search's estimate reads of an end too: Vela's cycles and each layer's noise."""
        from tasks.model import accuracy, quant_errors, quantizer

        progress(f"{len(wide)} layers int16x8, {weights} weights: quantize")
        quantized = quantizer.mixed(self.content, self.scheme(wide, weights), self.qsvs, self.label)
        with tempfile.TemporaryDirectory(prefix="candidate-") as work:
            src = Path(work) / "candidate.tflite"
            src.write_bytes(quantized)
            progress("compile with Vela")
            facts = self.latency(src, Path(work))
        xs, expected = self.inputs()
        progress(f"evaluate on {len(xs)} validation samples")
        runner = accuracy.Runner(quantized)
        got = [{k: v.reshape(e[k].shape) for k, v in runner(x).items()} for x, e in zip(xs, expected, strict=True)]
        outputs = {}
        for name in expected[0]:
            per_sample = [accuracy.compare(e[name], g[name]) for e, g in zip(expected, got, strict=True)]
            summary = accuracy.summarise(per_sample)
            outputs[name] = {"snr_db": summary["snr_db"], "cosine": summary["cosine"]}
        tasks = accuracy.task_metrics(self.tasks, expected, got, self.shape, self.label, self.pruned)
        if self.validation.labels is not None:  # a goal may name a label metric (top1_accuracy, its _drop, …)
            truths = accuracy.truths_of(self.validation, len(xs), self.shape)
            labelled = accuracy.label_metrics(self.tasks, expected, got, truths, self.shape, self.label, (), False)
            for name, m in labelled.get("metrics", {}).items():
                tasks["metrics"].update({name: m["quantized"], f"{name}_drop": m["drop"]})
        record = {
            "weights": weights,
            "wide": sorted(wide),
            "widened": len(wide),
            "type_changes": type_changes(self.model, wide),
            "ms": facts["estimate"]["inference_ms"],
            "ops": facts["ops"],
            # what a pipeline that takes this candidate as a stage adds up (tasks/steps/pipeline.py)
            "sram_kib": facts["estimate"].get("sram_kib"),
            "dram_kib": facts["estimate"].get("dram_kib"),
            "size_bytes": facts["size_bytes"],
            "cpu_fallback": [f["op"] for f in facts.get("cpu_fallback") or []],
            "accuracy": {"outputs": outputs, "metrics": tasks["metrics"]},
        }
        if tables:
            progress(f"each layer's noise on {min(len(xs), quant_errors.SAMPLES)} samples")
            cycles: dict[str, float] = {}
            for layer in facts["layers"]:
                cycles[layer["name"]] = cycles.get(layer["name"], 0) + (layer["cycles"] or 0)
            rows = quant_errors.layer_errors(self.content, quantized, xs)
            record["cycles"] = cycles
            record["noise"] = {r["tensor"]: _nsr(r["snr_db"]) for r in rows}
        return record


def _nsr(snr_db: float) -> float:
    """Noise-to-signal power from an SNR in dB (an exact layer has none)."""
    return 0.0 if math.isinf(snr_db) and snr_db > 0 else 10 ** (-snr_db / 10)


# --- sensitivity, estimated from the two ends ------------------------------------------------------------------

ELEMENTWISE = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "QUANTIZE")


@dataclass(kw_only=True)
class Estimate:
    """What each block does to the error and to Vela's latency, from what is measured once of the two ends.

    - **Latency**: Vela's per-layer cycles of the int8 and the int16x8 model, each operator at its own type,
      plus a type change (int8 ↔ int16 on a tensor) at the cycles per element of the int8 model's elementwise
      operators, times the tensor's elements; scaled so the ends are Vela's own estimates.
    - **Error**: at each layer's output, the gap between the int8 and the int16x8 model's noise-to-signal
      power against the float model (what 8-bit activations cost there); a block's error is how much the gap
      grows across it (at its end, less the largest gap it reads), on the blocks the model's outputs (its
      tasks' outputs, when it has tasks) are computed from.  A gap that grows is noise the block's 8-bit
      activations add; it passes on at the signal's gain, to first order.
    """

    model: Any
    found: list[Block]
    int8: dict[str, Any]  # the ends' records (Measurer.measure with tables)
    int16: dict[str, Any]
    outputs: list[str]

    def __post_init__(self):
        sg = self.model.subgraphs[0]
        names = [flatbuffer.tensor_name(sg.tensors[op.outputs[0]]) for op in sg.operators]
        constant = {i for i, t in enumerate(sg.tensors) if flatbuffer.is_constant(self.model, t)}
        made_by = {o: k for k, op in enumerate(sg.operators) for o in op.outputs}
        reads = [[made_by[i] for i in op.inputs if i in made_by and i not in constant] for op in sg.operators]
        self.edges = [  # (producer, consumer, elements): the tensors a type change would convert
            (made_by[i], k, int(np.prod(sg.tensors[i].shape)) if sg.tensors[i].shape is not None else 1)
            for k, op in enumerate(sg.operators)
            for i in op.inputs
            if i in made_by and i not in constant
        ]
        wanted = {flatbuffer.tensor_name(sg.tensors[i]) for i in sg.outputs}
        wanted = {n for n in self.outputs if n in wanted} or wanted
        upstream, todo = set(), [made_by[i] for i in sg.outputs if flatbuffer.tensor_name(sg.tensors[i]) in wanted]
        while todo:
            k = todo.pop()
            if k not in upstream:
                upstream.add(k)
                todo += reads[k]

        # what 8-bit activations cost at each layer's output: its noise in the int8 model over the int16x8 one
        gap = [self.int8["noise"].get(n, 0.0) - self.int16["noise"].get(n, 0.0) for n in names]
        self.error = [  # a block's: the gap at its end less the largest gap it reads
            max(0.0, gap[b.ops[-1]] - max((gap[j] for k in b.ops for j in reads[k] if j not in b.ops), default=0.0))
            if b.ops[-1] in upstream
            else 0.0
            for b in self.found
        ]
        self.cycles8, self.cycles16 = (_by_operator(end["cycles"], names) for end in (self.int8, self.int16))
        kinds = [opcodes.op_name(self.model, op) for op in sg.operators]
        elements = [int(np.prod(sg.tensors[op.outputs[0]].shape)) for op in sg.operators]
        per_element = [
            self.cycles8[k] / max(1, elements[k])
            for k in range(len(names))
            if kinds[k] in ELEMENTWISE and self.cycles8[k] > 0
        ] or [self.cycles8[k] / max(1, elements[k]) for k in range(len(names)) if self.cycles8[k] > 0]
        self.per_element = float(np.median(per_element)) if per_element else 0.0
        every = {k for b in self.found for k in b.ops}
        low, high = self._cycles(set()), self._cycles(every)
        # cycles → ms: the int8 end at Vela's int8 estimate, the int16x8 end at its own
        self.ms8, self.ms16 = float(self.int8["ms"]), float(self.int16["ms"])
        self._scale = (self.ms16 - self.ms8) / (high - low) if high > low else 0.0
        self._low = low

    def _cycles(self, wide: set[int]) -> float:
        ops = sum(self.cycles16[k] if k in wide else self.cycles8[k] for k in range(len(self.cycles8)))
        changes = sum(e for j, k, e in self.edges if (j in wide) != (k in wide))
        return ops + self.per_element * changes

    def ms(self, wide: set[int]) -> float:
        """Vela's latency estimate for ``wide`` in int16x8, from the ends' per-layer cycles."""
        return self.ms8 + (self._cycles(wide) - self._low) * self._scale

    def block_error(self, b: Block) -> float:
        return self.error[b.index]


def _by_operator(cycles: dict[str, float], names: list[str]) -> list[float]:
    """Vela's cycles of each operator, by its output's name (a float-io model's outputs: the integer tensor's,
    X_int, quantizer.float_io)."""
    return [float(cycles.get(n, 0.0) + cycles.get(n + "_int", 0.0)) for n in names]


def estimate_table(est: Estimate) -> list[dict[str, Any]]:
    """Each block alone: the error it adds in int8 over int16x8, and the ms it costs widened alone and saves
    narrowed alone."""
    every = {k for b in est.found for k in b.ops}
    return [
        {
            "index": b.index,
            "ops": list(b.ops),
            "kinds": list(b.kinds),
            "name": b.name,
            "error": est.block_error(b),
            "widen_ms": round(est.ms(set(b.ops)) - est.ms8, 4),
            "narrow_ms": round(est.ms16 - est.ms(every - set(b.ops)), 4),
        }
        for b in est.found
    ]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One greedy path: its i-th model has the first i blocks of ``order`` widened (or narrowed)."""

    name: str  # widen | narrow
    order: tuple[int, ...]  # block indices, in the order taken
    ms: tuple[float, ...]  # the estimated latency of the path's i-th model, i = 0 … len(order)

    def wide(self, ops: list[tuple[int, ...]] | list[list[int]], i: int) -> set[int]:
        """The operators in int16x8 at step ``i`` (``ops``: each block's operators, by block index)."""
        taken = {k for b in self.order[:i] for k in ops[b]}
        if self.name == "widen":
            return taken
        return {k for block in ops for k in block} - taken


def routes(est: Estimate) -> list[Route]:
    """Widen from int8, the block that removes most error per millisecond first; narrow from int16x8, the block
    that saves most milliseconds per error added first.  Each step's milliseconds are the marginal ones of the
    model so far, type changes included: a block next to the ones taken costs less.

    The error estimate ranks blocks loosely (what a layer's noise does to a task metric varies from layer to
    layer): each block's is shrunk towards the blocks' mean, so the milliseconds lead and the error weighs in."""
    every = {k for b in est.found for k in b.ops}
    errors = [est.block_error(b) for b in est.found]
    typical = float(np.mean([e for e in errors if e > 0] or [EPSILON_ERROR]))
    return [_route(est, "widen", set(), errors, typical), _route(est, "narrow", every, errors, typical)]


def _route(est: Estimate, name: str, wide: set[int], errors: list[float], typical: float) -> Route:
    left, order, ms = [b.index for b in est.found], [], [est.ms(wide)]
    while left:
        scores = {}
        for b in left:
            ops = set(est.found[b].ops)
            if name == "widen":
                scores[b] = (errors[b] / max(est.ms(wide | ops) - ms[-1], EPSILON_MS), -b)
            else:
                scores[b] = ((ms[-1] - est.ms(wide - ops)) / (errors[b] + typical), -b)
        best = max(left, key=scores.__getitem__)
        ops = set(est.found[best].ops)
        wide = wide | ops if name == "widen" else wide - ops
        left.remove(best)
        order.append(best)
        ms.append(est.ms(wide))
    return Route(name=name, order=tuple(order), ms=tuple(ms))


def positions(route: Route, count: int, low: float, high: float) -> list[int]:
    """``count`` models along the route, their estimated latencies spread evenly between the ends' (``low``,
    ``high``), the ends themselves left out (they are measured anyway): for each aim, of the models within half
    a spacing of it the most accurate one (the fewest blocks narrowed, the most widened), else the closest."""
    n, spacing = len(route.order), (high - low) / (count + 1)
    picked: list[int] = []
    for j in range(1, count + 1):
        aim = low + j * spacing
        inner = range(1, n)
        near = [i for i in inner if abs(route.ms[i] - aim) <= spacing / 2 and i not in picked]
        if near:
            i = min(near) if route.name == "narrow" else max(near)
        else:
            i = min((i for i in inner if i not in picked), key=lambda i: (abs(route.ms[i] - aim), i), default=None)
        if i is not None:
            picked.append(i)
    return sorted(picked)


def path_candidates(est: Estimate, paths: list[Route], weights: str, counts: dict[str, int]) -> list[dict[str, Any]]:
    """The candidates measured along ``paths`` (``counts``: how many on each), named ROUTE-1 …: their stage, the
    step along the route, the weight rounding, the estimated latency and the layers in int16x8."""
    ops = [b.ops for b in est.found]
    found = []
    for route in paths:
        for slot, i in enumerate(positions(route, counts[route.name], est.ms8, est.ms16), 1):
            found.append(
                {
                    "name": f"{route.name}-{slot}",
                    "stage": route.name,
                    "step": i,
                    "weights": weights,
                    "estimated_ms": round(route.ms[i], 4),
                    "wide": sorted(route.wide(ops, i)),
                }
            )
    return found


def base_weights(eights: dict[str, dict[str, Any]]) -> str:
    """The int8 weight rounding the paths start from: the one whose outputs are closest to the float model's
    (mean SNR over the outputs), a tie to the first of WEIGHTS."""

    def snr(w: str) -> float:
        outputs = eights[w]["accuracy"]["outputs"]
        return float(np.mean([o["snr_db"] for o in outputs.values()])) if outputs else 0.0

    return max(WEIGHTS, key=lambda w: (snr(w), -WEIGHTS.index(w)))


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (ties at their mean rank); None when either side is constant."""

    def ranks(v: list[float]) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        values = np.asarray(v, dtype=float)
        for x in np.unique(values):
            same = values == x
            r[same] = r[same].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


# --- the choice ------------------------------------------------------------------------------------------------


def refinement(table: dict[str, Any], measured: list[dict[str, Any]], route: str, max_ms: float) -> dict[str, Any]:
    """Along one path (``table``: the sensitivity step's), the most accurate model the estimate puts within the
    budget, less what the estimate fell short of Vela by on the path's measured candidate nearest the budget;
    None when there is none, or it is measured already.  The one model a budget adds to the path's spread."""
    path = next(r for r in table["routes"] if r["name"] == route)
    ms, order = path["ms"], path["order"]
    on_path = [r for r in measured if r["stage"] == route and r.get("estimated_ms") is not None]
    # what the estimate falls short of Vela by near the budget: on the measured candidate estimated closest to it
    nearest = min(on_path, key=lambda r: (abs(r["estimated_ms"] - max_ms), r["estimated_ms"]), default=None)
    short = max(0.0, nearest["ms"] - nearest["estimated_ms"]) if nearest else 0.0
    fit = [i for i in range(1, len(order)) if ms[i] + short <= max_ms]
    if not fit:
        return None
    i = min(fit) if route == "narrow" else max(fit)
    if any(r.get("step") == i for r in on_path):
        return None
    wide = Route(name=route, order=tuple(order), ms=tuple(ms)).wide([b["ops"] for b in table["blocks"]], i)
    return {
        "name": f"{route}-budget",
        "stage": route,
        "step": i,
        "weights": table["weights"],
        "estimated_ms": ms[i],
        "wide": sorted(wide),
    }


def choose(measured: list[dict[str, Any]], goal: Goal, max_ms: float, model) -> dict[str, Any]:
    """The cheapest candidate that meets ``goal`` within ``max_ms``, or the closest, and every candidate measured.

    ``measured``: each candidate's record (Measurer.measure) with its stage and step."""
    tried = [
        {
            "stage": r["stage"],
            "step": r.get("step"),
            "weights": r["weights"],
            "ms": r["ms"],
            "value": goal.value(r),
            "widened": r["widened"],
            "type_changes": r["type_changes"],
            "met": goal.met(r),
            "within": r["ms"] <= max_ms,
            "estimated_ms": r.get("estimated_ms"),
            "wide": r["wide"],
        }
        for r in measured
    ]
    eight = next((t for t in tried if t["stage"] == "8-bit" and t["weights"] == "min_max"), None)
    if eight is None or eight["value"] is None:
        given = ", ".join(measured[tried.index(eight)]["accuracy"]["metrics"]) if eight else ""
        raise StepError(
            f"the goal's metric {goal.metric} is not measured on this model "
            f"(its tasks give: {given or 'none'}); fix the scheme's goal or the model's task"
        )
    chosen = _cheapest(tried, goal)
    met = chosen is not None
    if chosen is None:
        within = [t for t in tried if t["within"] and t["value"] is not None]
        chosen = (
            max(within, key=lambda t: (_better(goal, t), -t["ms"])) if within else min(tried, key=lambda t: t["ms"])
        )
    wide = set(chosen["wide"])
    scheme = fixed_scheme(model, wide, chosen["weights"])
    return {
        "goal": goal.text(),
        "metric": goal.metric,
        "bound": goal.min if goal.min is not None else goal.max,
        "max_ms": max_ms,
        "met": met,
        "why": _why(goal, met, chosen, tried, max_ms),
        "chosen": {
            **{k: chosen[k] for k in ("ms", "value", "widened", "type_changes", "weights")},
            "layers": _layer_names(model, wide),
            "scheme": scheme,
            "summary": _summary(goal, chosen),
        },
        "candidates": [{k: v for k, v in t.items() if k != "wide"} for t in tried],
        "pareto": pareto(tried, goal),
    }


def fixed_scheme(model, wide: set[int], weights: str) -> dict[str, Any]:
    """A candidate as a fixed scheme (records.ChosenScheme): int8, its weight rounding, its int16x8 operators."""
    found = overrides(model, wide)
    return {"type": "int8", "weights": weights, **({"overrides": found} if found else {})}


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


def snippet(name: str, chosen: dict[str, Any], io: str = "float32") -> str:
    """The choice as a fixed scheme to paste under ``quantization:`` of project.yaml (``io``: the automatic
    scheme's, which its candidates were measured with)."""
    import yaml

    scheme = chosen["scheme"]
    body = {"type": "int8", **({"io": io} if io != "float32" else {})}
    body.update({"weights": scheme["weights"]} if scheme["weights"] != "min_max" else {})
    if scheme.get("overrides"):
        body["overrides"] = scheme["overrides"]
    return yaml.safe_dump({name: body}, sort_keys=False, width=1000)
