"""Checks across keys and sections, as a table: each rule yields (YAML path, message) for what it finds.

The last layer of loading.  The schema has checked each value on its own;
these rules check values against each other (a dataset a model names exists,
``io`` fits the scheme's type, a board's targets exist) and against the
toolchain of each variant: a key the variant's toolchain does not use is an
error naming the YAML path and the toolchain, never silently dropped.

``CAUTIONS`` are rules of the same form for settings that are valid but would
do nothing (a task never evaluated, a gate that can check no variant): they
are warnings, not errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from tasks.config.expand import units
from tasks.config.project import Project
from tasks.config.toolchain_rules import either, model_keys_used, quantization_keys_used, target_keys_used
from tasks.model import schemes
from tasks.model.metrics import TASKS
from tasks.model.schemes import AUTO, PREQUANTIZED
from tasks.toolchains.registry import TOOLCHAINS

Found = Iterator[tuple[tuple, str]]


@dataclass(frozen=True)
class Context:
    project: Project
    data: dict[str, Any]  # the document, as written

    def section(self, *path: str) -> dict[str, Any]:
        node: Any = self.data
        for key in path:
            node = (node or {}).get(key)
        return node or {}


@dataclass(frozen=True)
class Rule:
    name: str
    doc: str
    check: Callable[[Context], Found]


def _defined(what: str, names) -> str:
    return f"is not defined under {what} (defined: {', '.join(sorted(names)) or 'none defined'})"


# --- datasets, models, quantization ---------------------------------------------------------------


def one_dataset_kind(c: Context) -> Found:
    for name, v in c.section("datasets").items():
        kinds = [k for k in ("images", "npy", "random") if k in v]
        if len(kinds) != 1:
            yield ("datasets", name), f"give exactly one of images, npy, random (found {', '.join(kinds) or 'none'})"


def labels_fit(c: Context) -> Found:
    from tasks.model.labels import BY_FORMAT

    for name, v in c.section("datasets").items():
        given = v.get("labels")
        if given is None:
            continue
        at = ("datasets", name, "labels")
        kind = next((k for k in ("images", "npy", "random") if k in v), "random")
        if kind != "images":
            yield at, f"labels are for image datasets; this one has {kind} data; remove labels or give images"
            continue
        row = BY_FORMAT[given["format"]]
        for key in row.needs:
            if key not in given:
                what = "FOLDER (of the masks)" if key == "masks" else "FILE (the label file)"
                yield at, f"format {row.name} needs {key}: {what}, relative to project.yaml"
        for key in given:
            if key != "format" and key not in row.keys:
                yield at + (key,), f"format {row.name} takes no {key} (it takes {', '.join(row.keys)}); remove it"
        classes = given.get("classes") or []
        twice = sorted({n for n in classes if classes.count(n) > 1})
        if twice:
            yield at + ("classes",), f"{', '.join(twice)} named twice; give each class once"


def model_datasets(c: Context) -> Found:
    for name, model in c.project.models.items():
        for key in ("calibration", "validation"):
            value = getattr(model, key)
            if value is not None and value not in c.project.datasets:
                yield ("models", name, key), f"dataset '{value}' {_defined('datasets', c.project.datasets)}"


def io_fits_type(c: Context) -> Found:
    for n, q in c.project.quantization.items():
        if q.io == "uint8" and (q.type == AUTO or q.overrides or q.weights != "min_max"):
            yield ("quantization", n, "io"), "io: uint8 is not available with ai-edge-quantizer's recipes; use int8"
        elif q.io in (row := schemes.BY_NAME[q.type]).io:
            continue
        elif row.io == ("float32",):  # float activations inside: only float io
            takers = either([s.name for s in schemes.SCHEMES if s.tflite and q.io in s.io])
            yield ("quantization", n, "io"), f"io: {q.io} needs type {takers}, not {q.type}"
        else:
            yield ("quantization", n, "io"), f"io: {q.io} does not fit type {q.type}; use {either(row.io)}"


def overrides_well_formed(c: Context) -> Found:
    for n, v in c.section("quantization").items():
        for i, o in enumerate(v.get("overrides") or []):
            at = ("quantization", n, "overrides", i)
            if ("match" in o) == ("from" in o):
                yield at, "give exactly one of match (a regex on layer output names) or from (a tensor name)"
                continue
            if "match" in o:
                try:
                    re.compile(o["match"])
                except re.error as exc:
                    yield at + ("match",), f"{o['match']!r} is not a valid regular expression ({exc})"
            if v["type"] not in schemes.names(calibrated=True):
                takes = ", ".join(t for t in schemes.names(calibrated=True, tflite=True) if t != AUTO)
                synap = ", ".join(schemes.names(calibrated=True, tflite=False))
                yield at, f"overrides need type {takes} (or, for SyNAP, {synap}), not {v['type']}"


def auto_well_formed(c: Context) -> Found:
    from tasks.config.quality_gates import KNOWN
    from tasks.model.metrics import BUILTIN_METRICS as BY_METRIC
    from tasks.model.metrics import BY_NAME

    custom = any(t.type == "custom" for m in c.project.models.values() for t in m.tasks)
    searchable = ("snr_db", "cosine") + BY_METRIC  # measured on the validation set (and a custom task's names)
    for n, q in c.project.quantization.items():
        at = ("quantization", n)
        if q.weights != "min_max" and q.type not in ("int8", AUTO):
            yield (
                at + ("weights",),
                f"weights: {q.weights} rounds int8 weights; it needs type int8 or auto, not {q.type}",
            )
        if q.type != AUTO:
            for key in ("goal", "budget"):
                if getattr(q, key) is not None:
                    yield at + (key,), f"{key} is for type auto (the mixed-precision search); this scheme is {q.type}"
            continue
        if q.overrides:
            yield (
                at + ("overrides",),
                "type auto chooses the overrides itself; remove them, or make this a type int8 scheme",
            )
        if q.goal is None:
            yield at, "type auto needs goal: {metric: METRIC, min: X} or {metric: METRIC, max: X} (what it must reach)"
        elif (q.goal.min is None) == (q.goal.max is None):
            yield at + ("goal",), "give the goal one bound, min or max: it says which way the search improves"
        elif q.goal.metric not in searchable and (q.goal.metric in KNOWN or not custom):
            yield (
                at + ("goal", "metric"),
                f"'{q.goal.metric}' is not a metric a search can improve; one of {', '.join(searchable)}",
            )
        elif q.goal.metric in BY_METRIC:
            for model in sorted({v.model for v in c.project.variants if v.quantization == n}):
                m = c.project.models[model]
                dataset = c.project.datasets.get(m.validation or "")
                labelled = dataset is not None and dataset.labels is not None
                rows = [BY_NAME[t.type] for t in m.tasks if t.type in BY_NAME]
                given = [x for r in rows for x in (*r.metrics, *((*r.truth, *r.drops) if labelled else ()))]
                if q.goal.metric not in given:
                    against = any(q.goal.metric in (*r.truth, *r.drops) for r in rows)
                    fix = (
                        f"give the validation dataset labels (datasets.{m.validation or 'NAME'}.labels)"
                        if against
                        else f"give models.{model}.task, or aim at snr_db"
                    )
                    yield (
                        at + ("goal", "metric"),
                        f"{q.goal.metric} is not measured on model {model}: its tasks give "
                        f"{', '.join(given) or 'none'}; {fix}",
                    )
        if q.budget is None:
            yield at, "type auto needs budget: {target: TARGET, max_ms: MS} (Vela's estimate the choice may cost)"
        elif q.budget.target not in c.project.targets:
            yield at + ("budget", "target"), f"'{q.budget.target}' " + _defined("targets", c.project.targets)
        elif c.project.targets[q.budget.target].toolchain.builds.latency is None:
            oracles = " or ".join(t.compiler for t in TOOLCHAINS if t.builds.latency)
            yield (
                at + ("budget", "target"),
                f"'{q.budget.target}' is not a {oracles} target: the budget is Vela's latency estimate; name one",
            )


# --- targets and boards -----------------------------------------------------------------------------


def boards_fit_targets(c: Context) -> Found:
    targets = c.project.targets
    for name, board in c.project.boards.items():
        at = ("boards", name)
        for i, t in enumerate(board.targets):
            if t not in targets:
                yield at + ("targets", i), f"'{t}' {_defined('targets', targets)}"
        if board.runner == "benchmark_model" and board.command is None:
            yield at + ("benchmark",), "runner benchmark_model needs command: the path of benchmark_model on the board"
        if board.local and board.runner != "litert":
            yield at + ("benchmark", "runner"), "the local board runs the litert runner; remove runner or use litert"
        if board.transport == "adb" and board.host is not None:
            yield at + ("host",), "an adb board is reached by serial; remove host"


# --- the build matrix -------------------------------------------------------------------------------


def builds_defined(c: Context) -> Found:
    project = c.project
    sections = {"models": units(project.models), "quantization": project.quantization, "targets": project.targets}
    if "builds" not in c.data:
        for key in ("quantization", "targets"):
            if not sections[key]:
                yield (), f"no {key} defined; add a '{key}:' section"
        return
    for i, build in enumerate(c.data["builds"]):
        for key, defined in sections.items():
            for j, ref in enumerate(build.get(key, ())):
                if ref not in defined:
                    what = "models (or MODEL.PRUNE)" if key == "models" else key
                    yield ("builds", i, key, j), f"'{ref}' {_defined(what, defined)}"


def as_they_arrive(c: Context) -> Found:
    """A model that arrives quantized is built as it is: no scheme, calibration or rewrite applies to it; without a
    float reference (and in its prune variants, which the reference does not reach) it is judged by labels."""
    models = c.project.models
    if PREQUANTIZED in (c.data.get("quantization") or {}):
        yield (
            ("quantization", PREQUANTIZED),
            (f"'{PREQUANTIZED}' is the scheme NPUForge gives models that arrive quantized; give yours another name"),
        )
    for i, build in enumerate(c.data.get("builds") or []):
        if PREQUANTIZED in build.get("quantization", ()):
            yield (
                ("builds", i, "quantization"),
                (
                    f"'{PREQUANTIZED}' is the scheme NPUForge gives models that arrive quantized; list such models "
                    "in a builds entry without quantization"
                ),
            )
    for name, m in models.items():
        if m.reference is not None and m.reference not in models:
            yield ("models", name, "reference"), f"model '{m.reference}' {_defined('models', models)}"
        elif m.reference is not None and m.prequantized is None:
            yield (
                ("models", name, "reference"),
                (
                    "reference is for a model that arrives quantized; this one is float (it is compared with its own "
                    "float model): remove reference"
                ),
            )
        elif m.reference is not None and models[m.reference].prequantized:
            yield ("models", name, "reference"), f"model '{m.reference}' is quantized too; name a float model"
        if m.prequantized is None:
            continue
        arrives = f"models.{name} arrives quantized ({m.prequantized} activations) and is built as it is"
        yield from _judged_by_labels(c, name, arrives)
        for key in ("calibration", "rewrites"):
            if c.section("models")[name].get(key) is not None:
                yield ("models", name, key), f"{arrives}: nothing calibrates or rewrites it; remove {key}"
        for i, build in enumerate(c.data.get("builds") or []):
            named = {u.split(".")[0] for u in build["models"]}
            if name in named and "quantization" in build:
                others = sorted(n for n in named if n in models and not models[n].prequantized)
                fix = (
                    f"move it to a builds entry without quantization (its schemes still apply to {', '.join(others)})"
                    if others
                    else "remove quantization from this entry"
                )
                yield ("builds", i, "quantization"), f"{arrives}: quantization schemes do not apply to it; {fix}"


def _judged_by_labels(c: Context, name: str, arrives: str) -> Found:
    """A model that arrives quantized with a validation set but nothing to judge it by: no labels, and no float
    reference (or prune variants, which the reference does not reach)."""
    m = c.project.models[name]
    dataset = c.project.datasets.get(m.validation or "")
    if dataset is None or dataset.labels is not None:
        return
    pruned = sorted({v.unit for v in c.project.variants if v.model == name and v.prune})
    if m.reference is None or pruned:
        what = f"its prune variants ({', '.join(pruned)})" if m.reference else "it"
        yield (
            ("models", name, "validation"),
            (
                f"{arrives}: with no float model to compare {what} with, only labels can judge {what}; give the "
                f"dataset labels (datasets.{dataset.name}.labels)"
                + ("" if m.reference else " or the model a reference: FLOAT")
            ),
        )


def calibration_given(c: Context) -> Found:
    for v in c.project.variants:
        q, m = c.project.quantization[v.quantization], c.project.models[v.model]
        if q.calibrated and m.calibration is None:
            yield (
                ("models", m.name),
                f"quantization '{q.name}' ({q.type}) needs calibration data; add 'calibration: DATASET' to this model",
            )


def gates_bounded(c: Context) -> Found:
    from tasks.config.quality_gates import KNOWN

    custom = any(t.type == "custom" for m in c.project.models.values() for t in m.tasks)
    for i, gate in enumerate(c.project.gates):
        if gate.min is None and gate.max is None:
            yield ("gates", i), "give min, max or both"
        if gate.metric not in KNOWN and not custom:
            yield (
                ("gates", i, "metric"),
                f"'{gate.metric}' is not a metric; one of {', '.join(KNOWN)} (or a name a custom task metric returns)",
            )


# the settings each task type takes (type and metric aside), and the layouts of those that take a layout: the
# schema's task object takes every type's, so these hold each task to its own type's (tasks/model/metrics)
TASK_KEYS = {t.name: tuple(k.name for k in t.keys) for t in TASKS}
LAYOUTS = {t.name: tuple(k.value["enum"]) for t in TASKS for k in t.keys if k.name == "layout"}


def tasks_well_formed(c: Context) -> Found:
    for name, model in c.project.models.items():
        seen: set[str] = set()
        listed = isinstance(c.section("models", name).get("task"), list)
        for i, task in enumerate(model.tasks):
            at = ("models", name, "task") + ((i,) if listed else ())
            for key in task.settings:
                if key not in TASK_KEYS[task.type]:
                    allowed = ", ".join(TASK_KEYS[task.type]) or "only metric"
                    yield at + (key,), f"a {task.type} task takes no {key} (it takes {allowed})"
            layout = task.settings.get("layout")
            if layout is not None and task.type in LAYOUTS and layout not in LAYOUTS[task.type]:
                yield (
                    at + ("layout",),
                    f"'{layout}' is not a {task.type} layout; one of {', '.join(LAYOUTS[task.type])}",
                )
            if (
                task.type == "detection"
                and task.settings.get("layout", "mediapipe_ssd") == "mediapipe_ssd"
                and ("anchors" not in task.settings)
            ):
                yield (
                    at,
                    "a mediapipe_ssd detection task needs anchors: pose_detection, face_detection_short_range "
                    "or palm_detection (or layout: boxes)",
                )
            if task.type in seen and task.type != "custom":
                yield at, f"a second {task.type} task; give a model one task of each type"
            seen.add(task.type)


def splits_fit(c: Context) -> Found:
    from tasks.model.datasets import split_counts

    for name, d in c.project.datasets.items():
        if d.split is None:
            continue
        at = ("datasets", name, "split")
        if d.split.calibration + d.split.validation > 1 + 1e-9:
            yield at, f"calibration {d.split.calibration} + validation {d.split.validation} is more than 1"
            continue
        total = d.count if d.kind == "random" else len(d.files)
        first, second = split_counts(total, (d.split.calibration, d.split.validation))
        if total and (first == 0 or second == 0):
            yield (
                at,
                (
                    f"{total} sample(s) give {first} for calibration and {second} for validation; "
                    "add samples or change the shares"
                ),
            )


def release_globs_match(c: Context) -> Found:
    release, variants = c.project.release, c.project.variants
    for i, pattern in enumerate(release.variants if release else ()):
        if not any(fnmatchcase(v.id, pattern) for v in variants):
            ids = ", ".join(v.id for v in variants[:4]) + (", …" if len(variants) > 4 else "")
            yield ("release", "variants", i), f"'{pattern}' matches no variant (ids look like {ids})"


# --- pipelines ----------------------------------------------------------------------------------------


def pipelines_fit(c: Context) -> Found:
    """Stages name units; a crop follows a detector; each combination gives a scheme per stage that is built on
    every target of the pipeline."""
    known = units(c.project.models)
    for name, p in c.project.pipelines.items():
        at = ("pipelines", name)
        yield from _stages_fit(c, at, p, known)
        unknown = [t for t in p.targets if t not in c.project.targets]
        if unknown:
            yield at + ("targets",), f"{', '.join(unknown)} {_defined('targets', c.project.targets)}"
        if p.dataset is not None:
            d = c.project.datasets.get(p.dataset)
            if d is None:
                yield at + ("dataset",), f"'{p.dataset}' {_defined('datasets', c.project.datasets)}"
            elif d.kind != "images":
                yield at + ("dataset",), f"'{p.dataset}' has {d.kind} data; a pipeline runs on images (whole frames)"
        elif p.stages[0].unit in known and not c.project.models[p.stages[0].model].validation:
            yield at, f"the first stage's model {p.stages[0].model} has no validation dataset; give dataset: DATASET"
        if any(s.unit not in known for s in p.stages) or unknown:
            continue
        yield from _search_fits(c, at, p)
        built = {(v.unit, v.quantization, v.target) for v in c.project.variants}
        for combo, schemes_ in p.combinations.items():
            where = at + ("quantization", combo)
            outside = [t for t in p.targets_of(combo) if t not in p.targets]
            if outside:
                yield (
                    where + ("targets",),
                    f"{', '.join(outside)} not among the pipeline's targets ({', '.join(p.targets)})",
                )
                continue
            if len(schemes_) != len(p.stages):
                yield where, f"{len(schemes_)} scheme(s) for {len(p.stages)} stages; give one scheme, or one per stage"
                continue
            for stage, scheme in zip(p.stages, schemes_, strict=True):
                missing = [t for t in p.targets_of(combo) if (stage.unit, scheme, t) not in built]
                if scheme not in c.project.quantization:
                    yield where, f"'{scheme}' {_defined('quantization', c.project.quantization)}"
                elif missing:
                    yield (
                        where,
                        f"{stage.unit} is not built with {scheme} for {', '.join(missing)}; add it to builds "
                        f"(models: [{stage.unit}], quantization: [{scheme}], targets: [{', '.join(missing)}]) or "
                        "take the target out of the pipeline",
                    )


def _search_fits(c: Context, at: tuple, p) -> Found:
    """A pipeline's search: a bounded goal, a Vela target of the pipeline, a frame budget, stages built there."""
    from tasks.config.quality_gates import KNOWN, PIPELINE_METRICS

    if p.search is None:
        return
    at += ("search",)
    goal, target = p.search.goal, p.search.target
    if (goal.min is None) == (goal.max is None):
        yield at + ("goal",), "give the goal one bound, min or max: it says which way the search improves"
    if goal.metric in KNOWN and goal.metric not in PIPELINE_METRICS + tuple(_task_metrics(c, p.stages[-1])):
        yield at + ("goal", "metric"), f"{goal.metric} is not a metric of the last stage's tasks end to end"
    if target not in p.targets:
        yield at + ("target",), f"'{target}' is not among the pipeline's targets ({', '.join(p.targets)})"
    elif c.project.targets[target].compiler != "vela":
        vela = [t for t in p.targets if c.project.targets[t].compiler == "vela"]
        yield (
            at + ("target",),
            f"{target} has no Vela estimate to add up; name a Vela target of the pipeline "
            f"({', '.join(vela) or 'it has none'})",
        )
    if p.budget_ms is None:
        yield at, "a search needs the frame budget: give the pipeline fps or budget_ms"


def _task_metrics(c: Context, stage) -> list[str]:
    from tasks.model.metrics import BY_NAME

    return [m for t in c.project.models[stage.model].tasks for m in BY_NAME[t.type].metrics]


def _stages_fit(c: Context, at: tuple, p, known) -> Found:
    for i, stage in enumerate(p.stages):
        where = at + ("stages", i)
        if stage.unit not in known:
            yield where + ("model",), f"'{stage.unit}' is not a model or prune variant (units: {', '.join(known)})"
            continue
        if i == 0 and stage.crop is not None:
            yield where + ("crop",), "the first stage sees the whole frame; remove crop"
        if i > 0 and stage.crop is None:
            yield where, f"a later stage needs crop: its input is cut around stage {i - 1}'s detection"
        before = p.stages[i - 1] if i > 0 else None
        if i > 0 and before.unit in known:
            types = [t.type for t in c.project.models[before.model].tasks]
            if "detection" not in types:
                yield (
                    where + ("crop",),
                    f"crop needs a detection task on the stage before ({before.unit} has "
                    f"{', '.join(types) or 'no task'}); give models.{before.model} task: detection",
                )


RULES: tuple[Rule, ...] = (
    Rule("one dataset kind", "a dataset has exactly one of images, npy, random", one_dataset_kind),
    Rule("labels", "labels on an images dataset, with the keys their format needs and takes", labels_fit),
    Rule("model datasets", "calibration and validation name datasets that exist", model_datasets),
    Rule("splits", "a split dataset's shares add up to at most 1 and leave both parts samples", splits_fit),
    Rule("tasks", "a model's tasks take their type's settings, once per type", tasks_well_formed),
    Rule("io fits type", "a scheme's io suits its type", io_fits_type),
    Rule("overrides", "each override has one of match / from, a valid regex, a calibrated type", overrides_well_formed),
    Rule("auto", "an automatic scheme has a goal with one bound and a budget on a vela target", auto_well_formed),
    Rule("target keys", "a target uses only keys of its toolchain", target_keys_used),
    *(Rule(r.name, r.doc, r.check) for t in TOOLCHAINS for r in t.reads.rules),  # each toolchain's own
    Rule("builds", "builds name models, schemes and targets that exist", builds_defined),
    Rule("calibration", "integer schemes have calibration data", calibration_given),
    Rule("as they arrive", "models that arrive quantized get no scheme, calibration or rewrite", as_they_arrive),
    Rule(
        "quantization keys", "each variant's scheme uses only keys and types of its toolchain", quantization_keys_used
    ),
    Rule("model keys", "a model's toolchain settings are used by one of its variants", model_keys_used),
    Rule("boards", "boards serve defined targets with a runner that can run there", boards_fit_targets),
    Rule("gates", "every gate has a bound", gates_bounded),
    Rule("release", "every release glob matches a variant", release_globs_match),
    Rule("pipelines", "stages, crops, schemes and targets of each pipeline exist and are built", pipelines_fit),
)


def check(project: Project, data: dict[str, Any]) -> list[tuple[tuple, str]]:
    context = Context(project, data)
    return [found for rule in RULES for found in rule.check(context)]


# --- cautions: valid settings that would do nothing -----------------------------------------------------


def labels_fit_tasks(c: Context) -> Found:
    """A task whose label metrics the validation set's labels cannot give (classification against COCO boxes)."""
    from tasks.model.metrics import BY_NAME

    for name, m in c.project.models.items():
        dataset = c.project.datasets.get(m.validation or "")
        if dataset is None or dataset.labels is None:
            continue
        for i, task in enumerate(m.tasks):
            row = BY_NAME.get(task.type)
            if row is None or not row.truth or dataset.labels.format in row.labelled_by:
                continue
            at = ("models", name, "task") + ((i,) if len(m.tasks) > 1 else ())
            yield (
                at,
                (
                    f"{task.type} is scored against {' or '.join(row.labelled_by)} labels, but datasets.{dataset.name}."
                    f"labels is {dataset.labels.format}: this task gets no {', '.join(row.truth)}; give the labels it "
                    "reads, or leave its label metrics out"
                ),
            )


def tasks_evaluated(c: Context) -> Found:
    """The evaluate step runs only on a model with a validation dataset (tasks/steps/evaluate.py)."""
    for name, model in c.project.models.items():
        if model.tasks and not model.validation:
            yield (
                ("models", name, "task"),
                "the model has no validation dataset, so its task is never evaluated (no task metric, no gate on "
                f"one); add validation: DATASET to models.{name} (datasets: "
                f"{', '.join(sorted(c.project.datasets)) or 'none defined'})",
            )


def gates_reach(c: Context) -> Found:
    from tasks.config.quality_gates import selects

    for i, gate in enumerate(c.project.gates):
        if gate.pipelines is not None:
            yield from _pipeline_gate_reach(c, i, gate)
            continue
        chosen = [v for v in c.project.variants if selects(gate.as_dict(), _selected_as(v))]
        if not chosen:
            yield _selects_none(c.project, i, gate)
            continue
        why = _unmeasured(c.project, gate.metric, sorted({v.model for v in chosen}))
        if why:
            yield (
                ("gates", i, "metric"),
                f"{why}, so gates[{i}] checks no variant; give one that task and validation: DATASET, or select "
                "other models",
            )


def _pipeline_gate_reach(c: Context, i: int, gate) -> Found:
    from tasks.config.quality_gates import selects

    rows = [
        {"pipeline": name, "quantization": combo, "target": t}
        for name, p in c.project.pipelines.items()
        for combo in p.combinations
        for t in p.targets_of(combo)
    ]
    if not any(selects(gate.as_dict(), r) for r in rows):
        made = ", ".join(f"{r['pipeline']}/{r['quantization']}@{r['target']}" for r in rows[:4]) or "none"
        yield ("gates", i), f"its globs match no pipeline variant (the pipelines make {made}), so it checks nothing"


def _selected_as(v) -> dict[str, Any]:
    """A variant as quality_gates.selects reads a results.json row."""
    return {"model": v.model, "prune": v.prune, "quantization": v.quantization, "target": v.target}


def _selects_none(project: Project, i: int, gate) -> tuple[tuple, str]:
    built = {
        "models": sorted({v.unit for v in project.variants}),
        "quantization": sorted({v.quantization for v in project.variants}),
        "targets": sorted({v.target for v in project.variants}),
    }
    for key, names in built.items():
        pattern = getattr(gate, key)
        if pattern is not None and not any(fnmatchcase(n, pattern) for n in names):
            return (
                ("gates", i, key),
                f"'{pattern}' matches none of the built {key} ({', '.join(names) or 'none'}), so gates[{i}] checks "
                "no variant; change the glob",
            )
    return (
        ("gates", i),
        "its models, quantization and targets globs match no variant together (the builds make "
        f"{', '.join(v.id for v in project.variants[:4])}{', …' if len(project.variants) > 4 else ''}), so "
        f"gates[{i}] checks no variant; change a glob",
    )


def _unmeasured(project: Project, metric: str, models: list[str]) -> str | None:
    """Why none of ``models`` can give ``metric``; None when one can.  Task metrics come from the evaluate step,
    which runs on a model with a validation dataset: an agreement metric from a task of a type that gives it, a
    label metric (or its _drop) from any task, any other name from a custom task."""
    from tasks.config.quality_gates import KNOWN, METRICS
    from tasks.model.metrics import TASKS

    if metric in METRICS:
        return None
    evaluated = {t.type for m in models if project.models[m].validation for t in project.models[m].tasks}
    givers = [t.name for t in TASKS if metric in t.metrics]
    if givers:
        gives, need = set(givers) & evaluated, f"a {' or '.join(givers)} task"
    elif metric in KNOWN:
        gives, need = evaluated, "a task (measured against the validation set's labels)"
    else:
        gives, need = set(), "a custom task (the only kind that gives other names)"
    if gives or "custom" in evaluated:
        return None
    return (
        f"{metric} comes from {need} on a model with a validation dataset, and none of the selected models "
        f"({', '.join(models)}) has both"
    )


CAUTIONS: tuple[Rule, ...] = (
    Rule("tasks evaluated", "a model with a task has a validation dataset to evaluate it on", tasks_evaluated),
    Rule("labels fit tasks", "a task's label metrics come from the labels its validation set has", labels_fit_tasks),
    Rule("gates reach", "every gate selects a variant whose model can give its metric", gates_reach),
)


def cautions(project: Project, data: dict[str, Any]) -> list[tuple[tuple, str]]:
    """(YAML path, message) for each setting that would do nothing; the project loads all the same."""
    context = Context(project, data)
    return [found for rule in CAUTIONS for found in rule.check(context)]
