"""project.yaml → validated, frozen ``Project``.

The only module that reads project.yaml.  It validates once, against
``schema/project.schema.json``, then checks references between sections and
the files the project names, and resolves every path against the folder that
holds project.yaml.  Every error names the file, line and YAML path.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tasks.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "project.schema.json"

DEFAULT_VELA_CONFIG = "Arm/vela.ini"  # the one Vela ships, resolved by Vela itself
INTEGER_SCHEMES = ("int8", "int16x8")  # TFLite's integer schemes
SYNAP_ONLY_TYPES = ("uint8", "int16")  # SyNAP data types TFLite does not quantize to
CALIBRATED = INTEGER_SCHEMES + SYNAP_ONLY_TYPES  # need calibration data
TFLITE_COMPILERS = ("vela", "none")  # targets that take a TFLite model NPUForge quantizes
# named TFLite delegates -> library on the board (a board's benchmark.delegates overrides)
DEFAULT_DELEGATES = {"vx": "/usr/lib/libvx_delegate.so", "armnn": "/usr/lib/libarmnnDelegate.so", "xnnpack": None}


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocess:
    size: tuple[int, int] | None = None  # (height, width); None: the model's input size
    resize: str = "letterbox"
    mean: tuple[float, ...] = (0.0,)
    scale: tuple[float, ...] = (255.0,)
    color: str = "rgb"


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # images | npy | random
    files: tuple[Path, ...] = ()
    preprocess: Preprocess = Preprocess()
    patterns: tuple[str, ...] = ()  # the globs as written in project.yaml
    seed: int = 0
    count: int = 16
    low: float = 0.0
    high: float = 1.0
    limit: int | None = None

    def params(self, root: Path) -> dict[str, Any]:
        """What the samples depend on besides the files' content (fingerprinted)."""
        return {
            "kind": self.kind,
            "files": [relative(f, root) for f in self.files],
            "preprocess": {
                "size": list(self.preprocess.size) if self.preprocess.size else None,
                "resize": self.preprocess.resize,
                "mean": list(self.preprocess.mean),
                "scale": list(self.preprocess.scale),
                "color": self.preprocess.color,
            },
            "seed": self.seed,
            "count": self.count,
            "low": self.low,
            "high": self.high,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class Source:
    kind: str  # file | builder | pip
    path: Path | None = None  # file source, or the builder's .py file
    function: str | None = None
    args_json: str = "{}"  # builder args, canonical JSON (hashable, fingerprintable)
    pip: str | None = None
    member: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Prune:
    """Keep only what computes ``outputs`` (in this order); optionally start at ``inputs``."""

    name: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] | None = None
    synap: dict[str, Any] | None = None  # SyNAP settings of the kept outputs


@dataclass(frozen=True)
class Model:
    name: str
    source: Source
    input_shape: tuple[int, ...] | None = None
    calibration: str | None = None
    validation: str | None = None
    prune: dict[str, Prune] = field(default_factory=dict)
    task: str | None = None  # "classification" adds top-1 agreement
    synap: dict[str, Any] | None = None  # SyNAP conversion settings: inputs, outputs
    rewrites: tuple[str, ...] | None = None  # None: the default (every rewrite when a Vela target uses it)

    @property
    def onnx(self) -> bool:
        return self.source.path is not None and self.source.path.suffix == ".onnx"


@dataclass(frozen=True)
class Override:
    """Layers matched by ``match`` (regex on output tensor names) or downstream of ``start`` get ``type``."""

    type: str
    match: str | None = None
    start: str | None = None  # project.yaml: from

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, **({"match": self.match} if self.match else {"from": self.start})}


@dataclass(frozen=True)
class Quantization:
    name: str
    type: str
    io: str = "float32"
    per_channel: bool = True
    overrides: tuple[Override, ...] = ()
    scheme: str | None = None  # SyNAP only
    algorithm: str | None = None  # SyNAP only


@dataclass(frozen=True)
class Target:
    name: str
    compiler: str
    accelerator: str | None = None
    system_config: str | None = None
    memory_mode: str | None = None
    config: Path | None = None  # a project vela.ini; None: Vela's own Arm/vela.ini
    optimise: str = "Performance"
    arena_cache_size: int | None = None
    delegate: str | None = None  # compiler none: a named delegate or a library path on the board
    delegate_options: dict[str, Any] | None = None
    soc: str | None = None  # compiler synap: synap convert --target
    toolkit: str | None = None  # compiler synap: the command that runs the SyNAP toolkit

    @property
    def tflite(self) -> bool:
        """NPUForge quantizes the model with TensorFlow Lite (vela and none); SyNAP quantizes itself."""
        return self.compiler in TFLITE_COMPILERS


@dataclass(frozen=True)
class Board:
    """A machine that benchmarks variants: over SSH, or this machine when host is 'local'."""

    name: str
    host: str | None  # None for an adb board
    targets: tuple[str, ...]
    user: str | None = None
    port: int = 22
    key: Path | None = None
    known_hosts: Path | None = None
    host_key: str | None = None
    workdir: str = "/tmp/npuforge"
    timeout: float = 300.0
    connect_timeout: float = 15.0
    runner: str = "litert"  # litert | benchmark_model
    command: str | None = None
    python: str = "python3"
    delegate: str | None = None
    threads: int = 1
    warmup: int = 5
    runs: int = 50
    transport: str = "ssh"  # ssh | adb
    serial: str | None = None  # adb serial
    delegates: dict[str, str] = field(default_factory=dict)  # named delegate -> library on this board
    env: dict[str, str] = field(default_factory=dict)  # environment of the benchmark command
    synap_cli: str = "synap_cli"

    @property
    def local(self) -> bool:
        return self.host == "local"

    @property
    def where(self) -> str:
        if self.transport == "adb":
            return f"adb serial {self.serial}"
        return "this machine" if self.local else str(self.host)

    def settings(self) -> dict[str, Any]:
        """What a benchmark on this board depends on (fingerprinted)."""
        return {
            "host": self.host, "user": self.user, "port": self.port, "workdir": self.workdir, "runner": self.runner,
            "command": self.command, "python": self.python, "delegate": self.delegate,
            "threads": self.threads, "warmup": self.warmup, "runs": self.runs, "transport": self.transport,
            "serial": self.serial, "env": dict(sorted(self.env.items())), "synap_cli": self.synap_cli,
        }  # fmt: skip

    def delegate_library(self, target: Target) -> str | None:
        """The library this board loads for ``target``'s delegate (None: built in, or no delegate)."""
        if target.delegate is None:
            return self.delegate
        if target.delegate in self.delegates:
            return self.delegates[target.delegate]
        return DEFAULT_DELEGATES.get(target.delegate, target.delegate)


@dataclass(frozen=True)
class Variant:
    model: str
    quantization: str
    target: str
    prune: str | None = None

    @property
    def unit(self) -> str:
        """The float model it starts from: ``MODEL`` or ``MODEL.PRUNE``."""
        return f"{self.model}.{self.prune}" if self.prune else self.model

    @property
    def id(self) -> str:
        return f"{self.unit}/{self.quantization}@{self.target}"


@dataclass(frozen=True)
class Project:
    path: Path  # project.yaml
    root: Path  # its folder; every relative path resolves against it
    name: str
    build_dir: Path
    datasets: dict[str, Dataset] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    quantization: dict[str, Quantization] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    gates: tuple[dict[str, Any], ...] = ()  # rules, as in project.yaml (see tasks/gates.py)
    boards: dict[str, Board] = field(default_factory=dict)
    release: dict[str, Any] | None = None  # {name, version, variants: [globs]}
    cache_dir: Path | None = None  # shared step cache


def relative(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` (POSIX form) when inside it, else as it is."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


# --- YAML with line numbers ----------------------------------------------------------------------


class _Lines:
    """Maps a YAML path (tuple of keys / indices) to the 1-based line it starts on."""

    def __init__(self, node: yaml.Node | None, label: str):
        self.label = label
        self.lines: dict[tuple, int] = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = key.value
                if name in seen:
                    raise ConfigError(
                        f"{self.label}:{key.start_mark.line + 1}: {format_path(path + (name,))}: "
                        f"duplicate key '{name}'; keep only one"
                    )
                seen.add(name)
                self.lines[path + (name, "<key>")] = key.start_mark.line + 1
                self._walk(value, path + (name,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, path + (i,))

    def line(self, path: tuple) -> int:
        """The line of the key that names ``path`` (else of its value, else of its parent)."""
        if path + ("<key>",) in self.lines:
            return self.lines[path + ("<key>",)]
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: tuple, message: str) -> str:
        where = f"{format_path(path)}: " if path else ""
        return f"{self.label}:{self.line(path)}: {where}{message}"


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# --- schema validation ---------------------------------------------------------------------------


@cache
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_message(error) -> tuple[tuple, str]:
    """One readable sentence for a jsonschema error: (YAML path, message)."""
    path = tuple(error.absolute_path)
    v, value, schema = error.validator, error.instance, error.schema
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        if extra and allowed:
            return path + (extra[0],), f"unknown key '{extra[0]}'; allowed keys: {', '.join(allowed)}"
        if extra:
            return path + (extra[0],), f"unknown key '{extra[0]}'"
    if v == "enum":
        return path, f"{_show(value)} is not one of {', '.join(map(str, error.validator_value))}"
    if v == "const":
        return path, f"{_show(value)} must be {_show(error.validator_value)}"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required key '{missing}'"
    if v == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return path, f"{_show(value)} is not of type {wanted}"
    if v == "pattern":
        hints = {
            "sha256": "a 64-digit lowercase hex sha256",
            "pip": "a pinned requirement such as mediapipe==0.10.14",
            "builder": "path/to/file.py:function",
        }
        leaf = next((p for p in reversed(path) if isinstance(p, str)), "")
        hint = hints.get(leaf, f"letters, digits, '_' and '-' (pattern {error.validator_value})")
        return path, f"{_show(value)} is not valid: expected {hint}"
    if v in ("minItems", "maxItems", "minLength", "minProperties"):
        return path, f"{_show(value)} is too short ({v} {error.validator_value})"
    if v in ("minimum", "exclusiveMinimum", "maximum"):
        return path, f"{_show(value)} is out of range ({v} {error.validator_value})"
    return path, error.message


def _validate_schema(data: Any, lines: _Lines) -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: lines.line(tuple(e.absolute_path)))
    # if/then branches report the same problem twice; keep the first of each path.
    seen: set[str] = set()
    messages = []
    for error in errors:
        path, message = _schema_message(error)
        text = lines.error(path, message)
        if text not in seen:
            seen.add(text)
            messages.append(text)
    if messages:
        raise ConfigError("\n".join(messages))


# --- building the frozen project -----------------------------------------------------------------


def load(path: str | Path) -> Project:
    """Read, validate and resolve a project.yaml; raise ConfigError naming file:line: path."""
    path = Path(path).absolute()
    label = path.name if path.parent == Path.cwd() else str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file; create it or pass project=PATH/project.yaml") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{label}:{line}: YAML syntax error: {problem}") from None
    lines = _Lines(node, label)
    if data is None:
        raise ConfigError(f"{label}:1: the file is empty; start with 'version: 1'")
    _validate_schema(data, lines)
    return _Builder(path, data, lines).build()


class _Builder:
    def __init__(self, path: Path, data: dict, lines: _Lines):
        self.path = path
        self.root = path.parent
        self.data = data
        self.lines = lines
        self.errors: list[str] = []

    def fail(self, yaml_path: tuple, message: str) -> None:
        self.errors.append(self.lines.error(yaml_path, message))

    def file(self, yaml_path: tuple, value: str, what: str, folder_ok: bool = False) -> Path:
        p = (self.root / Path(value).expanduser()).absolute()
        if not p.exists():
            self.fail(yaml_path, f"{what} '{value}' does not exist (looked for {p})")
        elif p.is_dir() and not folder_ok:
            self.fail(yaml_path, f"{what} '{value}' is a folder; name a file")
        return p

    def build(self) -> Project:
        d = self.data
        datasets = {n: self.dataset(n, v) for n, v in (d.get("datasets") or {}).items()}
        models = {n: self.model(n, v, datasets) for n, v in d["models"].items()}
        quant = {n: self.quantization(n, v) for n, v in (d.get("quantization") or {}).items()}
        for n, q in quant.items():
            if q.io != "float32" and q.type not in INTEGER_SCHEMES:
                self.fail(("quantization", n, "io"), f"io: {q.io} needs type int8 or int16x8, not {q.type}")
            if q.type == "int8" and q.io == "int16" or q.type == "int16x8" and q.io in ("int8", "uint8"):
                allowed = "int8, uint8" if q.type == "int8" else "int16"
                self.fail(("quantization", n, "io"), f"io: {q.io} does not fit type {q.type}; use float32 or {allowed}")
        self.datasets = datasets
        targets = {n: self.target(n, v) for n, v in (d.get("targets") or {}).items()}
        for target in targets.values():
            self.check_vela_sections(target)
        variants = self.variants(models, quant, targets)
        build_dir = (self.root / d.get("build_dir", "build")).absolute()
        boards = {n: self.board(n, v, targets) for n, v in (d.get("boards") or {}).items()}
        gates = tuple(d.get("gates") or [])
        for i, rule in enumerate(gates):
            if "min" not in rule and "max" not in rule:
                self.fail(("gates", i), "give min, max or both")
        release = d.get("release")
        if release:
            from fnmatch import fnmatchcase

            for i, pattern in enumerate(release["variants"]):
                if not any(fnmatchcase(v.id, pattern) for v in variants):
                    ids = ", ".join(v.id for v in variants[:4]) + (", …" if len(variants) > 4 else "")
                    self.fail(("release", "variants", i), f"'{pattern}' matches no variant (ids look like {ids})")
            release = {"name": release.get("name", d["name"]), **release}
        if self.errors:
            raise ConfigError("\n".join(dict.fromkeys(self.errors)))
        cache = d.get("cache", {}).get("dir") or os.environ.get("NPUFORGE_CACHE")
        cache_dir = (self.root / Path(cache).expanduser()).absolute() if cache else None
        return Project(
            self.path, self.root, d["name"], build_dir, datasets, models, quant, targets, variants, gates, boards,
            release, cache_dir,
        )  # fmt: skip

    def dataset(self, name: str, v: dict) -> Dataset:
        at = ("datasets", name)
        kinds = [k for k in ("images", "npy", "random") if k in v]
        if len(kinds) != 1:
            self.fail(at, f"give exactly one of images, npy, random (found {', '.join(kinds) or 'none'})")
            return Dataset(name, "random")
        kind = kinds[0]
        pre = v.get("preprocess", {})
        as_tuple = lambda x: tuple(float(i) for i in (x if isinstance(x, list) else [x]))  # noqa: E731
        preprocess = Preprocess(
            size=tuple(pre["size"]) if "size" in pre else None,
            resize=pre.get("resize", "letterbox"),
            mean=as_tuple(pre.get("mean", 0.0)),
            scale=as_tuple(pre.get("scale", 255.0)),
            color=pre.get("color", "rgb"),
        )
        files: tuple[Path, ...] = ()
        if kind in ("images", "npy"):
            patterns = v[kind] if isinstance(v[kind], list) else [v[kind]]
            found: list[Path] = []
            for i, pattern in enumerate(patterns):
                where = at + (kind, i) if isinstance(v[kind], list) else at + (kind,)
                matches = sorted(Path(p).absolute() for p in glob.glob(str(self.root / pattern), recursive=True))
                matches = [m for m in matches if m.is_file()]
                if not matches:
                    self.fail(where, f"'{pattern}' matches no file (relative to {self.root})")
                found.extend(m for m in matches if m not in found)
            if "limit" in v:
                found = found[: v["limit"]]
            files = tuple(found)
        rnd = v.get("random", {})
        patterns_written = v.get(kind) if kind in ("images", "npy") else ()
        return Dataset(
            name,
            kind,
            files,
            preprocess,
            patterns=tuple(patterns_written if isinstance(patterns_written, list) else [patterns_written]),
            seed=rnd.get("seed", 0),
            count=rnd.get("count", 16) if "limit" not in v else min(rnd.get("count", 16), v["limit"]),
            low=float(rnd.get("low", 0.0)),
            high=float(rnd.get("high", 1.0)),
            limit=v.get("limit"),
        )

    def model(self, name: str, v: dict, datasets: dict[str, Dataset]) -> Model:
        at = ("models", name)
        src = v["source"]
        if isinstance(src, str):
            p = self.file(at + ("source",), src, "source", folder_ok=True)
            if p.is_dir() and not (p / "saved_model.pb").exists():
                self.fail(at + ("source",), f"folder '{src}' is not a SavedModel (no saved_model.pb)")
            elif p.is_file() and p.suffix not in (".keras", ".h5", ".tflite", ".onnx"):
                self.fail(
                    at + ("source",),
                    f"'{src}' is not a model this tool reads; give a .keras, .h5 or float .tflite file, a SavedModel "
                    "folder, or (for synap targets) an .onnx file",
                )
            source = Source("file", path=p)
        elif "builder" in src:
            file_part, function = src["builder"].rsplit(":", 1)
            p = self.file(at + ("source", "builder"), file_part, "builder file")
            source = Source(
                "builder", path=p, function=function, args_json=json.dumps(src.get("args", {}), sort_keys=True)
            )
        else:
            source = Source("pip", pip=src["pip"], member=src["member"], sha256=src["sha256"])
        for key in ("calibration", "validation"):
            if key in v and v[key] not in datasets:
                known = ", ".join(sorted(datasets)) or "none defined"
                self.fail(at + (key,), f"dataset '{v[key]}' is not defined under datasets (defined: {known})")
        prune = {
            p: Prune(p, tuple(spec["outputs"]), tuple(spec["inputs"]) if "inputs" in spec else None, spec.get("synap"))
            for p, spec in (v.get("prune") or {}).items()
        }
        for p, cut in prune.items():
            given = len((cut.synap or {}).get("outputs", []))
            if given > len(cut.outputs):
                self.fail(
                    at + ("prune", p, "synap", "outputs"),
                    f"{given} entries for {len(cut.outputs)} kept output(s); give one per output, in order",
                )
        return Model(
            name,
            source,
            tuple(v["input_shape"]) if "input_shape" in v else None,
            v.get("calibration"),
            v.get("validation"),
            prune,
            v.get("task"),
            v.get("synap"),
            tuple(v["rewrites"]) if "rewrites" in v else None,
        )

    def quantization(self, name: str, v: dict) -> Quantization:
        overrides = []
        for i, o in enumerate(v.get("overrides") or []):
            at = ("quantization", name, "overrides", i)
            if ("match" in o) == ("from" in o):
                self.fail(at, "give exactly one of match (a regex on layer output names) or from (a tensor name)")
                continue
            if "match" in o:
                try:
                    re.compile(o["match"])
                except re.error as exc:
                    self.fail(at + ("match",), f"{o['match']!r} is not a valid regular expression ({exc})")
            if v["type"] not in CALIBRATED:
                self.fail(at, f"overrides need type int8, int16x8 (or, for SyNAP, uint8, int16), not {v['type']}")
            overrides.append(Override(o["type"], o.get("match"), o.get("from")))
        return Quantization(
            name,
            v["type"],
            v.get("io", "float32"),
            v.get("per_channel", True),
            tuple(overrides),
            v.get("scheme"),
            v.get("algorithm"),
        )

    def target(self, name: str, v: dict) -> Target:
        if v["compiler"] == "none":
            if "delegate_options" in v and "delegate" not in v:
                self.fail(("targets", name, "delegate_options"), "delegate_options need a delegate: name it too")
            return Target(name, "none", delegate=v.get("delegate"), delegate_options=v.get("delegate_options"))
        if v["compiler"] == "synap":
            return Target(name, "synap", soc=v["soc"], toolkit=v.get("toolkit"))
        config = None
        if "config" in v:
            config = self.file(("targets", name, "config"), v["config"], "Vela config")
        return Target(
            name,
            "vela",
            accelerator=v["accelerator"],
            system_config=v["system_config"],
            memory_mode=v["memory_mode"],
            config=config,
            optimise=v.get("optimise", "Performance"),
            arena_cache_size=v.get("arena_cache_size"),
        )

    def board(self, name: str, v: dict, targets: dict[str, Target]) -> Board:
        at = ("boards", name)
        for i, t in enumerate(v["targets"]):
            if t not in targets:
                known = ", ".join(sorted(targets)) or "none defined"
                self.fail(at + ("targets", i), f"'{t}' is not defined under targets (defined: {known})")
        for i, t in enumerate(v["targets"]):
            if t in targets and targets[t].compiler == "synap" and v.get("host") == "local":
                self.fail(at + ("targets", i), f"'{t}' is a SyNAP target: its models run on a SyNAP board (synap_cli)")
        bench = v.get("benchmark", {})
        runner = bench.get("runner", "litert")
        if runner == "benchmark_model" and "command" not in bench:
            self.fail(
                at + ("benchmark",), "runner benchmark_model needs command: the path of benchmark_model on the board"
            )
        if v.get("host") == "local" and runner != "litert":
            self.fail(
                at + ("benchmark", "runner"), "the local board runs the litert runner; remove runner or use litert"
            )

        def path(key: str) -> Path | None:
            return Path(v[key]).expanduser() if key in v else None

        transport = v.get("transport", "ssh")
        if transport == "adb" and "host" in v:
            self.fail(at + ("host",), "an adb board is reached by serial; remove host")
        return Board(
            name,
            v.get("host"),
            tuple(v["targets"]),
            user=v.get("user"),
            port=v.get("port", 22),
            key=path("key"),
            known_hosts=path("known_hosts"),
            host_key=v.get("host_key"),
            workdir=v.get("workdir", "/tmp/npuforge"),
            timeout=float(v.get("timeout", 300)),
            connect_timeout=float(v.get("connect_timeout", 15)),
            runner=runner,
            command=bench.get("command"),
            python=bench.get("python", "python3"),
            delegate=bench.get("delegate"),
            threads=bench.get("threads", 1),
            warmup=bench.get("warmup", 5),
            runs=bench.get("runs", 50),
            transport=transport,
            serial=v.get("serial"),
            delegates=dict(bench.get("delegates", {})),
            env={
                **(
                    {"VIV_VX_ENABLE_CACHE_GRAPH_BINARY": "1", "VIV_VX_CACHE_BINARY_GRAPH_DIR": bench["graph_cache"]}
                    if "graph_cache" in bench
                    else {}
                ),
                **{k: str(x) for k, x in bench.get("env", {}).items()},
            },  # fmt: skip
            synap_cli=bench.get("synap_cli", "synap_cli"),
        )

    def check_vela_sections(self, target: Target) -> None:
        """system_config and memory_mode must be sections of the Vela config the target uses."""
        if target.compiler != "vela":
            return
        ini = target.config or _vela_default_config()
        if ini is None or not ini.is_file():
            return  # Vela is not installed here, or the file is missing (reported above)
        label = target.config.name if target.config else DEFAULT_VELA_CONFIG
        sections = _vela_sections(ini)
        for key, kind in (("system_config", "System_Config"), ("memory_mode", "Memory_Mode")):
            value = getattr(target, key)
            names = sections.get(kind, [])
            if value not in names:
                self.fail(
                    ("targets", target.name, key),
                    f"'{value}' is not a {kind} of {label}; one of {', '.join(names) or 'none defined'}",
                )

    def variants(self, models: dict, quant: dict, targets: dict) -> tuple[Variant, ...]:
        """Expand builds (default: every model and prune variant x quantization x target)."""
        builds = self.data.get("builds")
        units = {m: (m, None) for m in models}
        units.update({f"{m}.{p}": (m, p) for m in models for p in models[m].prune})
        sections = {"models": units, "quantization": quant, "targets": targets}
        if builds is None:
            combos = [(list(units), list(quant), list(targets))]
            for key in ("quantization", "targets"):
                if not sections[key]:
                    self.fail((), f"no {key} defined; add a '{key}:' section")
        else:
            combos = []
            for i, build in enumerate(builds):
                for key, defined in sections.items():
                    for j, ref in enumerate(build[key]):
                        if ref not in defined:
                            what = "models (or MODEL.PRUNE)" if key == "models" else key
                            known = ", ".join(sorted(defined)) or "none defined"
                            self.fail(("builds", i, key, j), f"'{ref}' is not defined under {what} (defined: {known})")
                combos.append((build["models"], build["quantization"], build["targets"]))
        out: list[Variant] = []
        for ms, qs, ts in combos:
            for unit in ms:
                for q in qs:
                    for t in ts:
                        if unit in units and q in quant and t in targets:
                            variant = Variant(units[unit][0], q, t, units[unit][1])
                            if variant not in out:
                                out.append(variant)
        for variant in out:
            q = quant[variant.quantization]
            m = models[variant.model]
            if q.type in CALIBRATED and m.calibration is None:
                self.fail(
                    ("models", m.name),
                    f"quantization '{q.name}' ({q.type}) needs calibration data; add 'calibration: DATASET' to this model",
                )
            self.check_toolchain(variant, m, q, targets[variant.target])
        return tuple(out)

    def check_toolchain(self, variant: Variant, model: Model, q: Quantization, target: Target) -> None:
        """Settings that only SyNAP, or only TensorFlow Lite, understands, used with the other."""
        at_q = ("quantization", q.name)
        if target.tflite:
            if model.onnx:
                self.fail(
                    ("models", model.name, "source"),
                    f"'{relative(model.source.path, self.root)}' is an ONNX model: only synap targets take it "
                    f"(there is no ONNX to TFLite import yet); build it for synap targets only (variant {variant.id}), "
                    "or give a .tflite, .keras or SavedModel source",
                )
            if q.type in SYNAP_ONLY_TYPES:
                self.fail(
                    at_q + ("type",),
                    f"{q.type} is a SyNAP data type; variant {variant.id} is quantized by TensorFlow Lite, "
                    "which takes int8, int16x8, float16 or dynamic",
                )
            for key in ("scheme", "algorithm"):
                if getattr(q, key):
                    self.fail(
                        at_q + (key,),
                        f"{key} is a SyNAP setting; variant {variant.id} is quantized by TensorFlow Lite "
                        "(use per_channel there), so build this scheme for synap targets only",
                    )
            for i, o in enumerate(q.overrides):
                if o.type in SYNAP_ONLY_TYPES:
                    self.fail(
                        at_q + ("overrides", i, "type"),
                        f"{o.type} is a SyNAP data type; for variant {variant.id} use int8, int16x8 or float",
                    )
            return
        if q.type in CALIBRATED and model.calibration and self.datasets[model.calibration].kind == "random":
            self.fail(
                ("models", model.name, "calibration"),
                f"SyNAP calibrates on files (variant {variant.id}); give dataset '{model.calibration}' images: or npy:",
            )
        if q.type == "dynamic":
            self.fail(
                at_q + ("type",),
                f"SyNAP has no dynamic-range quantization (variant {variant.id}); use uint8, int8, int16 or float16",
            )
        if q.io != "float32":
            self.fail(
                at_q + ("io",),
                f"io is a TensorFlow Lite setting; for variant {variant.id} say dequantize: per output under "
                "the model's synap: outputs",
            )
        for i, o in enumerate(q.overrides):
            if o.match:
                self.fail(
                    at_q + ("overrides", i, "match"),
                    f"SyNAP picks layers by name, not by pattern (variant {variant.id}); use from: LAYER "
                    "(that layer and every layer after it)",
                )


def _vela_default_config() -> Path | None:
    """Vela's own Arm/vela.ini, found without importing Vela."""
    spec = importlib.util.find_spec("ethosu")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "config_files" / DEFAULT_VELA_CONFIG


_SECTION = re.compile(r"^\[(System_Config|Memory_Mode)\.([^\]]+)\]\s*$")


@cache
def _vela_sections(ini: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in ini.read_text(errors="replace").splitlines():
        match = _SECTION.match(line.strip())
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found
