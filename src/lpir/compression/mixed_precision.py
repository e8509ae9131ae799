"""Mixed precision for ``ratio < 1``: which weights take the 4-bit mode and which the backup.

NNCF's data-free criterion: a weight's sensitivity is ``1 / (error + eps)``, the error being
the largest per-channel mean squared error of int8_asym quantization. Weights are taken in
ascending order of sensitivity (the least sensitive first; ties keep layer order) until the
next one would bring the share of 4-bit weights to ``ratio`` or beyond — the walk stops there,
it does not skip that weight to fit a smaller one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from lpir.compression.lowering import EPS, quantization_error

Site = TypeVar("Site")


def sensitivity(weight: np.ndarray, axis: int, *,
                after_block: Callable[[np.ndarray], None] | None = None, block_bytes: int = 1 << 22) -> float:
    """How much a weight suffers from quantization: ``1 / (int8_asym error + eps)``.

    Computed over blocks of whole channels (the error is a maximum over channels), so a large
    weight needs a few MB of scratch; ``after_block`` gets each block of ``weight`` when done.
    """
    split = 1 if axis == 0 and weight.ndim > 1 else 0
    if weight.ndim < 2 or split == axis:
        return 1.0 / (quantization_error(weight, axis) + EPS)
    per_index = weight.nbytes // max(1, weight.shape[split])
    step = max(1, block_bytes // max(1, per_index))
    worst = 0.0
    for start in range(0, weight.shape[split], step):
        block = weight[(slice(None),) * split + (slice(start, start + step),)]
        worst = max(worst, quantization_error(block, axis))
        if after_block is not None:
            after_block(block)
    return 1.0 / (worst + EPS)


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
