"""Classification: does the quantized model pick the float model's class?

``top1_agreement``: the share of samples whose top-1 class is the float
model's top-1.  ``top5_agreement``: the share whose top-5 classes contain the
float model's top-1 (None with five classes or fewer, where it says nothing).
Logits or probabilities: the order is the same either way.
"""

from __future__ import annotations

import numpy as np

from tasks.model.metrics.common import output, rounded, stacked


def metrics(spec: dict, reference: list, quantized: list, input_shape: tuple[int, ...]) -> dict:
    name = output(spec, reference[0], "class scores")
    ref = stacked(reference, name).reshape(len(reference), -1)
    got = stacked(quantized, name).reshape(len(quantized), -1)
    expected = np.argmax(ref, axis=1)
    top1 = np.mean(np.argmax(got, axis=1) == expected)
    top5 = None
    if ref.shape[1] > 5:
        # stable order: ties rank the lower class index first, as argmax does
        best5 = np.argsort(-got, axis=1, kind="stable")[:, :5]
        top5 = np.mean([e in row for e, row in zip(expected, best5, strict=True)])
    return {"top1_agreement": rounded(top1), "top5_agreement": rounded(top5)}
