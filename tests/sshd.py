"""A real OpenSSH server on 127.0.0.1 as a test board (Debian's openssh-server, installed by `make test`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    port: int
    folder: Path
    client_key: Path
    known_hosts: Path
    host_fingerprint: str
    process: subprocess.Popen

    def board(self, name: str = "ssh", **extra) -> dict:
        """The dict a benchmark step gets for this board."""
        board = {
            "name": name,
            "host": "127.0.0.1",
            "user": os.environ.get("USER") or "root",
            "port": self.port,
            "key": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "host_key": None,
            "workdir": str(self.folder / "board"),
            "timeout": 120.0,
            "connect_timeout": 5.0,
            "runner": "litert",
            "command": None,
            "python": _python(),
            "delegate": None,
            "threads": 1,
            "warmup": 1,
            "runs": 3,
        }
        board.update(extra)
        return board

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _python() -> str:
    import sys

    return sys.executable  # the board's Python: the same venv, which has ai-edge-litert


def start(folder: Path) -> Server:
    if not Path(SSHD).exists():
        raise RuntimeError("openssh-server is not installed: `make test` installs it")
    folder.mkdir(parents=True, exist_ok=True)
    host_key, client_key = folder / "host_ed25519", folder / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    shutil.copyfile(f"{client_key}.pub", folder / "authorized_keys")
    os.chmod(folder / "authorized_keys", 0o600)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile none\nUsePAM yes\nStrictModes no\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"sshd exited: {process.stderr.read().decode()}") from None
            time.sleep(0.05)
    public = (folder / "host_ed25519.pub").read_text().split()
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
    fp = subprocess.run(["ssh-keygen", "-l", "-f", f"{host_key}.pub"], capture_output=True, text=True, check=True)
    return Server(port, folder, client_key, known_hosts, fp.stdout.split()[1], process)
