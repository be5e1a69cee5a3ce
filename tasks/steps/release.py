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
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks import atomic
from tasks.config import quality_gates
from tasks.digests import sha256_bytes, sha256_file
from tasks.errors import StepError
from tasks.planning.options import input_file, output_file, unfingerprinted
from tasks.progress import COMMAND_STARTED, say
from tasks.steps import gates, results

if TYPE_CHECKING:
    from tasks.config import Variant
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step
    from tasks.results.records import Manifest, ManifestEntry, VariantAccuracy, VariantRow

RECORDED_TOOLS = ("tensorflow", "ai-edge-quantizer", "ai-edge-litert", "ethos-u-vela", "doit")


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """A released variant: what ships, the reports beside it, and what it was built from."""

    id: str
    params: dict[str, Any]  # the fingerprints of its calibrate, quantize and compile steps
    artifact: Path = input_file()
    reports: tuple[Path, ...] = input_file()
    inputs: tuple[Path, ...] = input_file()
    facts: results.Entry  # the facts files of its row of results.json: what its gates are checked on


@dataclass(frozen=True, kw_only=True)
class Options:
    project: str
    version: str
    tools: dict[str, str]
    mtime: int  # every archive entry's mtime: part of the archive's bytes
    variants: tuple[Artifact, ...]
    rules: tuple[dict[str, Any], ...] = ()  # the gates step's rules: those about the packed variants must pass
    override_gates: str | None = None  # release.override_gates: ship despite failing gates, for this reason
    project_file: Path = input_file()
    out: Path = output_file()
    root: Path = unfingerprinted(Path("."))


@dataclass(frozen=True, kw_only=True)
class VerifyOptions:
    ids: tuple[str, ...]
    artifacts: tuple[Path, ...] = input_file()  # the current build's, one per id
    root: Path = unfingerprinted(Path("."))  # the archive's input paths are relative to it


def plan_release(planning: Planning) -> list[Step]:
    rel = planning.project.release
    if rel is None:
        return []
    chosen = tuple(
        _artifact(planning, v)
        for v in planning.project.variants
        if any(fnmatchcase(v.id, pattern) for pattern in rel.variants)
    )
    tools = {"python": planning.python_version()} | planning.tool_versions(RECORDED_TOOLS)
    root = planning.project.root
    options = Options(
        project=rel.name,
        version=rel.version,
        tools=tools,
        mtime=source_date(root),
        variants=chosen,
        rules=gates.all_rules(planning),
        override_gates=rel.override_gates,
        project_file=planning.project.path,
        out=planning.paths.release_archive(rel.name, rel.version),
        root=root,
    )
    doc = (
        "pack the release variants, their reports and MANIFEST.json into a "
        f"reproducible tar.gz ({len(chosen)} variant(s))"
    )
    return [planning.new("release", "", doc, options)]


def plan_verify(planning: Planning) -> list[Step]:
    release = planning.step_of("release")
    if release is None:
        return []
    chosen = release.options.variants
    options = VerifyOptions(
        ids=tuple(a.id for a in chosen), artifacts=tuple(a.artifact for a in chosen), root=planning.project.root
    )
    return [
        planning.new(
            "verify-release", "", "rebuild and compare with an archive: doit verify-release PATH.tar.gz", options
        )
    ]


def _artifact(planning: Planning, v: Variant) -> Artifact:
    """What a variant ships, the reports of the steps that made it, and the source files they read."""
    built = {t for s in planning.steps if s.kind.name != "fetch" for t in s.targets}  # fetched models are sources
    import_ = planning.step_of("import", v.model)
    quantize = planning.step_of("quantize", v.scheme)  # none for SyNAP, which quantizes itself
    # the calibration images, for a scheme that quantizes from the calibrate step's ranges
    calibrate = planning.step_of("calibrate", v.unit) if quantize and quantize.options.ranges else None
    compile_ = planning.step_of("compile", v.id)  # Vela's or SyNAP's; none for compiler: none
    inputs = list(import_.file_dep) if import_ else []
    reports: list[Path] = [quantize.options.facts] if quantize else []
    params = {}
    for kind, step in (("calibrate", calibrate), ("quantize", quantize), ("compile", compile_)):
        if step is not None:
            inputs += [p for p in step.file_dep if p not in built]
            params[kind] = planning.fingerprint(step)
    if compile_ is not None:
        reports += [t for t in compile_.targets if t.suffix in (".json", ".csv")]
    return Artifact(
        id=v.id,
        params=params,
        artifact=planning.artifact(v),
        reports=tuple(reports),
        inputs=tuple(dict.fromkeys(inputs)),
        facts=results.entry(planning, v),
    )


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


MEASURED = ("latency_ms", "delegated_ratio")  # read on a board: a run's value, not the artifact's


def gate_checks(o: Options) -> tuple[dict[str, list[dict[str, Any]]], dict[str, VariantAccuracy | None]]:
    """The gates' checks of each packed variant and its accuracy; refuses (StepError) when one fails, unless
    release.override_gates says why it ships anyway."""
    rows = [results.row(v.facts, o.root) for v in o.variants]
    checks, _ = quality_gates.check(list(o.rules), rows)
    mine = [c for c in checks if c["variant"]]  # a rule about none of these variants is the gates step's
    failing = [c for c in mine if not c["passed"]]
    if failing and not o.override_gates:
        raise StepError(
            f"release refused: {len(failing)} gate check(s) fail on the variants it packs:\n"
            f"{quality_gates.table(failing)}\n"
            "Fix them, leave those variants out of release.variants, or ship anyway with "
            "release: {override_gates: REASON} in project.yaml (MANIFEST.json records the reason)"
        )
    if failing:
        say(f"   WARNING: release ships {len(failing)} failing gate check(s): override_gates: {o.override_gates}")
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for c in mine:
        kept = {k: c[k] for k in ("metric", "output", "value", "bound", "passed")} | {
            "gate": c.get("source") or f"gates[{c['gate']}]"
        }
        if c["metric"] in MEASURED:
            kept["value"] = None  # the archive's bytes depend on the artifacts, not on one run's timing
        by_variant.setdefault(c["variant"], []).append(kept)
    return by_variant, {r["id"]: _accuracy(r) for r in rows}


def _accuracy(row: VariantRow) -> dict[str, Any] | None:
    acc = row.get("accuracy")
    if not acc:
        return None
    return {
        "samples": acc["samples"],
        "dataset": acc["dataset"],
        "worst_output": acc["worst_output"],
        "outputs": acc["outputs"],
        "metrics": acc.get("metrics") or {},
    }


def run(o: Options) -> None:
    base, out = o.root, o.out
    prefix = f"{o.project}-{o.version}"
    files: dict[str, bytes] = {}
    entries: list[ManifestEntry] = []
    checks, accuracy = gate_checks(o)
    for v in o.variants:
        folder = f"{prefix}/{v.id.replace('/', '__').replace('@', '__')}"
        content = v.artifact.read_bytes()
        name = f"{folder}/{v.artifact.name}"
        files[name] = content
        for report in v.reports:
            files[f"{folder}/{report.name}"] = report.read_bytes()
        entries.append(
            {
                "variant": v.id,
                "path": name,
                "sha256": sha256_bytes(content),
                "size": len(content),
                "params": v.params,
                "inputs": {
                    (p.relative_to(base).as_posix() if p.is_relative_to(base) else str(p)): sha256_bytes(p.read_bytes())
                    for p in v.inputs
                },
                "accuracy": accuracy[v.id],
                "gates": checks.get(v.id, []),
            }
        )
    manifest: Manifest = {
        "name": o.project,
        "version": o.version,
        "project_yaml_sha256": sha256_bytes(o.project_file.read_bytes()),
        "tools": o.tools,
        "gates_overridden": o.override_gates if any(not c["passed"] for cs in checks.values() for c in cs) else None,
        "artifacts": entries,
    }
    files[f"{prefix}/MANIFEST.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    data = archive_bytes(files, o.mtime)
    atomic.write_bytes(out, data)
    passed = sum(c["passed"] for cs in checks.values() for c in cs)
    say(
        f"   release: {out} ({len(entries)} artifact(s), {passed} gate check(s) passed, {len(data):,} bytes, "
        f"sha256 {sha256_bytes(data)})"
    )


def verify(o: VerifyOptions, archives: list[str] | None = None) -> None:
    """Compare an archive with the current build: each artifact byte for byte, and the source files it was built
    from; say how many artifacts this command rebuilt (doit rebuilt what was stale before this step ran)."""
    artifacts = dict(zip(o.ids, o.artifacts, strict=True))
    if not archives:
        raise StepError("give the archive to check: doit verify-release PATH.tar.gz")
    started = float(os.environ.get(COMMAND_STARTED, "inf"))
    for archive in archives:
        manifest = _manifest(archive)
        differ, inputs, rebuilt = [], set(), 0
        for entry in manifest["artifacts"]:
            path = artifacts.get(entry["variant"])
            if path is None:
                differ.append(f"{entry['variant']}: not a variant of this project")
                continue
            rebuilt += path.stat().st_mtime >= started
            now = sha256_file(path)
            if now != entry["sha256"]:
                differ.append(f"{entry['variant']}: archive {entry['sha256'][:12]}, rebuilt {now[:12]} ({path})")
            for name, digest in entry["inputs"].items():
                inputs.add(name)
                source = o.root / name
                if not source.is_file() or sha256_file(source) != digest:
                    differ.append(f"{entry['variant']}: input {name} is not the one the archive was built from")
        count = len(manifest["artifacts"])
        if differ:
            raise StepError(f"{archive}: {len(differ)} difference(s) from the current build:\n" + "\n".join(differ))
        how = f"{rebuilt} rebuilt by this command, {count - rebuilt} up to date from an earlier build"
        say(
            f"   {archive}: {count} artifact(s) compared with the current build ({how}): all identical byte for "
            f"byte; {len(inputs)} input file(s) compared: all the same"
        )


def _manifest(archive: str) -> Manifest:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/MANIFEST.json"))
            return json.loads(tar.extractfile(member).read())
    except (OSError, tarfile.TarError, StopIteration) as exc:
        raise StepError(f"{archive}: not a release archive with a MANIFEST.json ({exc})") from None
