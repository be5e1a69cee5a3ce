"""A delegate target's settings (``compiler: none`` with a ``delegate``) and the library a board loads for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.keys import Key, Keys, string
from tasks.toolchains.base import FileOf, Settings

# named TFLite delegates -> library on the board (a board's benchmark.delegates overrides)
DEFAULT_DELEGATES = {"vx": "/usr/lib/libvx_delegate.so", "armnn": "/usr/lib/libarmnnDelegate.so", "xnnpack": None}

# targets.NAME of compiler none that names a delegate, beside compiler
TARGET = Keys(
    (
        string(
            "delegate",
            "Run on the NPU through a TFLite delegate: vx (NXP i.MX8M Plus VX delegate), armnn, xnnpack, or a library "
            "path on the board.",
        ),
        Key(
            "delegate_options",
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {
                    "type": ["string", "number", "boolean", "array"],
                    "items": {"type": ["string", "number"]},
                },
            },
            "Options for the external delegate (--external_delegate_options), e.g. {backends: [VsiNpu, CpuAcc, "
            "CpuRef]}.",
        ),
    )
)


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
