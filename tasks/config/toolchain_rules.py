"""Rules that hold each variant to its toolchain's key tables (tasks/toolchains/registry.py).

A scheme is checked per variant (the same scheme may serve a TFLite and a
SyNAP target; each variant must be able to use all of it); a model's and a
prune variant's toolchain settings must be used by at least one of their
variants.  Where a misplaced key has a known counterpart, the message says it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from tasks.config.project import Variant
from tasks.model import schemes
from tasks.toolchains.base import Toolchain
from tasks.toolchains.registry import TOOLCHAINS

if TYPE_CHECKING:
    from tasks.config.rules import Context

Found = Iterator[tuple[tuple, str]]


def _owners(key: str, table: str) -> str:
    return ", ".join(t.name for t in TOOLCHAINS if key in getattr(t.reads, table)) or "no"


def _unused(key: str, table: str, toolchain: Toolchain, variant: Variant) -> str:
    hint = toolchain.reads.hints.get(key)
    if hint:
        return hint.format(id=variant.id)
    return (
        f"{key} is not used by the {toolchain.name} toolchain of variant {variant.id} ({toolchain.doc}); "
        f"it is a setting of the {_owners(key, table)} toolchain(s): build this scheme for those targets only, "
        "or remove it"
    )


def either(names: list[str] | tuple[str, ...]) -> str:
    """``a, b or c``: the choices a message offers."""
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _type_message(kind: str, toolchain: Toolchain, variant: Variant) -> str:
    if toolchain.builds.quantizes and kind in schemes.names(tflite=False):
        return (
            f"{kind} is a SyNAP data type; variant {variant.id} is quantized by TensorFlow Lite, "
            f"which takes {either(schemes.names(tflite=True, declared=True))}"
        )
    if not toolchain.builds.quantizes and kind == "dynamic":
        return f"SyNAP has no dynamic-range quantization (variant {variant.id}); use uint8, int8, int16 or float16"
    return (
        f"{kind} is not a type the {toolchain.name} toolchain quantizes to (variant {variant.id}); "
        f"use one of {', '.join(t for t in toolchain.reads.quantization_types if schemes.BY_NAME[t].declared)}"
    )


def _override_type_message(kind: str, toolchain: Toolchain, variant: Variant) -> str:
    if toolchain.builds.quantizes and kind in schemes.names(tflite=False):
        return f"{kind} is a SyNAP data type; for variant {variant.id} use {either(toolchain.reads.override_types)}"
    return (
        f"{kind} is not a precision of the {toolchain.name} toolchain (variant {variant.id}); use one of "
        + ", ".join(toolchain.reads.override_types)
    )


def quantization_keys_used(c: Context) -> Found:
    for v in c.project.variants:
        toolchain, raw = c.project.targets[v.target].toolchain, c.section("quantization", v.quantization)
        at = ("quantization", v.quantization)
        if v.quantization == schemes.PREQUANTIZED:  # given by NPUForge, not written
            if schemes.PREQUANTIZED not in toolchain.reads.quantization_types:
                yield (
                    ("models", v.model),
                    (
                        f"the model arrives quantized and is built as it is; the {toolchain.name} toolchain (target "
                        f"{v.target}) takes only models it quantizes itself: build it for another target"
                    ),
                )
            continue
        if raw["type"] not in toolchain.reads.quantization_types:
            yield at + ("type",), _type_message(raw["type"], toolchain, v)
        for key in raw:
            if key not in toolchain.reads.quantization_keys:
                yield at + (key,), _unused(key, "quantization_keys", toolchain, v)
        for i, override in enumerate(raw.get("overrides") or []):
            if override["type"] not in toolchain.reads.override_types:
                yield at + ("overrides", i, "type"), _override_type_message(override["type"], toolchain, v)
            for key in override:
                if key not in toolchain.reads.override_keys:
                    yield at + ("overrides", i, key), _unused(key, "override_keys", toolchain, v)


def target_keys_used(c: Context) -> Found:
    for name, target in c.project.targets.items():
        toolchain = target.toolchain
        for key in c.section("targets", name):
            if key in toolchain.reads.target_keys or key == "memory":  # memory: every target's (declared.MEMORY)
                continue
            if key == "delegate_options":
                yield ("targets", name, key), "delegate_options need a delegate: name it too"
            else:
                yield (
                    ("targets", name, key),
                    f"{key} is not used by the {toolchain.name} toolchain ({toolchain.doc}); remove it",
                )


def _model_key_message(key: str, table: str, where: str, used: set[Toolchain], count: int) -> str:
    return (
        f"{key} is used only by the {_owners(key, table)} toolchain(s); {where} is built only with "
        f"{', '.join(sorted(t.name for t in used))} ({count} variant(s)): remove it, or build it for such a target"
    )


def model_keys_used(c: Context) -> Found:
    all_model_keys = set().union(*(t.reads.model_keys for t in TOOLCHAINS))
    all_prune_keys = set().union(*(t.reads.prune_keys for t in TOOLCHAINS))
    for name in c.project.models:
        variants = [v for v in c.project.variants if v.model == name]
        used = {c.project.targets[v.target].toolchain for v in variants}
        for key in c.section("models", name):
            if variants and key in all_model_keys and not any(key in t.reads.model_keys for t in used):
                yield ("models", name, key), _model_key_message(key, "model_keys", f"model {name}", used, len(variants))
        for prune, spec in c.section("models", name, "prune").items():
            cut = [v for v in variants if v.prune == prune]
            cut_used = {c.project.targets[v.target].toolchain for v in cut}
            for key in spec:
                if cut and key in all_prune_keys and not any(key in t.reads.prune_keys for t in cut_used):
                    where = f"prune variant {name}.{prune}"
                    yield (
                        ("models", name, "prune", prune, key),
                        _model_key_message(key, "prune_keys", where, cut_used, len(cut)),
                    )
