"""The build matrix: ``builds:`` (or every model, prune variant, scheme and target) → variants.

Pure: names in, variants out, in the order project.yaml gives them, each
once.  A name that is not defined is skipped here and reported by the rules.
A model that arrives quantized is built as it is: one variant per target, of
the scheme ``prequantized``, whatever the schemes (the rules refuse schemes
named for it).
"""

from __future__ import annotations

from collections.abc import Iterable

from tasks.config.project import Model, Variant
from tasks.model.schemes import PREQUANTIZED


def units(models: dict[str, Model]) -> dict[str, tuple[str, str | None]]:
    """Every buildable float model: ``MODEL`` and ``MODEL.PRUNE`` → (model, prune)."""
    found: dict[str, tuple[str, str | None]] = {m: (m, None) for m in models}
    found.update({f"{m}.{p}": (m, p) for m in models for p in models[m].prune})
    return found


def variants(
    builds: list[dict] | None, models: dict[str, Model], quantization: Iterable[str], targets: Iterable[str]
) -> tuple[Variant, ...]:
    known_units = units(models)
    quantization, targets = list(quantization), list(targets)
    if builds is None:
        combos = [(list(known_units), quantization, targets)]
    else:
        combos = [(b["models"], b.get("quantization", quantization), b["targets"]) for b in builds]
    out: dict[Variant, None] = {}
    for ms, qs, ts in combos:
        for unit in ms:
            model = models[known_units[unit][0]] if unit in known_units else None
            as_is = model is not None and model.prequantized is not None
            for q in [PREQUANTIZED] if as_is else [q for q in qs if q != PREQUANTIZED]:
                for t in ts:
                    if unit in known_units and q in quantization and t in targets:
                        model, prune = known_units[unit]
                        out.setdefault(Variant(model=model, quantization=q, target=t, prune=prune))
    return tuple(out)
