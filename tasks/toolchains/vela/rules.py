"""Rules only Vela targets need: their System_Config and Memory_Mode are sections of the vela.ini they use."""

from __future__ import annotations

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
