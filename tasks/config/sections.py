"""The document's sections → the model's dataclasses (tasks/config/project.py).

The second layer of loading: each function turns one entry of one section
into its frozen dataclass, resolving paths against the project's folder and
reporting files that do not exist or globs that match nothing.  Checks that
relate keys to each other are rules (tasks/config/rules.py), not here.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tasks.config import declared
from tasks.config.project import (
    Board,
    Budget,
    Dataset,
    Gate,
    Goal,
    Memory,
    Model,
    Override,
    Pipeline,
    PipelineSearch,
    Preprocess,
    Prune,
    Quantization,
    Release,
    Source,
    Split,
    Stage,
    StepCache,
    Target,
    Task,
)
from tasks.errors import ConfigError
from tasks.model.labels import BY_FORMAT, Labels, folder_classes
from tasks.model.metrics import TASKS
from tasks.tflite.activations import quantized_activations
from tasks.toolchains.registry import for_target

MODEL_SUFFIXES = (".keras", ".h5", ".tflite", ".onnx")
# object stores a step cache may be on (fsspec's protocol → the package that implements it)
STORE_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}


@dataclass
class Problems:
    """Errors found while loading, each a YAML path and a message; reported together."""

    found: list[tuple[tuple, str]] = field(default_factory=list)

    def add(self, path: tuple, message: str) -> None:
        self.found.append((path, message))


@dataclass
class Reader:
    """Reads sections of one project.yaml, resolving paths against ``root``."""

    root: Path
    problems: Problems

    def file(self, at: tuple, value: str, what: str, folder_ok: bool = False) -> Path:
        p = (self.root / Path(value).expanduser()).absolute()
        if not p.exists():
            self.problems.add(at, f"{what} '{value}' does not exist (looked for {p})")
        elif p.is_dir() and not folder_ok:
            self.problems.add(at, f"{what} '{value}' is a folder; name a file")
        return p

    def globs(self, at: tuple, value: str | list[str]) -> tuple[Path, ...]:
        patterns = value if isinstance(value, list) else [value]
        found: list[Path] = []
        for i, pattern in enumerate(patterns):
            where = at + (i,) if isinstance(value, list) else at
            matches = sorted(Path(p).absolute() for p in glob.glob(str(self.root / pattern), recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                self.problems.add(where, f"'{pattern}' matches no file (relative to {self.root})")
            found.extend(m for m in matches if m not in found)
        return tuple(found)

    def dataset(self, name: str, v: dict) -> Dataset:
        kind = next((k for k in ("images", "npy", "random") if k in v), "random")  # rules: exactly one
        pre = v.get("preprocess", {})

        def floats(x: Any) -> tuple[float, ...]:
            return tuple(float(i) for i in (x if isinstance(x, list) else [x]))

        preprocess = Preprocess(
            size=tuple(pre["size"]) if "size" in pre else None,
            resize=declared.PREPROCESS.value(pre, "resize"),
            mean=floats(declared.PREPROCESS.value(pre, "mean")),
            scale=floats(declared.PREPROCESS.value(pre, "scale")),
            color=declared.PREPROCESS.value(pre, "color"),
        )
        files = self.globs(("datasets", name, kind), v[kind]) if kind in ("images", "npy") else ()
        truth = self.labels(name, v["labels"], files) if "labels" in v and kind == "images" else None
        if "limit" in v:
            files = files[: v["limit"]]
        rnd = v.get("random", {})
        written = v.get(kind) if kind in ("images", "npy") else []
        count = declared.RANDOM.value(rnd, "count")
        return Dataset(
            name=name,
            kind=kind,
            files=files,
            preprocess=preprocess,
            patterns=tuple(written if isinstance(written, list) else [written]),
            seed=declared.RANDOM.value(rnd, "seed"),
            count=min(count, v["limit"]) if "limit" in v else count,
            low=float(declared.RANDOM.value(rnd, "low")),
            high=float(declared.RANDOM.value(rnd, "high")),
            limit=v.get("limit"),
            split=Split(
                calibration=v["split"]["calibration"],
                validation=v["split"]["validation"],
                seed=declared.SPLIT.value(v["split"], "seed"),
            )
            if "split" in v
            else None,
            labels=truth,
        )

    def labels(self, name: str, given: dict, files: tuple[Path, ...]) -> Labels:
        """``datasets.NAME.labels`` with the keys its format takes (rules report the others); ``files``: all the
        dataset's files, before limit and split, so every part numbers the classes of folders alike."""
        at, takes = ("datasets", name, "labels"), BY_FORMAT[given["format"]].keys

        def given_for(key: str) -> Any:
            return given.get(key) if key in takes else None

        masks = given_for("masks")
        folder = self.file(at + ("masks",), masks, "masks folder", folder_ok=True) if masks else None
        if folder is not None and folder.is_file():
            self.problems.add(at + ("masks",), f"'{masks}' is a file; name the folder of the masks")
        classes = given_for("classes") or (folder_classes(files) if given["format"] == "folders" else ())
        return Labels(
            format=given["format"],
            file=self.file(at + ("file",), given["file"], "label file") if given_for("file") else None,
            masks_dir=folder,
            classes=tuple(classes),
            categories=tuple(sorted((int(k), i) for k, i in (given_for("categories") or {}).items())),
        )

    def source(self, at: tuple, src: str | dict) -> Source:
        if isinstance(src, str):
            p = self.file(at, src, "source", folder_ok=True)
            if p.is_dir() and not (p / "saved_model.pb").exists():
                self.problems.add(at, f"folder '{src}' is not a SavedModel (no saved_model.pb)")
            elif p.is_file() and p.suffix not in MODEL_SUFFIXES:
                self.problems.add(
                    at,
                    f"'{src}' is not a model this tool reads; give a .keras, .h5 or float .tflite file, a SavedModel "
                    "folder, or an .onnx file",
                )
            return Source(kind="file", path=p)
        if "builder" in src:
            file_part, function = src["builder"].rsplit(":", 1)
            p = self.file(at + ("builder",), file_part, "builder file")
            return Source(
                kind="builder",
                path=p,
                function=function,
                args_json=json.dumps(declared.BUILDER.value(src, "args"), sort_keys=True),
                files=tuple(
                    self.file(at + ("files", i), f, "builder's file", folder_ok=True)
                    for i, f in enumerate(src.get("files", ()))
                ),
            )
        return Source(kind="pip", pip=src["pip"], member=src["member"], sha256=src["sha256"])

    def model(self, name: str, v: dict) -> Model:
        prune = {
            p: Prune(
                name=p,
                outputs=tuple(spec["outputs"]),
                inputs=tuple(spec["inputs"]) if "inputs" in spec else None,
                synap=spec.get("synap"),
            )
            for p, spec in (v.get("prune") or {}).items()
        }
        source = self.source(("models", name, "source"), v["source"])
        fetched = None
        if source.kind == "pip" and str(source.member).endswith(".tflite"):
            fetched = self.root / "models" / "fetched" / PurePosixPath(source.member).name
        local = source.path if source.kind == "file" and source.path and source.path.suffix == ".tflite" else None
        return Model(
            name=name,
            source=source,
            prequantized=quantized_activations(local or fetched) if (local or fetched) else None,
            reference=v.get("reference"),
            fetched=fetched,
            input_shape=tuple(v["input_shape"]) if "input_shape" in v else None,
            calibration=v.get("calibration"),
            validation=v.get("validation"),
            prune=prune,
            tasks=self.tasks(name, v.get("task")),
            synap=v.get("synap"),
            rewrites=tuple(v["rewrites"]) if "rewrites" in v else None,
            onnx2tf_params=self._onnx2tf_params(name, v),
        )

    def tasks(self, name: str, given: str | dict | list | None) -> tuple[Task, ...]:
        """``task:`` as written → one Task per entry; ``other`` (or none) is no task."""
        if given is None or given == "other":
            return ()
        entries = [given] if isinstance(given, dict) else given if isinstance(given, list) else [{"type": given}]
        found = []
        for i, entry in enumerate(entries):
            at = ("models", name, "task") + ((i,) if isinstance(given, list) else ())
            kind = entry.get("type", "custom" if "metric" in entry else None)
            settings = {k: x for k, x in entry.items() if k not in ("type", "metric")}
            if kind is None:
                kinds = ", ".join(t.name for t in TASKS if t.name != "custom")
                self.problems.add(at, f"give type ({kinds}) or metric")
                continue
            if kind != "custom" and "metric" in entry:
                self.problems.add(at + ("metric",), f"metric: is for type custom, not {kind}; remove one of them")
                continue
            if kind == "custom":
                if "metric" not in entry:
                    self.problems.add(at, "type custom needs metric: FILE.py:FUNCTION")
                    continue
                file_part, _, function = entry["metric"].rpartition(":")
                metric = self.file(at + ("metric",), file_part, "metric file")
                found.append(Task(type=kind, settings=settings, metric_file=metric, function=function))
            else:
                found.append(Task(type=kind, settings=settings))
        return tuple(found)

    def _onnx2tf_params(self, name: str, v: dict) -> Path | None:
        given = (v.get("onnx2tf") or {}).get("param_replacement")
        return (
            self.file(("models", name, "onnx2tf", "param_replacement"), given, "onnx2tf parameter file")
            if given
            else None
        )

    def quantization(self, name: str, v: dict) -> Quantization:
        overrides = tuple(
            Override(type=o["type"], match=o.get("match"), start=o.get("from"))
            for o in v.get("overrides") or []
            if ("match" in o) != ("from" in o)  # rules: exactly one of them
        )
        goal = Goal(**v["goal"]) if "goal" in v else None
        budget = Budget(target=v["budget"]["target"], max_ms=float(v["budget"]["max_ms"])) if "budget" in v else None
        return Quantization(
            name=name,
            type=v["type"],
            io=declared.QUANTIZATION.value(v, "io"),
            per_channel=declared.QUANTIZATION.value(v, "per_channel"),
            overrides=overrides,
            scheme=v.get("scheme"),
            algorithm=v.get("algorithm"),
            weights=declared.QUANTIZATION.value(v, "weights"),
            goal=goal,
            budget=budget,
        )

    def target(self, name: str, v: dict) -> Target:
        toolchain = for_target(v)

        def file_of(key: str, what: str) -> Path:
            return self.file(("targets", name, key), v[key], what)

        memory = Memory(**v.get("memory", {}))
        settings = toolchain.reads.read({k: x for k, x in v.items() if k != "memory"}, file_of)
        return Target(name=name, toolchain=toolchain, settings=settings, memory=memory)

    def board(self, name: str, v: dict) -> Board:
        board, run, agreement = declared.BOARD, declared.BENCHMARK, declared.AGREEMENT
        bench = v.get("benchmark", {})

        def path(key: str) -> Path | None:
            return Path(v[key]).expanduser() if key in v else None

        graph_cache = bench.get("graph_cache")
        vx_cache = {"VIV_VX_ENABLE_CACHE_GRAPH_BINARY": "1", "VIV_VX_CACHE_BINARY_GRAPH_DIR": graph_cache}
        given = v.get("agreement", False)  # true: the defaults; false: off
        agree = {} if given is True else given if isinstance(given, dict) else None
        return Board(
            name=name,
            host=v.get("host"),
            targets=tuple(v["targets"]),
            user=v.get("user"),
            port=board.value(v, "port"),
            key=path("key"),
            known_hosts=path("known_hosts"),
            host_key=v.get("host_key"),
            workdir=board.value(v, "workdir"),
            timeout=float(board.value(v, "timeout")),
            connect_timeout=float(board.value(v, "connect_timeout")),
            runner=run.value(bench, "runner"),
            command=bench.get("command"),
            python=run.value(bench, "python"),
            delegate=bench.get("delegate"),
            threads=run.value(bench, "threads"),
            warmup=run.value(bench, "warmup"),
            runs=run.value(bench, "runs"),
            max_seconds=float(bench["max_seconds"]) if "max_seconds" in bench else None,
            transport=board.value(v, "transport"),
            serial=v.get("serial"),
            delegates=dict(bench.get("delegates", {})),
            env={**(vx_cache if graph_cache else {}), **{k: str(x) for k, x in bench.get("env", {}).items()}},
            synap_cli=run.value(bench, "synap_cli"),
            agreement_samples=agreement.value(agree, "samples") if agree is not None else None,
            agreement_tolerance_lsb=agreement.value(agree or {}, "tolerance_lsb"),
            agreement_tolerance_abs=float(agreement.value(agree or {}, "tolerance_abs")),
        )

    def cache(self, d: dict) -> StepCache | None:
        """``cache:`` of project.yaml, else NPUFORGE_CACHE (a folder, or a URL such as s3://bucket/prefix)."""
        given = d.get("cache")
        if given is None:
            where = os.environ.get("NPUFORGE_CACHE", "")
            if not where:
                return None
            given = {"url": where} if "://" in where else {"dir": where}
        size = given.get("max_size_gb")
        common = {
            "read_only": bool(declared.CACHE.value(given, "read_only")),
            "max_bytes": int(size * 2**30) if size is not None else None,
        }
        if "url" not in given:
            return StepCache(dir=(self.root / Path(given["dir"]).expanduser()).absolute(), **common)
        url = given["url"].rstrip("/")
        scheme, _, rest = url.partition("://")
        package = STORE_PACKAGES.get(scheme)
        if package is None or not rest:
            problem = f"{url!r} is not a store NPUForge knows; give s3://BUCKET/PREFIX (or gs://, az://), or a folder"
        elif importlib.util.find_spec(package) is None:
            problem = f"{scheme}:// needs the {package} package, which is not installed: pip install {package}"
        else:
            return StepCache(url=url, **common)
        if d.get("cache") is None:
            raise ConfigError(f"NPUFORGE_CACHE={url}: {problem}")
        self.problems.add(("cache", "url"), problem)
        return None


def pipeline(name: str, v: dict) -> Pipeline:
    stages = tuple(_stage(s) for s in v["stages"])
    given = {combo: c["schemes"] if isinstance(c, dict) else c for combo, c in v["quantization"].items()}
    combinations = {
        combo: (schemes,) * len(stages) if isinstance(schemes, str) else tuple(schemes)
        for combo, schemes in given.items()
    }
    only = {combo: tuple(c["targets"]) for combo, c in v["quantization"].items() if isinstance(c, dict)}
    fps = v.get("fps")
    budget = v.get("budget_ms", 1000.0 / fps if fps else None)
    return Pipeline(
        name=name,
        stages=stages,
        combinations=combinations,
        targets=tuple(v["targets"]),
        only=only,
        budget_ms=float(budget) if budget is not None else None,
        fps=float(fps) if fps is not None else None,
        dataset=v.get("dataset"),
        search=_search(v["search"], v["targets"][0]) if "search" in v else None,
    )


def _search(v: dict, first_target: str) -> PipelineSearch:
    return PipelineSearch(
        goal=Goal(**v["goal"]),
        target=v.get("target", first_target),
        measure=declared.PIPELINE_SEARCH.value(v, "measure"),
    )


def _stage(v: dict) -> Stage:
    crop = v.get("crop")
    if isinstance(crop, str):
        crop = {"layout": crop}
    if crop is None:
        return Stage(unit=v["model"])
    return Stage(
        unit=v["model"],
        crop=crop["layout"],
        crop_scale=crop.get("scale"),
        square=declared.CROP.value(crop, "square"),
    )


def gate(rule: dict) -> Gate:
    return Gate(**rule)


def release(r: dict | None, project_name: str) -> Release | None:
    if not r:
        return None
    return Release(
        name=r.get("name", project_name),
        version=r["version"],
        variants=tuple(r["variants"]),
        override_gates=r.get("override_gates"),
    )


def each(section: dict | None, build: Callable[[str, dict], Any]) -> dict[str, Any]:
    return {name: build(name, value) for name, value in (section or {}).items()}
