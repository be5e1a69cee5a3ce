"""Rules only Vela targets need: their System_Config and Memory_Mode are sections of the vela.ini they use."""

from __future__ import annotations

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.toolchains.base import Found
from tasks.toolchains.vela.settings import DEFAULT_VELA_CONFIG, VelaSettings

if TYPE_CHECKING:
    from tasks.config.rules import Context


@cache
def vela_default_config() -> Path | None:
    """Vela's own Arm/vela.ini, found without importing Vela."""
    spec = importlib.util.find_spec("ethosu")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "config_files" / DEFAULT_VELA_CONFIG


_SECTION = re.compile(r"^\[(System_Config|Memory_Mode)\.([^\]]+)\]\s*$")


@cache
def vela_sections(ini: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in ini.read_text(errors="replace").splitlines():
        match = _SECTION.match(line.strip())
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


def vela_sections_exist(c: Context) -> Found:
    """system_config and memory_mode must be sections of the Vela config the target uses."""
    for target in c.project.targets.values():
        settings = target.settings
        if not isinstance(settings, VelaSettings):
            continue
        ini = settings.config or vela_default_config()
        if ini is None or not ini.is_file():
            continue  # Vela is not installed here, or the file is missing (reported when read)
        label = settings.config.name if settings.config else DEFAULT_VELA_CONFIG
        sections = vela_sections(ini)
        for key, kind in (("system_config", "System_Config"), ("memory_mode", "Memory_Mode")):
            names = sections.get(kind, [])
            if getattr(settings, key) not in names:
                yield (
                    ("targets", target.name, key),
                    (
                        f"'{getattr(settings, key)}' is not a {kind} of {label}; one "
                        f"of {', '.join(names) or 'none defined'}"
                    ),
                )


@cache
def builtin_operators() -> frozenset[str] | None:
    """TFLite's builtin operator names, read from LiteRT's schema module without importing LiteRT."""
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        return None
    text = (Path(next(iter(spec.submodule_search_locations))) / "schema_py_generated.py").read_text()
    body = text.split("class BuiltinOperator(object):", 1)[1].split("\nclass ", 1)[0]
    return frozenset(re.findall(r"^    ([A-Z][A-Z0-9_]*) = \d+$", body, re.MULTILINE))


def vela_ignore_ops_known(c: Context) -> Found:
    """ignore_ops names TFLite builtin operators (Vela stops with a traceback at any other name)."""
    known = builtin_operators()
    for target in c.project.targets.values():
        settings = target.settings
        if not isinstance(settings, VelaSettings) or not known:
            continue
        for i, op in enumerate(settings.ignore_ops):
            if op not in known:
                close = difflib.get_close_matches(op, sorted(known), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                yield (("targets", target.name, "ignore_ops", i), f"'{op}' is not a TFLite builtin operator{hint}")
