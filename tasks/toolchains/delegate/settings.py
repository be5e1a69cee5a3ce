"""A delegate target's settings (``compiler: none`` with a ``delegate``) and the library a board loads for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.toolchains.base import FileOf, Settings

# named TFLite delegates -> library on the board (a board's benchmark.delegates overrides)
DEFAULT_DELEGATES = {"vx": "/usr/lib/libvx_delegate.so", "armnn": "/usr/lib/libarmnnDelegate.so", "xnnpack": None}


@dataclass(frozen=True, kw_only=True)
class DelegateSettings(Settings):
    delegate: str  # a named delegate (vx, armnn, xnnpack) or a library path on the board
    delegate_options: dict[str, Any] | None = None  # --external_delegate_options, as key: value

    def board_delegate(self) -> tuple[str | None, dict[str, Any] | None]:
        return self.delegate, self.delegate_options


def read(raw: dict[str, Any], file_of: FileOf) -> DelegateSettings:
    return DelegateSettings(delegate=raw["delegate"], delegate_options=raw.get("delegate_options"))


def claims(raw: dict[str, Any]) -> bool:
    """Of the ``compiler: none`` targets, those that name a delegate."""
    return bool(raw.get("delegate"))
