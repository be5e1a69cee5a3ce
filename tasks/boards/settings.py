"""A board as the steps that measure on it receive it: plain dicts (they travel to worker processes as JSON).

``Board.settings()`` (tasks/config/project.py) gives ``BoardBase``; the benchmark
and agreement steps add the target's runtime and delegate (``BoardSettings``,
fingerprinted), and how to reach the board (``Connection``, not fingerprinted:
a moved key file does not change a measurement).  The transport
(tasks/boards/transport.py) is handed both, as one ``Reach``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class BoardBase(TypedDict):
    host: str | None  # "local" (this machine), an SSH host, or None for an adb board
    user: str | None
    port: int
    workdir: str  # on the board: where artifacts and runners are uploaded, by content
    runner: str  # litert | benchmark_model
    command: str | None  # benchmark_model's path on the board
    python: str  # the board's Python, for the litert runner
    delegate: str | None  # the board's own delegate library, for targets that name none
    threads: int
    warmup: int  # runs before the timed ones
    runs: int  # timed runs
    max_seconds: NotRequired[float]  # the timed runs stop after this long
    transport: str  # ssh | adb
    serial: str | None  # adb serial
    env: dict[str, str]  # environment of the benchmark command
    synap_cli: str  # synap_cli's path on a SyNAP board


class BoardSettings(BoardBase):
    """What a measurement of one target's artifact on the board depends on."""

    machine: NotRequired[dict[str, Any]]  # host: local: this machine's processor and system
    kind: str  # the target's runtime: litert, or a toolchain's own board command (synap_cli)
    delegate_options: str | None  # --external_delegate_options text
    xnnpack: bool


class Connection(TypedDict):
    name: str  # boards.NAME
    key: str | None  # SSH private key file
    known_hosts: str | None
    host_key: str | None  # the expected host key, pinned
    timeout: float  # seconds a command may run
    connect_timeout: float


class Reach(BoardSettings, Connection):
    """Everything the transport needs: a step's settings and connection, merged."""
