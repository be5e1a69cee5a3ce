"""gates: check every rule of project.yaml's ``gates:`` against build/results.json.

A failed gate fails the build (doit exits non-zero) with a table of every
failing variant, metric, value and bound; nothing already built is removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks import gates as rules_
from tasks.errors import StepError


def run(results: str, rules: list[dict[str, Any]], out: str) -> None:
    variants = json.loads(Path(results).read_text())["variants"]
    checks, warnings = rules_.check(rules, variants)
    for line in warnings:
        print(f"   WARNING: {line}")
    atomic.write_json(Path(out), {"checks": checks, "warnings": warnings})
    failed = [c for c in checks if not c["passed"]]
    passed = len(checks) - len(failed)
    if failed:
        raise StepError(f"{len(failed)} gate check(s) failed, {passed} passed:\n{rules_.table(checks)}")
    print(f"   {passed} gate check(s) passed")
