"""Sparse weights: the runtime's sparse MatMul kernel and lpir.sparsify, on real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lpir
import realdata
from lpir.errors import ValidationError
from lpir.runtime.sparse import SparseWeights


def matmul_weights(model):
    return {n.name: n.inputs[1].source.node.tensor.numpy() for n in model.nodes()
            if n.type == "MatMul" and n.inputs[1].source.node.type == "Const"}


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 40), n=st.integers(1, 40), rows=st.integers(1, 70), zeros=st.floats(0, 1),
       integer=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_sparse_product_equals_dense(k, n, rows, zeros, integer, seed):
    rng = np.random.default_rng(seed)
    if integer:
        w = rng.integers(-127, 128, (k, n)).astype(np.int32)
        a = rng.integers(-255, 256, (2, rows, k)).astype(np.int32)
    else:
        w = rng.normal(size=(k, n)).astype(np.float32)
        a = rng.normal(size=(2, rows, k)).astype(np.float32)
    w[rng.random(w.shape) < zeros] = 0
    result = SparseWeights(w).matmul(a)
    if integer:
        np.testing.assert_array_equal(result, a.astype(np.int64) @ w)
    else:
        np.testing.assert_allclose(result, a.astype(np.float64) @ w, rtol=1e-5, atol=1e-5 * np.abs(a).max() * k)


@pytest.fixture(scope="module")
def minilm(real_ir):
    return lpir.read_model(real_ir("minilm"))


def test_sparsified_minilm_runs_sparse_kernels_above_the_threshold(minilm):
    sparse = lpir.sparsify(minilm, 0.8)
    tokens = list(realdata.token_batch(2, 16))
    dense_run = lpir.compile_model(sparse)
    sparse_run = lpir.compile_model(sparse, sparse_weights_rate=0.75)
    assert len(sparse_run.sparse_layers) == 18 and not dense_run.sparse_layers
    assert all(abs(share - 0.8) < 0.01 for share in sparse_run.sparse_layers.values())
    assert sum(row.kernel.startswith("sparse") for row in sparse_run.plan.layers) == 18
    for d, s in zip(dense_run(tokens), sparse_run(tokens)):
        assert np.abs(d - s).max() <= 1e-5 * np.ptp(d)
    assert not lpir.compile_model(sparse, sparse_weights_rate=0.85).sparse_layers


def test_magnitude_pruning_zeroes_the_smallest_weights(minilm):
    before = matmul_weights(minilm)
    after = matmul_weights(lpir.sparsify(minilm, 0.5))
    for name, w in before.items():
        pruned = after[name]
        assert abs(np.mean(pruned == 0) - 0.5) < 1e-3
        assert np.abs(w[pruned == 0]).max() <= np.abs(w[pruned != 0]).min()
        np.testing.assert_array_equal(pruned[pruned != 0], w[pruned != 0])
    assert all(np.array_equal(before[k], v) for k, v in matmul_weights(minilm).items())  # the input model is untouched


def test_data_aware_pruning_ranks_weight_times_input_norm_per_row(minilm):
    data = [list(realdata.token_batch(2, 16, seed=s)) for s in range(2)]
    pruned = lpir.sparsify(minilm, 0.5, dataset=data, ignored_scope=lpir.IgnoredScope(patterns=[".*intermediate.*"]))
    before, after = matmul_weights(minilm), matmul_weights(pruned)
    changed = [name for name in before if not np.array_equal(before[name], after[name])]
    assert changed and not any("intermediate" in name for name in changed)
    name = changed[0]
    w, p = before[name], after[name]
    node = pruned.node(name)
    rows_axis = -2 if not node.attrs.get("transpose_b") else -1  # weights per output row
    zeros_per_row = np.mean(p == 0, axis=rows_axis)
    np.testing.assert_allclose(zeros_per_row, 0.5, atol=1 / w.shape[rows_axis])
    assert not np.array_equal(p == 0, matmul_weights(lpir.sparsify(minilm, 0.5))[name] == 0)


def test_two_of_four(minilm):
    after = matmul_weights(lpir.sparsify(minilm, 0.5, pattern="2:4"))
    for name, w in after.items():
        node = minilm.node(name)
        rows = w if node.attrs.get("transpose_b") else w.T
        groups = (rows == 0).reshape(rows.shape[0], -1, 4).sum(-1)
        assert np.all(groups >= 2), name


@pytest.mark.parametrize("kwargs, fragment", [({"sparsity": 1.0}, "must be in [0, 1)"),
                                              ({"sparsity": -0.1}, "must be in [0, 1)"),
                                              ({"pattern": "4:2"}, "N:M"),
                                              ({"pattern": "2:5"}, "divisible by 5")])
def test_bad_sparsify_arguments(minilm, kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment.replace("[", r"\[").replace(")", r"\)")):
        lpir.sparsify(minilm, **{"sparsity": 0.5, **kwargs})


def test_bad_rate(minilm):
    with pytest.raises(ValidationError, match="sparse_weights_rate"):
        lpir.compile_model(minilm, sparse_weights_rate=1.5)
