"""Mixed precision for ``ratio < 1``: which weights take the 4-bit mode and which the backup.

NNCF's data-free criterion: a weight's sensitivity is ``1 / (error + eps)``, the error being
the largest per-channel mean squared error of int8_asym quantization. Weights are taken in
ascending order of sensitivity (the least sensitive first; ties keep layer order) until the
next one would bring the share of 4-bit weights to ``ratio`` or beyond — the walk stops there,
it does not skip that weight to fit a smaller one.

With calibration data, NNCF's data-aware criteria weigh that by what the layer's activation
input (the matrix product's non-weight input) looks like, one figure per sample, averaged over
the samples: ``max_activation_variance`` (NNCF's default with a dataset) and
``mean_activation_variance`` multiply ``1 / (error + eps)`` by the largest or mean variance over
the second-last (sequence) axis, ``mean_activation_magnitude`` by the mean of the largest
magnitudes over that axis, ``hessian_input_activation`` multiplies the Frobenius norm of the
int8_asym error by twice the mean square of the activation. Embedding tables score 0 under the
data-aware criteria, so they take the primary mode first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from lpir.compression.lowering import EPS, quantization_error

Site = TypeVar("Site")


WEIGHT_ONLY = "weight_quantization_error"
DATA_AWARE = ("hessian_input_activation", "mean_activation_variance", "max_activation_variance",
              "mean_activation_magnitude")
METRICS = (WEIGHT_ONLY, *DATA_AWARE)
DEFAULT_DATA_AWARE = "max_activation_variance"


def sensitivity(weight: np.ndarray, axis: int, *, frobenius: bool = False,
                after_block: Callable[[np.ndarray], None] | None = None, block_bytes: int = 1 << 22) -> float:
    """How much a weight suffers from quantization: ``1 / (int8_asym error + eps)``, or with
    ``frobenius`` the Frobenius norm of the int8_asym error itself.

    Computed over blocks of whole channels (the error is a maximum over channels), so a large
    weight needs a few MB of scratch; ``after_block`` gets each block of ``weight`` when done.
    """
    split = 1 if axis == 0 and weight.ndim > 1 else 0
    if weight.ndim < 2 or split == axis:
        blocks = [weight]
    else:
        step = max(1, block_bytes // max(1, weight.nbytes // max(1, weight.shape[split])))
        blocks = (weight[(slice(None),) * split + (slice(start, start + step),)]
                  for start in range(0, weight.shape[split], step))
    worst, squares = 0.0, 0.0
    for block in blocks:
        if frobenius:
            squares += quantization_error(block, axis, reduction="sum")
        else:
            worst = max(worst, quantization_error(block, axis))
        if after_block is not None and block is not weight:
            after_block(block)
    return float(np.sqrt(squares)) if frobenius else 1.0 / (worst + EPS)


def activation_figure(metric: str, activation: np.ndarray) -> float:
    """One sample's figure of a matrix product's activation input under a data-aware ``metric``."""
    x = activation.astype(np.float32, copy=False)
    if metric == "hessian_input_activation":
        return float(np.sum(x * x) / x.size)
    if metric == "mean_activation_magnitude":
        return float(np.mean(np.max(np.abs(x), axis=-2)))
    mean = np.mean(x, axis=-2, keepdims=True)
    variance = np.mean((mean - x) ** 2, axis=-2)
    return float(np.max(variance) if metric == "max_activation_variance" else np.mean(variance))


def activation_score(metric: str, figures: Sequence[float]) -> float:
    """The figures of all samples combined as NNCF aggregates them (a mean; twice it for the Hessian)."""
    mean = float(np.mean(np.asarray(figures, dtype=np.float64)))
    return 2.0 * mean if metric == "hessian_input_activation" else mean


def select_primary(sites: Sequence[Site], sizes: Sequence[int], scores: Sequence[float],
                   ratio: float) -> list[Site]:
    """The sites that take the primary mode: least sensitive first while their share stays below ``ratio``."""
    total = sum(sizes)
    chosen: list[Site] = []
    taken = 0
    for index in sorted(range(len(sites)), key=lambda i: scores[i]):
        if total == 0 or (taken + sizes[index]) / total >= ratio:
            break
        chosen.append(sites[index])
        taken += sizes[index]
    return chosen
