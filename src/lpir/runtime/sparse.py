"""Sparse weights, the runtime's choice: a sparse MatMul kernel for weights with many exact zeros.

A model says nothing about sparsity but its zeros (facts §5). As OpenVINO's CPU plugin does with
``CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE``, the interpreter takes a threshold at compile time:
a MatMul whose constant 2-D weights have at least that share of exact zeros runs this kernel
(1.0 turns it off). The kernel keeps only the nonzero weights, sorted by output column, and
computes each column as the sum of the input columns its nonzeros select (``np.add.reduceat``):
work proportional to the nonzeros instead of the whole matrix. Float results equal the dense
product up to f32 summation order; integer ones (the integer interpretation's i32 layers) are
exact. ``benchmarks/bench_sparse.py`` measures where it beats BLAS, which sets the default.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import ValidationError
from lpir.runtime.kernels import Kernel
from lpir.runtime.kernels.integer import to_i32

# Measured by benchmarks/bench_sparse.py on MiniLM's MatMul shapes: numpy's sparse product beats
# BLAS only past this share of zeros.
DEFAULT_SPARSE_RATE = 1.0
ROWS_PER_BLOCK = 32  # rows of the input per gather, so the [rows, nonzeros] temporary stays small


def check_rate(rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ValidationError(f"sparse_weights_rate={rate} must be in [0, 1] (1.0 turns sparse kernels off)")
    return float(rate)


def zero_share(weights: np.ndarray) -> float:
    return float(np.count_nonzero(weights == 0)) / weights.size if weights.size else 0.0


class SparseWeights:
    """``[K, N]`` weights kept as their nonzeros, grouped by output column."""

    def __init__(self, weights: np.ndarray):
        self.shape = weights.shape
        rows, cols = np.nonzero(weights.T)  # column-major: grouped by output column
        self.columns, starts = np.unique(rows, return_index=True)
        self.starts = starts
        self.inner = cols
        self.values = weights.T[rows, cols]

    def matmul(self, a: np.ndarray) -> np.ndarray:
        """``a @ W`` for ``a`` of shape ``[..., K]``."""
        k, n = self.shape
        flat = a.reshape(-1, k)
        integer = a.dtype.kind in "iu"
        work = np.int64 if integer else np.result_type(a.dtype, self.values.dtype)
        out = np.zeros((flat.shape[0], n), dtype=work)
        values = self.values.astype(work, copy=False)
        if self.values.size:
            for start in range(0, flat.shape[0], ROWS_PER_BLOCK):
                block = flat[start:start + ROWS_PER_BLOCK]
                products = block[:, self.inner].astype(work, copy=False) * values
                out[start:start + ROWS_PER_BLOCK, self.columns] = np.add.reduceat(products, self.starts, axis=1)
        return out.reshape(a.shape[:-1] + (n,))


def sparse_matmul_kernel(weights: np.ndarray, *, transpose_b: bool) -> Kernel:
    """A kernel for one MatMul step whose input 1 is always ``weights`` (2-D)."""
    sparse = SparseWeights(weights.T if transpose_b else weights)
    bound = int(np.abs(weights).max()) if weights.size else 0

    def run(a: np.ndarray, b: np.ndarray, *, transpose_a: bool, transpose_b: bool):
        if transpose_a or a.ndim < 2 or a.dtype.kind != b.dtype.kind:
            return None
        result = sparse.matmul(a)
        if result.dtype == np.int64:
            term = (max(abs(int(a.min())), abs(int(a.max()))) if a.size else 0) * bound
            return (to_i32(result, term * sparse.shape[0]),)
        return (result.astype(np.result_type(a, b), copy=False),)
    return Kernel("MatMul", "sparse", run)


def choose_sparse_kernels(program, rate: float) -> dict[str, float]:
    """Give every MatMul step of ``program`` with constant 2-D weights at least ``rate`` zeros the
    sparse kernel; returns the chosen layers' names with their share of zeros."""
    chosen: dict[str, float] = {}
    if rate >= 1.0:
        return chosen
    for step in program.steps:
        if step.node.type != "MatMul" or step.inputs[1] not in program.constants:
            continue
        weights = program.constants[step.inputs[1]]
        if weights.ndim != 2:
            continue
        share = zero_share(weights)
        if share >= rate:
            step.kernels = [sparse_matmul_kernel(weights, transpose_b=step.attrs["transpose_b"])] + step.kernels
            chosen[step.node.name] = share
    return chosen
