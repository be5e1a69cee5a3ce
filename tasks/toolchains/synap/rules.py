"""Rules only SyNAP targets need: calibration from files, prune outputs' settings, boards that run synap_cli."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.toolchains.base import Found
from tasks.toolchains.synap.settings import SynapSettings

if TYPE_CHECKING:
    from tasks.config.rules import Context


def calibrates_on_files(c: Context) -> Found:
    for v in c.project.variants:
        q, model = c.project.quantization[v.quantization], c.project.models[v.model]
        if not isinstance(c.project.targets[v.target].settings, SynapSettings):
            continue
        if not q.calibrated or not model.calibration:
            continue
        dataset = c.project.datasets.get(model.calibration)
        if dataset is not None and dataset.kind == "random":
            yield (
                ("models", model.name, "calibration"),
                f"SyNAP calibrates on files (variant {v.id}); give dataset '{model.calibration}' images: or npy:",
            )


def prune_outputs(c: Context) -> Found:
    for name, model in c.project.models.items():
        for p, cut in model.prune.items():
            given = len((cut.synap or {}).get("outputs", []))
            if given > len(cut.outputs):
                yield (
                    ("models", name, "prune", p, "synap", "outputs"),
                    f"{given} entries for {len(cut.outputs)} kept output(s); give one per output, in order",
                )


def boards_run_synap_cli(c: Context) -> Found:
    targets = c.project.targets
    for name, board in c.project.boards.items():
        for i, t in enumerate(board.targets):
            if t in targets and isinstance(targets[t].settings, SynapSettings) and board.local:
                yield (
                    ("boards", name, "targets", i),
                    f"'{t}' is a SyNAP target: its models run on a SyNAP board (synap_cli)",
                )
