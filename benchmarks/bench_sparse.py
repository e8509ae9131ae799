"""Dense BLAS against lpir's sparse MatMul kernel on MiniLM's MatMul shapes, by share of zeros.

    python benchmarks/bench_sparse.py [--runs 10]

The weights of every distinct MatMul shape of paraphrase-MiniLM-L3 (384x384, 384x1536, 1536x384;
128 tokens) are pruned by magnitude to 50 ... 99 % zeros; each kernel runs on the same input in
the same run (f32, and i32 as in integer mode). The crossover, the share of zeros from which the
sparse kernel is faster, sets lpir's default ``sparse_weights_rate``. Run with ``OPENBLAS_NUM_THREADS=1`` on a shared
machine (see bench_integer.py).
"""

from __future__ import annotations

import argparse

import numpy as np

import lpir
from lpir.runtime.kernels.integer import integer_matmul
from lpir.runtime.sparse import SparseWeights
from timing import median_ms
from lpir import zoo

SHARES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    model = lpir.read_model(zoo.minilm())
    shapes = sorted({tuple(n.inputs[1].source.shape) for n in model.nodes()
                     if n.type == "MatMul" and n.inputs[1].source.node.type == "Const"})
    rng = np.random.default_rng(0)
    print(f"{'weights':>10s} {'zeros':>6s} {'dense f32':>9s} {'sparse f32':>10s} {'dense i32':>9s} {'sparse i32':>10s}  (ms, 128 tokens)")
    for k, n in shapes:
        a = rng.normal(size=(128, k)).astype(np.float32)
        ai = rng.integers(-128, 128, (128, k)).astype(np.int32)
        for share in SHARES:
            w = rng.normal(size=(k, n)).astype(np.float32)
            w[np.abs(w) < np.quantile(np.abs(w), share)] = 0
            wi = np.rint(w / np.abs(w).max() * 127).astype(np.int32)
            sparse, sparse_i = SparseWeights(w), SparseWeights(wi)
            row = [median_ms(lambda: a @ w, args.runs), median_ms(lambda: sparse.matmul(a), args.runs),
                   median_ms(lambda: integer_matmul(ai, wi, transpose_a=False, transpose_b=False), args.runs),
                   median_ms(lambda: sparse_i.matmul(ai), args.runs)]
            print(f"{k:>4d}x{n:<5d} {share:6.0%} " + " ".join(f"{v:9.2f} " for v in row))


if __name__ == "__main__":
    main()
