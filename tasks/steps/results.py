"""results: every variant's facts in one build/results.json (format in the README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks import atomic
from tasks.config import relative


def _read(path: str | None) -> dict[str, Any] | None:
    return json.loads(Path(path).read_text()) if path else None


def _accuracy(variant: dict[str, Any], compiled: bool) -> dict[str, Any] | None:
    accuracy = _read(variant.get("accuracy"))
    if accuracy is None:
        return None
    source = "the quantized model" + (" it was compiled from (Vela does not change the arithmetic)" if compiled else "")
    return {**accuracy, "measured_on": source}


def run(project: str, root: str, variants: list[dict[str, Any]], out: str) -> None:
    rows = []
    for v in variants:
        compiled = _read(v["compile_facts"])
        quantized = _read(v["quantize_facts"]) or {}
        artifact = Path(v["artifact"])
        benchmarks = [_read(p) for p in v.get("benchmarks", [])]
        rows.append(
            {
                "id": v["id"],
                "model": v["model"],
                "prune": v["prune"],
                "quantization": v["quantization"],
                "target": v["target"],
                "artifact": relative(v["artifact"], root),
                "size_bytes": artifact.stat().st_size,
                "inputs": quantized.get("inputs"),
                "outputs": quantized.get("outputs"),
                "ops": (compiled or {}).get("ops"),
                "cpu_fallback": (compiled or {}).get("cpu_fallback"),
                "estimate": (compiled or {}).get("estimate"),
                "layers": (compiled or {}).get("layers"),
                "model_info": (compiled or {}).get("model_info"),  # SyNAP's view of the compiled model
                "findings": _read(v.get("findings")),
                "rewrites": (_read(v.get("rewrites")) or {}).get("records"),  # what the rewrite step changed
                "quant_errors": quantized.get("quant_errors"),
                "accuracy": _accuracy(v, compiled is not None),
                "benchmark": benchmarks[0] if benchmarks else None,
                "benchmarks": benchmarks,
            }
        )
    atomic.write_json(Path(out), {"project": project, "variants": rows})
    width = max((len(r["id"]) for r in rows), default=10)
    print(f"   {'variant':<{width}}  {'size':>10}  {'NPU/CPU':>8}  {'est. ms':>8}  {'meas. ms':>8}")
    for r in rows:
        ops = f"{r['ops']['npu']}/{r['ops']['cpu']}" if r["ops"] else "-"
        ms = f"{r['estimate']['inference_ms']:.2f}" if r["estimate"] else "-"
        measured = f"{r['benchmark']['latency_ms']['avg']:.2f}" if r["benchmark"] else "-"
        print(f"   {r['id']:<{width}}  {r['size_bytes']:>10}  {ops:>8}  {ms:>8}  {measured:>8}")
    print(f"   wrote {relative(out, root)}")
