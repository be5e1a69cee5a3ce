"""analyse: findings for one compiled variant (see tasks/analysis.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tasks import analysis, atomic


def run(facts: str, out: str, label: str) -> None:
    found = analysis.findings(json.loads(Path(facts).read_text()))
    atomic.write_json(Path(out), found)
    kinds: dict[str, int] = {}
    for f in found:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    print(f"   {label}: " + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in kinds.items()) or "no findings"))
