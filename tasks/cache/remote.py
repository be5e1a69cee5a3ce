"""The step cache on object storage: ``cache: {url: s3://bucket/prefix}`` or NPUFORGE_CACHE=s3://…

Through fsspec: s3fs for S3 and S3-compatible stores (MinIO, Ceph, R2…);
``gs://`` and ``az://`` work the same way where gcsfs or adlfs is installed.
Credentials come from the store SDK's own chain (environment, config
files, instance roles), never from project.yaml; an S3-compatible endpoint
from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, as the AWS tools read it.

Layout under the prefix, content-addressed as Bazel's and DVC's are:

- ``blobs/ab/abcd…``: a file, named by its sha256;
- ``entries/cd/cdef….json``: a step's entry, named by its key: its output
  files' names and sha256.

A store uploads the blobs first and the entry last, with a conditional
write (S3's If-None-Match: *): of two jobs racing on one key the first
entry stays, and nobody ever reads an entry whose blobs are not all there.
A restore downloads each blob beside its target under a temporary name,
checks its sha256, and renames them into place only when all are good; a
missing or corrupt blob makes the entry a miss (said once) and the step runs,
then stores its outputs again over the bad entry.

Network errors are retried (0.2, 0.5, 1 s); a store still unreachable then is
said once and the build goes on without the cache.  Read-only (pull
requests): restores only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.digests import sha256_file
from tasks.progress import say

BACKOFF = (0.2, 0.5, 1.0)  # seconds before each retry of a failed call


class Unreachable(Exception):
    """The store did not answer after the retries."""


class Remote:
    """The step cache under ``url`` (scheme://bucket/prefix)."""

    def __init__(self, url: str, read_only: bool = False):
        self.url, self.read_only = url.rstrip("/"), read_only
        self.protocol, _, self.prefix = self.url.partition("://")
        self._fs: Any = None
        self._lock = threading.Lock()
        self._down = False
        self._said: set[str] = set()
        self._bad: set[str] = set()  # keys whose entry was unusable: the next store replaces it

    # -- the two calls of a store (tasks/cache/store.py) -------------------------------------------

    def restore(self, key: str, targets: list[Path], task: str = "") -> bool:
        """Download an intact entry's files to ``targets``; False when there is none (or the store is down)."""
        try:
            recorded = self._manifest(key)
            if recorded is None:
                return False
            if sorted(recorded) != sorted(t.name for t in targets):
                self._unusable(key, task, "its files are not the ones this step makes")
                return False
            return self._download(key, recorded, targets, task)
        except Unreachable as exc:
            self._gone(exc)
            return False

    def store(self, key: str, targets: list[Path]) -> None:
        """Upload the step's outputs (blobs first), then its entry; an existing entry is kept."""
        if self.read_only or self._down:
            return
        try:
            files = {t.name: sha256_file(t) for t in targets}
            for target in targets:
                blob = self._blob(files[target.name])
                if key in self._bad or not self._call(self._filesystem().exists, blob):
                    self._call(self._filesystem().put_file, str(target), blob)
            entry = json.dumps({"files": files}, indent=1, sort_keys=True).encode()
            self._publish(self._entry(key), entry, replace=key in self._bad)
            self._bad.discard(key)
        except Unreachable as exc:
            self._gone(exc)

    # -- the layout ---------------------------------------------------------------------------

    def _blob(self, digest: str) -> str:
        return f"{self.prefix}/blobs/{digest[:2]}/{digest}"

    def _entry(self, key: str) -> str:
        return f"{self.prefix}/entries/{key[:2]}/{key}.json"

    def _manifest(self, key: str) -> dict[str, str] | None:
        try:
            raw = self._call(self._filesystem().cat_file, self._entry(key))
        except FileNotFoundError:
            return None
        try:
            files = json.loads(raw)["files"]
            if not isinstance(files, dict):
                raise TypeError
            return {str(k): str(v) for k, v in files.items()}
        except (ValueError, KeyError, TypeError):
            self._unusable(key, "", "its entry is not readable")
            return None

    def _download(self, key: str, recorded: dict[str, str], targets: list[Path], task: str) -> bool:
        temps: dict[Path, Path] = {}
        try:
            for target in targets:
                digest = recorded[target.name]
                tmp = temps[target] = atomic.temp_path(target)
                try:
                    self._call(self._filesystem().get_file, self._blob(digest), str(tmp))
                except FileNotFoundError:
                    self._unusable(key, task, f"blob {digest[:12]} of {target.name} is missing")
                    return False
                if sha256_file(tmp) != digest:
                    self._unusable(key, task, f"blob {digest[:12]} of {target.name} does not match its sha256")
                    return False
            for target, tmp in temps.items():
                atomic.publish(tmp, target)
            return True
        finally:
            for tmp in temps.values():
                tmp.unlink(missing_ok=True)

    def _publish(self, path: str, data: bytes, replace: bool) -> None:
        """Write ``data`` at ``path`` unless something is there already (``replace``: in any case)."""
        fs = self._filesystem()
        if replace:
            self._call(fs.pipe_file, path, data)
        elif self.protocol in ("s3", "s3a"):
            bucket, _, name = path.partition("/")
            try:  # atomic on the server: the first writer of a key wins
                self._call(fs.call_s3, "put_object", Bucket=bucket, Key=name, Body=data, IfNoneMatch="*")
            except FileExistsError:
                pass
            except OSError as exc:
                if "PreconditionFailed" not in str(exc) and "412" not in str(exc):
                    raise
        elif not self._call(fs.exists, path):  # stores without a conditional write: a narrow race, same bytes
            self._call(fs.pipe_file, path, data)

    # -- talking to the store -----------------------------------------------------------------

    def _filesystem(self):
        with self._lock:
            if self._fs is None:
                import fsspec

                options: dict[str, Any] = {}
                if self.protocol in ("s3", "s3a"):
                    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                    if endpoint:
                        options["endpoint_url"] = endpoint
                    # fail fast: our own retries decide when the store is down
                    options["config_kwargs"] = {
                        "connect_timeout": 5,
                        "read_timeout": 60,
                        "retries": {"max_attempts": 1, "mode": "standard"},
                    }
                self._fs = fsspec.filesystem(self.protocol, **options)
                if hasattr(self._fs, "retries"):
                    self._fs.retries = 1  # s3fs's own retry loop, 5 by default
            return self._fs

    def _call(self, function, *args, **kwargs):
        """``function(*args)``; transient errors retried, then Unreachable.  FileNotFoundError and
        FileExistsError are answers, not errors."""
        if self._down:
            raise Unreachable("already")
        for attempt, pause in enumerate((*BACKOFF, None)):
            try:
                return function(*args, **kwargs)
            except (FileNotFoundError, FileExistsError):
                raise
            except PermissionError as exc:  # no credentials, or no right to write: retrying won't help
                raise Unreachable(_short(exc)) from None
            except Exception as exc:  # botocore, aiohttp and asyncio errors share no base but Exception
                if pause is None:
                    raise Unreachable(_short(exc)) from None
                if attempt == 0:
                    self._say("retry", f"step cache {self.url}: {_short(exc)}; retrying")
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _gone(self, exc: Unreachable) -> None:
        self._down = True
        self._say("down", f"step cache {self.url}: unreachable ({exc}); the build goes on without the cache")

    def _unusable(self, key: str, task: str, why: str) -> None:
        self._bad.add(key)
        self._say(
            f"bad:{key}",
            f"step cache {self.url}: ignoring entry {key[:12]}{f' of {task}' if task else ''}: "
            f"{why}; the step runs and stores it again",
        )

    def _say(self, what: str, line: str) -> None:
        with self._lock:
            if what in self._said:
                return
            self._said.add(what)
        say(line)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
