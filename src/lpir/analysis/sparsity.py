"""Weight sparsity: the share of weights that are exactly zero, layer by layer.

OpenVINO represents sparsity only as zeros inside the weights; runtimes decide what to do with
them (the CPU plugin uses sparse int8 kernels above a threshold rate). A weight counts as zero
when its *value* is zero: a float 0, or a stored integer equal to its zero point. Tensors are
read one at a time and in blocks, so memory stays near one block even for multi-GB models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir.graph import Node
from lpir.ir.types import F4E2M1_VALUES, NF4_VALUES

BLOCK_ELEMENTS = 1 << 24


@dataclass
class LayerSparsity:
    layer: str
    op_type: str
    weight: str
    elements: int
    zeros: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.elements if self.elements else 0.0


def count_zero_weights(const: Node, zero_point: np.ndarray | None = None) -> int:
    """How many elements of ``const`` dequantize to exactly zero (equal ``zero_point`` if given)."""
    tensor = const.tensor
    values = tensor.numpy()
    if tensor.etype.name == "f4e2m1":
        values = values & 0x7  # the sign bit: code 8 is -0.0, a zero too
    zero = _zero_code(tensor.etype.name)
    if zero_point is not None:
        zp = np.broadcast_to(np.asarray(zero_point), np.broadcast_shapes(np.shape(zero_point), values.shape))
        return _count_blocks(values, zp)
    if values.ndim == 0:
        return int(values == zero)
    return _count_blocks(values, np.asarray(zero))


def _zero_code(etype: str):
    """The stored code whose value is zero (nf4/f4e2m1 store table indices)."""
    if etype == "nf4":
        return int(np.flatnonzero(NF4_VALUES == 0)[0])
    if etype == "f4e2m1":
        return int(np.flatnonzero(F4E2M1_VALUES == 0)[0])
    return 0


def _count_blocks(values: np.ndarray, zero: np.ndarray) -> int:
    """Count ``values == zero`` block by block along the first axis (no full-size temporaries)."""
    if values.ndim == 0:
        return int(values == zero)
    if values.size == 0:
        return 0
    rows = max(1, BLOCK_ELEMENTS // max(1, values[0].size))
    full_zero = zero.ndim == values.ndim and zero.shape[0] == values.shape[0]
    total = 0
    for start in range(0, values.shape[0], rows):
        block = values[start:start + rows]
        target = zero[start:start + rows] if full_zero else zero
        total += int(np.count_nonzero(block == target))
    return total
