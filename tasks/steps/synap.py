"""metafile and compile for Synaptics SyNAP targets.

``metafile`` writes what ``synap convert --meta`` reads (built from project.yaml by
tasks/synap.py).  ``convert`` runs the SyNAP toolkit on the source model and that
metafile; when the toolkit is not installed it fails with one line saying so and
how to get it: it never writes a stand-in artifact.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tasks import atomic, synap
from tasks.adapters import synap as synap_output
from tasks.errors import StepError
from tasks.worker import progress


def metafile(meta: dict[str, Any], out: str) -> None:
    header = "# synap convert --meta: written from project.yaml (edit that, not this file)\n"
    atomic.write_text(Path(out), header + synap.dump(meta))


def toolkit_command(toolkit: str | None, label: str, target_name: str) -> list[str]:
    argv = shlex.split(toolkit) if toolkit else ["synap"]
    if shutil.which(argv[0]) is None:
        missing = f"no {argv[0]}" if toolkit else "no `synap` on PATH"
        raise StepError(
            f"{label}: the SyNAP toolkit is not installed here ({missing}); install it (Synaptics' SyNAP "
            "toolkit, a Docker image) and put `synap` on PATH, or set "
            f"targets.{target_name}.toolkit to the command that runs it"
        )
    return argv


def convert(
    model: str,
    meta: str,
    soc: str,
    toolkit: str | None,
    target_name: str,
    root: str,
    out: str,
    info: str,
    facts: str,
    label: str,
) -> None:
    argv = toolkit_command(toolkit, label, target_name)
    out_path = Path(out)
    folder = out_path.parent
    work = Path(tempfile.mkdtemp(prefix=".synap-", suffix=".tmp", dir=folder))
    try:
        command = [*argv, "convert", "--model", model, "--meta", meta, "--target", soc, "--out-dir", str(work)]
        progress(f"synap convert for {soc}")
        # in the project folder: the metafile's dataset globs are relative to it
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        log = proc.stdout + proc.stderr
        atomic.write_text(folder / "synap.log", log)
        if proc.returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-4:])
            raise StepError(
                f"{label}: synap convert failed (exit {proc.returncode}):\n{tail}\nFull log: {folder / 'synap.log'}"
            )
        produced = {name: work / name for name in ("model.synap", "model_info.txt")}
        for name, path in produced.items():
            if not path.is_file():
                raise StepError(f"{label}: synap convert wrote no {name}; see {folder / 'synap.log'}")
        try:
            model_info = synap_output.parse_model_info(produced["model_info.txt"].read_text(errors="replace"))
        except synap_output.ParseError as exc:
            raise StepError(
                f"{label}: cannot read SyNAP's model_info.txt ({exc}); see {folder / 'synap.log'}"
            ) from None
        size = produced["model.synap"].stat().st_size
        atomic.publish(produced["model_info.txt"], Path(info))
        atomic.publish(produced["model.synap"], out_path)
        atomic.write_json(
            Path(facts),
            {"compiler": "synap", "soc": soc, "toolkit": " ".join(argv), "size_bytes": size, "model_info": model_info},
        )
        outputs = ", ".join(f"{o['name']} {o.get('shape')}" for o in model_info.get("outputs", []))
        progress(f"{size:,} bytes; outputs {outputs or '(none listed)'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
