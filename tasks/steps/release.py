"""release: chosen artifacts, their Vela/quantization reports and MANIFEST.json in one tar.gz.

Deterministic: entries sorted, every mtime the same (SOURCE_DATE_EPOCH, else the
project's last commit time, else 0), uid/gid 0 and no user names, the gzip
header without time or file name.  The same inputs and tool versions give the
same archive bytes, wherever the project is checked out.

``verify`` (``doit verify-release PATH.tar.gz``) compares an archive with the
current build, artifact by artifact.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.digests import sha256_bytes
from tasks.errors import StepError


def source_date(root: Path) -> int:
    """SOURCE_DATE_EPOCH, else the project's last commit time, else 0."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        proc = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if proc.returncode == 0 and proc.stdout.strip().isdigit():
            return int(proc.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return 0


def archive_bytes(files: dict[str, bytes], mtime: int) -> bytes:
    """A tar.gz of ``files`` (archive path → content) that depends on nothing else."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = mtime
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def run(
    project: str,
    version: str,
    root: str,
    out: str,
    project_file: str,
    variants: list[dict[str, Any]],
    tools: dict[str, str],
    mtime: int,
) -> None:
    base = Path(root)
    prefix = f"{project}-{version}"
    files: dict[str, bytes] = {}
    entries = []
    for v in variants:
        folder = f"{prefix}/{v['id'].replace('/', '__').replace('@', '__')}"
        content = Path(v["artifact"]).read_bytes()
        name = f"{folder}/{Path(v['artifact']).name}"
        files[name] = content
        for report in v["reports"]:
            files[f"{folder}/{Path(report).name}"] = Path(report).read_bytes()
        entries.append(
            {
                "variant": v["id"],
                "path": name,
                "sha256": sha256_bytes(content),
                "size": len(content),
                "params": v["params"],
                "inputs": {
                    str(Path(p).relative_to(base)) if Path(p).is_relative_to(base) else p: sha256_bytes(
                        Path(p).read_bytes()
                    )
                    for p in v["inputs"]
                },
            }
        )
    manifest = {
        "name": project,
        "version": version,
        "project_yaml_sha256": sha256_bytes(Path(project_file).read_bytes()),
        "tools": tools,
        "artifacts": entries,
    }
    files[f"{prefix}/MANIFEST.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    data = archive_bytes(files, mtime)
    atomic.write_bytes(Path(out), data)
    print(f"   release: {out} ({len(entries)} artifact(s), {len(data):,} bytes, sha256 {sha256_bytes(data)})")


def verify(artifacts: dict[str, str], archives: list[str] | None = None) -> None:
    """Compare the artifacts in an archive with the current build (variant id → artifact path)."""
    if not archives:
        raise StepError("give the archive to check: doit verify-release PATH.tar.gz")
    for archive in archives:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                manifest_member = next(m for m in tar.getmembers() if m.name.endswith("/MANIFEST.json"))
                manifest = json.loads(tar.extractfile(manifest_member).read())
        except (OSError, tarfile.TarError, StopIteration) as exc:
            raise StepError(f"{archive}: not a release archive with a MANIFEST.json ({exc})") from None
        differ = []
        for entry in manifest["artifacts"]:
            path = artifacts.get(entry["variant"])
            if path is None:
                differ.append(f"{entry['variant']}: not a variant of this project")
                continue
            now = sha256_bytes(Path(path).read_bytes())
            if now != entry["sha256"]:
                differ.append(f"{entry['variant']}: archive {entry['sha256'][:12]}, rebuilt {now[:12]} ({path})")
        if differ:
            raise StepError(f"{archive}: {len(differ)} artifact(s) differ from the rebuild:\n" + "\n".join(differ))
        print(f"   {archive}: all {len(manifest['artifacts'])} artifact(s) rebuilt byte for byte")
