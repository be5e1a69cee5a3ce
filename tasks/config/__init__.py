"""project.yaml → validated, frozen ``Project``: the only package that reads project.yaml.

Loading is four layers, each a module:

1. ``document``: YAML with the line of every key, validated against
   schema/project.schema.json (unknown keys are errors);
2. ``sections``: each section's entries → the frozen dataclasses of
   ``project``, paths resolved against the folder of project.yaml;
3. ``expand``: the build matrix → variants (pure);
4. ``rules``: checks across keys and sections, as a table, including the keys
   each variant's toolchain uses (tasks/toolchains/registry.py).

Every error names the file, line and YAML path; all of them are reported at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tasks.config import document, expand, rules
from tasks.config.project import (
    DEFAULT_DELEGATES,
    Board,
    Dataset,
    Gate,
    Model,
    Override,
    Preprocess,
    Project,
    Prune,
    Quantization,
    Release,
    Source,
    Split,
    StepCache,
    Target,
    Task,
    Variant,
)
from tasks.config.sections import Problems, Reader, each, gate, pipeline, release
from tasks.errors import ConfigError
from tasks.model.schemes import PREQUANTIZED
from tasks.planning.options import relative

SCHEMA_PATH = document.SCHEMA_PATH

__all__ = [
    "DEFAULT_DELEGATES",
    "SCHEMA_PATH",
    "Board",
    "Dataset",
    "Gate",
    "Model",
    "Override",
    "Preprocess",
    "Project",
    "Prune",
    "Quantization",
    "Release",
    "Source",
    "Split",
    "StepCache",
    "Target",
    "Task",
    "Variant",
    "load",
    "relative",
]


def load(path: str | Path, warnings: list[str] | None = None) -> Project:
    """Read, validate and resolve a project.yaml; raise ConfigError naming file:line: path.

    Settings that are valid but would do nothing (rules.CAUTIONS) are warnings, each ``file:line: path:
    message``: appended to ``warnings`` when given (the caller shows them), else printed on stderr."""
    path = Path(path).absolute()
    data, lines = document.read(path)
    problems = Problems()
    project = _build(path, data, Reader(path.parent, problems))
    problems.found += rules.check(project, data)
    if problems.found:
        raise ConfigError("\n".join(_ordered(problems.found, lines)))
    said = _ordered(rules.cautions(project, data), lines)
    if warnings is None:
        for line in said:
            print(f"WARNING: {line}", file=sys.stderr)
    else:
        warnings += said
    return project


def _ordered(found: list[tuple[tuple, str]], lines: document.Lines) -> list[str]:
    """Each (YAML path, message) as ``file:line: path: message``, in the file's order, once."""
    ordered = sorted(found, key=lambda one: lines.line(one[0]))
    return list(dict.fromkeys(lines.error(p, message) for p, message in ordered))


def _build(path: Path, data: dict, read: Reader) -> Project:
    models = each(data["models"], read.model)
    quantization = each(data.get("quantization"), read.quantization)
    if any(m.prequantized for m in models.values()):  # the scheme of models that arrive quantized: as they are
        quantization.setdefault(PREQUANTIZED, Quantization(name=PREQUANTIZED, type=PREQUANTIZED))
    targets = each(data.get("targets"), read.target)
    return Project(
        path=path,
        root=path.parent,
        name=data["name"],
        build_dir=(path.parent / data.get("build_dir", "build")).absolute(),
        datasets=each(data.get("datasets"), read.dataset),
        models=models,
        quantization=quantization,
        targets=targets,
        variants=expand.variants(data.get("builds"), models, quantization, targets),
        gates=tuple(gate(rule) for rule in data.get("gates") or []),
        boards=each(data.get("boards"), read.board),
        release=release(data.get("release"), data["name"]),
        cache=read.cache(data),
        pipelines=each(data.get("pipelines"), pipeline),
    )
