"""Mixed precision for ``ratio < 1``: which weights take the 4-bit mode and which the backup.

NNCF's data-free criterion: a weight's sensitivity is ``1 / (error + eps)``, the error being
the largest per-channel mean squared error of int8_asym quantization. Weights are taken in
ascending order of sensitivity (the least sensitive first; ties keep layer order) until the
next one would bring the share of 4-bit weights to ``ratio`` or beyond — the walk stops there,
it does not skip that weight to fit a smaller one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from lpir.compression.lowering import EPS, quantization_error

Site = TypeVar("Site")


def sensitivity(weight: np.ndarray, axis: int) -> float:
    """How much a weight suffers from quantization: ``1 / (int8_asym error + eps)``."""
    return 1.0 / (quantization_error(weight, axis) + EPS)


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
