"""How a board runs a SyNAP model: ``synap_cli -m MODEL -r N random``, and what it prints read back."""

from __future__ import annotations

from typing import Any

from tasks.toolchains.synap import adapter

NAME = "synap_cli"
SUFFIX = ".synap"  # of the model on the board
ParseError = adapter.ParseError


def argv(board: dict[str, Any], graph: str) -> list[str]:
    return [board["synap_cli"], "-m", graph, "-r", str(board["runs"]), "random"]


def parse(text: str) -> dict[str, Any]:
    return adapter.parse_synap_cli(text)
