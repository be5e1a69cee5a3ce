"""The build matrix: ``builds:`` (or every model, prune variant, scheme and target) → variants.

Pure: names in, variants out, in the order project.yaml gives them, each
once.  A name that is not defined is skipped here and reported by the rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from tasks.config.project import Model, Variant


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
        combos = [(b["models"], b["quantization"], b["targets"]) for b in builds]
    out: dict[Variant, None] = {}
    for ms, qs, ts in combos:
        for unit in ms:
            for q in qs:
                for t in ts:
                    if unit in known_units and q in quantization and t in targets:
                        model, prune = known_units[unit]
                        out.setdefault(Variant(model=model, quantization=q, target=t, prune=prune))
    return tuple(out)
