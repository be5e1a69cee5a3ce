"""float-outputs: a float model's outputs on its unit's validation samples, for every step that compares with them.

The evaluate step of each of a unit's schemes and every candidate of its automatic scheme's search run the same
float model on the same validation samples to compare a quantized model with it.  Where an automatic scheme's
candidates or SHARED evaluate steps would, this step runs it once and keeps its outputs
(``UNIT/MODEL.outputs.npz``) with a digest of each sample; the steps read them instead (and run the model
themselves if their samples differ).  The file is tasks/model/expected.py's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.model.datasets import Samples
from tasks.planning.options import input_file, output_file

if TYPE_CHECKING:
    from tasks.engine.plan import Planning
    from tasks.planning.step import Step


# evaluate steps that run a float model before it pays to run it once for them: a step of its own costs about as
# much as one run of a small model on its samples (the example's classifiers: 0.6 s against 0.3 s)
SHARED = 3


@dataclass(frozen=True, kw_only=True)
class Options:
    label: str
    dataset: Samples  # the validation samples, without their labels (the outputs do not depend on them)
    model: Path = input_file()  # the float model
    out: Path = output_file()


def _wanted(planning: Planning) -> dict[Path, list[tuple[str, Samples]]]:
    """Each float model the evaluate and candidate steps compare with: who runs it ("evaluate" a step, "candidates"
    an automatic scheme's dozen), and on which samples."""
    wanted: dict[Path, list[tuple[str, Samples]]] = {}
    for model_name, unit, _ in planning.evaluated():
        model = planning.project.models[model_name]
        if model.validation and not model.prequantized:
            dataset = planning.validation_samples(model)[0]
            wanted.setdefault(planning.paths.float_model(unit), []).append(("evaluate", dataset))
    for model_name, unit, _ in planning.searched():  # the candidates compare with the model quantize starts from
        dataset = planning.validation_samples(planning.project.models[model_name])[0]
        wanted.setdefault(planning.start_of(unit), []).append(("candidates", dataset))
    return wanted


def plan_float_outputs(planning: Planning) -> list[Step]:
    steps = []
    for model, users in _wanted(planning).items():
        unlabelled = {dataclasses.replace(d, labels=None) for _, d in users}
        if (len(users) < SHARED and {u for u, _ in users} == {"evaluate"}) or len(unlabelled) != 1:
            continue  # too few steps run it to pay for a step of its own, or they run it on other samples
        (dataset,) = unlabelled
        options = Options(label=model.stem, dataset=dataset, model=model, out=model.with_suffix(".outputs.npz"))
        doc = f"run the float model on '{dataset.label}' once, for the steps that compare quantized models with it"
        steps.append(planning.new("float-outputs", model.stem, doc, options))
    return steps


def kept_for(planning: Planning, model: Path, dataset: Samples) -> Path | None:
    """The float-outputs file of ``model`` on ``dataset``'s samples, when a step keeps them."""
    step = planning.step_of("float-outputs", model.stem)
    if step is None or step.options.model != model or step.options.dataset != dataclasses.replace(dataset, labels=None):
        return None
    return step.options.out


def run(o: Options) -> None:
    from tasks.model import accuracy, expected
    from tasks.progress import progress

    runner = accuracy.Runner(o.model.read_bytes())
    detail = runner.single_input(o.label)
    xs = accuracy.validation_inputs(o.dataset, tuple(int(d) for d in detail["shape"]), o.label)
    outputs = [runner(x) for x in xs]
    expected.write(o.out, xs, outputs)
    progress(f"{len(outputs[0])} output(s) on {len(xs)} samples of '{o.dataset.label}'")
