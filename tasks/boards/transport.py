"""Reaching a board: this machine (``host: local``), an SSH server through fabric, or adb.

Host keys are verified: known_hosts is loaded and paramiko's missing-key
policy refuses (fabric's default would accept any key), or the key must match
the ``host_key`` fingerprint pinned in project.yaml.  Files are uploaded by
content (named by sha256; nothing is sent when the board has them), every
remote argument is shell-quoted, every wait has a timeout, and one benchmark
runs at a time per board (``flock`` in the workdir).  An adb board (``transport: adb``,
``serial``) follows the same rules through ``adb -s SERIAL shell`` and ``adb push``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.digests import sha256_file
from tasks.errors import StepError

if TYPE_CHECKING:
    from tasks.boards.settings import Reach


def this_machine() -> dict[str, Any]:
    """What a measurement on ``host: local`` depends on: the step cache gives it only to a machine like this one."""
    import platform

    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"arch": platform.machine(), "cpu": model or platform.processor(), "cores": cores}


TRANSIENT_RETRIES = 3  # connection attempts on transient network errors, with backoff


class BoardError(StepError):
    """A board could not be reached or did not run the benchmark; the message says what to check."""


@dataclass
class Outcome:
    stdout: str
    stderr: str
    exit_code: int
    bytes_sent: int


def fingerprint(key) -> str:
    """OpenSSH-style SHA256 fingerprint of a paramiko key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _where(board: Reach) -> str:
    if board.get("transport") == "adb":
        return f"board {board['name']} (adb serial {board['serial']})"
    user = f"{board['user']}@" if board.get("user") else ""
    return f"board {board['name']} ({user}{board['host']}:{board['port']})"


def connect(board: Reach) -> Ssh | Adb:
    """The board's transport: SSH (default) or adb."""
    return Adb(board) if board.get("transport") == "adb" else Ssh(board)


def _policy(board: Reach):
    """A missing-host-key policy that never adds: accept only the pinned fingerprint."""
    import paramiko

    class Verify(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key):
            seen = fingerprint(key)
            if board.get("host_key") and seen == board["host_key"]:
                return
            if board.get("host_key"):
                raise BoardError(
                    f"{_where(board)}: host key {seen} ({key.get_name()}) does not match host_key "
                    f"{board['host_key']} in project.yaml; if the board was re-installed, update host_key"
                )
            known = board.get("known_hosts") or "~/.ssh/known_hosts"
            raise BoardError(
                f"{_where(board)}: unknown host key {seen} ({key.get_name()}), not in {known}; if it is the "
                f"board's, add it: ssh-keyscan -p {board['port']} {board['host']} >> {known} "
                f'(or pin it: host_key: "{seen}")'
            )

    return Verify()


class Ssh:
    """One SSH connection to a board (fabric), opened on first use."""

    def __init__(self, board: Reach):
        self.board = board
        self.connection = None

    def _connect(self):
        import paramiko
        from fabric import Connection

        b = self.board
        timeout = b["connect_timeout"]
        kwargs: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout, "channel_timeout": timeout}
        if b.get("key"):
            kwargs.update(key_filename=[str(b["key"])], look_for_keys=False, allow_agent=False)
        conn = Connection(b["host"], user=b.get("user"), port=b["port"], connect_timeout=timeout, connect_kwargs=kwargs)
        conn.client.set_missing_host_key_policy(_policy(b))
        known = Path(b.get("known_hosts") or "~/.ssh/known_hosts").expanduser()
        if known.is_file() and not b.get("host_key"):
            conn.client.load_host_keys(str(known))
        delay = 1.0
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                conn.open()
                return conn
            except BoardError:
                raise
            except paramiko.AuthenticationException:
                raise BoardError(
                    f"{_where(b)}: authentication failed for user {b.get('user') or '(default)'}; check key "
                    f"({b.get('key') or 'ssh-agent / ~/.ssh'}) "
                    "and that its public key is in the board's authorized_keys"
                ) from None
            except paramiko.ssh_exception.NoValidConnectionsError:
                raise BoardError(
                    f"{_where(b)}: connection refused; check host and port, and that sshd runs on the board"
                ) from None
            except (TimeoutError, ConnectionResetError, EOFError, paramiko.SSHException) as exc:
                if attempt == TRANSIENT_RETRIES:
                    raise BoardError(
                        f"{_where(b)}: no SSH session after {attempt} attempts ({type(exc).__name__}: {exc}); "
                        "check the network and connect_timeout"
                    ) from None
                time.sleep(delay)
                delay *= 2
            except OSError as exc:
                raise BoardError(f"{_where(b)}: cannot connect ({exc}); check host and port") from None
        raise AssertionError("unreachable")

    @property
    def conn(self):
        if self.connection is None:
            self.connection = self._connect()
        return self.connection

    def run(self, command: str, timeout: float) -> Outcome:
        from invoke.exceptions import CommandTimedOut

        try:
            result = self.conn.run(command, timeout=timeout, in_stream=False, hide=True, warn=True)
        except CommandTimedOut:
            raise BoardError(
                f"{_where(self.board)}: the command did not finish within {timeout:g} s; "
                "check the board (is it busy, is the model too slow?) or raise timeout"
            ) from None
        except (EOFError, OSError) as exc:
            raise BoardError(
                f"{_where(self.board)}: the connection dropped during the run ({type(exc).__name__}); check the board"
            ) from None
        except Exception as exc:
            import paramiko

            if isinstance(exc, paramiko.SSHException):
                raise BoardError(f"{_where(self.board)}: SSH failed during the run ({exc}); check the board") from None
            raise
        if result.exited == -1:  # the channel closed without an exit status
            raise BoardError(
                f"{_where(self.board)}: the connection dropped during the run (no exit status); check the board"
            )
        return Outcome(result.stdout, result.stderr, result.exited, 0)

    def put(self, local: Path, remote: str) -> int:
        """Upload unless the board already has a file with that content; return bytes sent."""
        return _put_by_hash(self, local, remote, self._send)

    def _send(self, local: Path, tmp: str) -> None:
        try:
            sftp = self.conn.sftp()
            sftp.get_channel().settimeout(max(self.board["timeout"], 30.0))  # a stalled transfer ends too
            sftp.put(str(local), tmp)
        except (OSError, EOFError) as exc:
            raise BoardError(
                f"{_where(self.board)}: upload of {local.name} failed ({exc}); check free space in workdir"
            ) from None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


REMOTE_GRACE = 15.0  # seconds past the board's own timeout before the SSH side gives up


def run_exclusive(remote: Ssh | Adb, board: Reach, command: str) -> Outcome:
    """``command`` (shell-quoted already) on the board, one at a time (``flock`` in the workdir), ended by the
    board's own ``timeout`` too, so a hung run cannot hold the lock."""
    lock = shlex.quote(f"{board['workdir'].rstrip('/')}/.npuforge.lock")
    limit = f"timeout -k 5 {board['timeout']:g}"
    return remote.run(f"flock {lock} {limit} {command}", board["timeout"] + REMOTE_GRACE)


def _put_by_hash(board_io: Ssh | Adb, local: Path, remote: str, send) -> int:
    """Send ``local`` to ``remote`` under a temporary name, then rename; nothing when the board has it."""
    timeout = board_io.board["connect_timeout"]
    digest = sha256_file(local)
    check = board_io.run(f"sha256sum {shlex.quote(remote)} 2>/dev/null || true", timeout)
    if check.stdout.split()[:1] == [digest]:
        return 0
    board_io.run(f"mkdir -p {shlex.quote(str(Path(remote).parent))}", timeout)
    tmp = f"{remote}.{digest[:8]}.part"
    send(local, tmp)
    board_io.run(f"mv -f {shlex.quote(tmp)} {shlex.quote(remote)}", timeout)
    return local.stat().st_size


class Adb:
    """A board reached with adb (Android, or a Linux board with adbd): ``adb -s SERIAL shell`` and ``push``."""

    def __init__(self, board: Reach):
        self.board = board

    def _adb(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        if shutil.which("adb") is None:
            raise BoardError(
                f"{_where(self.board)}: adb is not installed here; install Android's platform tools "
                "(Debian: apt install adb) or reach the board over SSH"
            )
        try:
            proc = subprocess.run(
                ["adb", "-s", self.board["serial"], *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise BoardError(
                f"{_where(self.board)}: adb did not finish within {timeout:g} s; "
                "check the board (is it busy, is the model too slow?) or raise timeout"
            ) from None
        said = proc.stderr.strip()
        if proc.returncode != 0 and ("not found" in said and "device" in said or "no devices" in said):
            raise BoardError(
                f"{_where(self.board)}: no device with that serial ({said.splitlines()[-1]}); "
                "check `adb devices` (cable, authorisation, or `adb connect HOST:PORT`)"
            )
        if proc.returncode != 0 and ("unauthorized" in said or "offline" in said):
            raise BoardError(f"{_where(self.board)}: {said.splitlines()[-1]}; accept the host's key on the device")
        return proc

    def run(self, command: str, timeout: float) -> Outcome:
        proc = self._adb(["shell", command], timeout)
        return Outcome(proc.stdout, proc.stderr, proc.returncode, 0)

    def put(self, local: Path, remote: str) -> int:
        return _put_by_hash(self, local, remote, self._send)

    def _send(self, local: Path, tmp: str) -> None:
        proc = self._adb(["push", str(local), tmp], max(self.board["timeout"], 30.0))
        if proc.returncode != 0:
            said = proc.stderr.strip() or proc.stdout.strip()
            raise BoardError(
                f"{_where(self.board)}: adb push of {local.name} failed ({said}); check free space in workdir"
            )

    def close(self) -> None:
        pass


class Local:
    """This machine: files stay where they are, commands run in a subprocess."""

    def __init__(self, board: Reach):
        self.board = board

    def run(self, argv: list[str], timeout: float, env: dict[str, str] | None = None) -> Outcome:
        import fcntl

        full_env = {**os.environ, **env} if env else None
        # one benchmark at a time on this machine too, whatever build or doit thread runs it
        lock_file = Path.home() / ".cache" / "npuforge" / "boards" / "local.lock"
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(lock_file, "w") as lock:
                fcntl.lockf(lock, fcntl.LOCK_EX)
                proc = subprocess.run(
                    argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=full_env
                )
        except subprocess.TimeoutExpired:
            raise BoardError(
                f"board {self.board['name']} (this machine): the benchmark did not finish within {timeout:g} s"
            ) from None
        return Outcome(proc.stdout, proc.stderr, proc.returncode, 0)
