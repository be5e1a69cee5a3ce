"""docs/getting-started.md runs as written.

Every ```sh block of the page runs, in order, in one bash shell started in an
empty temporary folder, as a reader pastes them; a block right after a
``<!-- test: skip -->`` line is left out (installing NPUForge, opening a
browser).  The shell has the running Python's bin folder (its venv: doit,
python) first on PATH and this checkout on PYTHONPATH, and stops at the first
failing command.  Each block's output is kept apart, so the checks can look at
what one command printed: the variants in build/results.json, the report, the
changed parameter named by ``doit explain``, and the steps the ``doit`` after
it ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "getting-started.md"
SKIP = "<!-- test: skip -->"
BLOCK = re.compile(r"^(?P<skip><!-- test: skip -->\n)?```sh\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARK = "@@ getting-started block {} @@"


def sh_blocks(text: str) -> list[str]:
    """The ```sh blocks to run, in page order."""
    return [m["body"] for m in BLOCK.finditer(text) if not m["skip"]]


def run_blocks(blocks: list[str], folder: Path) -> tuple[int, list[str]]:
    """Run the blocks in one bash shell in ``folder``; return its exit code and each block's output."""
    script = "set -e -o pipefail\n" + "".join(f"echo '{MARK.format(i)}'\n{b}\n" for i, b in enumerate(blocks))
    (folder.parent / "blocks.sh").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for name in ("PWD", "OLDPWD", "NPUFORGE_CACHE", "NPUFORGE_NO_WAIT", "DOIT_FILE"):
        env.pop(name, None)
    proc = subprocess.run(
        ["bash", str(folder.parent / "blocks.sh")],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=900,
    )
    parts = re.split(r"^@@ getting-started block (\d+) @@\n", proc.stdout, flags=re.MULTILINE)
    outputs = [""] * len(blocks)
    for number, text in zip(parts[1::2], parts[2::2], strict=True):
        outputs[int(number)] = text
    return proc.returncode, outputs


def ran(output: str) -> set[str]:
    """Steps a doit run executed (doit prints '.  NAME' for each)."""
    return {line[3:].strip() for line in output.splitlines() if line.startswith(".  ")}


def explained(output: str) -> dict[str, list[str]]:
    """``doit explain``'s steps (unindented lines) with their reasons (indented lines under them)."""
    steps: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("    ") and current is not None:
            steps[current].append(line.strip())
        elif line and not line[0].isspace() and not line.endswith("nothing was run."):
            current = line.strip()
            steps[current] = []
    return steps


def test_the_page_marks_what_it_leaves_out():
    text = PAGE.read_text()
    blocks = sh_blocks(text)
    assert text.count("```sh") == len(blocks) + text.count(SKIP)
    assert "dodo.py" not in "\n".join(blocks)
    assert not any("xdg-open" in b or "activate" in b for b in blocks)


def test_getting_started(tmp_path: Path):
    blocks = sh_blocks(PAGE.read_text())
    folder = tmp_path / "work"
    folder.mkdir()
    code, outputs = run_blocks(blocks, folder)
    shown = "\n".join(
        f"--- block {i}: {b.strip()[:60]}\n{o[-2000:]}" for i, (b, o) in enumerate(zip(blocks, outputs, strict=True))
    )
    assert code == 0, f"a block failed (exit {code}):\n{shown}"

    project = next(folder.rglob("project.yaml")).parent
    results = json.loads((project / "build" / "results.json").read_text())
    assert [v["id"] for v in results["variants"]] == ["net/int8@u55", "net/int8@cpu"]
    assert (project / "build" / "report" / "index.html").is_file()

    doit_runs = [i for i, b in enumerate(blocks) if b.strip() == "doit"]
    listing = next(i for i, b in enumerate(blocks) if b.strip() == "doit list")
    explain = next(i for i, b in enumerate(blocks) if "doit explain" in b)
    first, again, last = doit_runs[0], next(i for i in doit_runs if i > explain), doit_runs[-1]
    assert {"import:net", "quantize:net/int8", "compile:net/int8@u55", "results", "report"} <= ran(outputs[first])
    assert re.search(r"^compile:net/int8@u55 ", outputs[listing], re.MULTILINE), outputs[listing]

    why = explained(outputs[explain])
    assert "parameter scheme.per_channel: true → false" in why.get("quantize:net/int8", []), outputs[explain]
    # Steps with a reason of their own must run; steps that only follow an upstream one may run
    # (when the upstream step rewrites their inputs), and nothing else may.
    own = {step for step, reasons in why.items() if any(not r.startswith(("upstream ", "… and")) for r in reasons)}
    assert own == {"quantize:net/int8", "limits:net/int8"}  # the limits check quantizes with the scheme too
    assert own <= ran(outputs[again]) <= set(why), (why, ran(outputs[again]))
    assert {"import:net", "rewrite:net"}.isdisjoint(why)

    assert last > again and outputs[last] == "", outputs[last]
