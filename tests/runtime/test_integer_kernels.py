"""Exact integer layers: every accumulator equals a plain int64 computation.

The kernels run BLAS on integer-valued floats split along K; these property tests draw u8/i8
operands (and zero-point-shifted ones) with contraction depths on both sides of the f32 limit
(255 * 127 * K passes 2**24 from K = 519), and compare with int64 numpy loops that share no
code with the kernels.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lpir.errors import EvaluationError
from lpir.runtime.kernels import kernels_for
from lpir.runtime.kernels.integer import F32_EXACT, bound_kernel, chunk_plan, exact_contraction, integer_matmul, weight_chunks


def kernel(op_type: str):
    (k,) = kernels_for(op_type, "integer")
    return k.run


def int64_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...mk,...kn->...mn", a.astype(np.int64), b.astype(np.int64))


def int64_convolution(x, w, groups, stride, pad, dilation):
    """Direct 2-D grouped convolution in int64, one kernel tap at a time."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    x = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, m, oh, ow), np.int64)
    per_group = m // groups
    for o in range(m):
        g = o // per_group
        for i, j in itertools.product(range(kh), range(kw)):
            patch = x[:, g * cg:(g + 1) * cg, i * dilation:i * dilation + stride * (oh - 1) + 1:stride,
                      j * dilation:j * dilation + stride * (ow - 1) + 1:stride]
            out[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j].astype(np.int64))
    return out


def operands(rng, shape_a, shape_b, zero_point: int):
    a = rng.integers(0, 256, size=shape_a).astype(np.int32) - zero_point
    b = rng.integers(-127, 128, size=shape_b).astype(np.int32)
    return a, b


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.sampled_from([1, 7, 64, 518, 519, 1500, 4100]),
       batch=st.sampled_from([(), (2,), (2, 3)]), zero_point=st.sampled_from([0, 128, 255]),
       transpose_b=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_matmul_is_exact(m, n, k, batch, zero_point, transpose_b, seed):
    a, b = operands(np.random.default_rng(seed), batch + (m, k), (k, n), zero_point)
    b[0, 0] = -127  # make the bound reachable: products as large as they can be
    a[..., 0, 0] = 255 - zero_point if zero_point < 128 else -zero_point
    stored_b = np.ascontiguousarray(b.T) if transpose_b else b
    (result,) = integer_matmul(a, stored_b, transpose_a=False, transpose_b=transpose_b)
    assert result.dtype == np.int32
    np.testing.assert_array_equal(result, int64_matmul(a, b))


def test_f32_alone_would_not_be_exact():
    """The case the K split exists for: one f32 product of these operands is wrong, the kernel is not."""
    rng = np.random.default_rng(0)
    k = 4096
    a = rng.integers(200, 256, size=(4, k)).astype(np.int32)
    b = rng.integers(100, 128, size=(k, 4)).astype(np.int32)
    exact = int64_matmul(a, b)
    naive = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)
    assert np.abs(exact).max() > F32_EXACT and np.any(naive != exact)
    np.testing.assert_array_equal(integer_matmul(a, b, transpose_a=False, transpose_b=False)[0], exact)


@settings(max_examples=30, deadline=None)
@given(c=st.sampled_from([1, 3, 16, 70]), m=st.integers(1, 5), groups=st.sampled_from([1, 2]),
       kernel_size=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]), pad=st.sampled_from([0, 1]),
       dilation=st.sampled_from([1, 2]), zero_point=st.sampled_from([0, 128]), seed=st.integers(0, 2 ** 16))
def test_convolution_is_exact(c, m, groups, kernel_size, stride, pad, dilation, zero_point, seed):
    rng = np.random.default_rng(seed)
    cin, cout = c * groups, m * groups
    x, w = operands(rng, (2, cin, 9, 8), (cout, c, kernel_size, kernel_size), zero_point)
    attrs = dict(strides=[stride] * 2, pads_begin=[pad] * 2, pads_end=[pad] * 2, dilations=[dilation] * 2,
                 auto_pad="explicit")
    expected = int64_convolution(x, w, groups, stride, pad, dilation)
    if groups == 1:
        (result,) = kernel("Convolution")(x, w, **attrs)
    else:
        (result,) = kernel("GroupConvolution")(x, w.reshape(groups, m, c, kernel_size, kernel_size), **attrs)
    assert result.dtype == np.int32
    np.testing.assert_array_equal(result, expected)


def test_depthwise_convolution_is_exact():
    rng = np.random.default_rng(3)
    x, w = operands(rng, (1, 12, 10, 10), (12, 1, 5, 5), 0)
    attrs = dict(strides=[1, 1], pads_begin=[2, 2], pads_end=[2, 2], dilations=[1, 1], auto_pad="explicit")
    (result,) = kernel("GroupConvolution")(x, w.reshape(12, 1, 1, 5, 5), **attrs)
    np.testing.assert_array_equal(result, int64_convolution(x, w, 12, 1, 2, 1))


@pytest.mark.parametrize("groups", [1, 2])
def test_transposed_convolution_is_exact(groups):
    """Backprop-data equals the adjoint of the forward convolution: scatter of x through w, in int64."""
    rng = np.random.default_rng(5)
    cg, m = 300, 3  # 300 * 4 taps * 255 * 127 passes 2**24: split along the input channels
    x, w = operands(rng, (1, groups * cg, 4, 5), (groups, cg, m, 2, 2), 0)
    expected = np.zeros((1, groups * m, 8, 10), np.int64)
    for g in range(groups):
        for i, j in itertools.product(range(2), range(2)):
            tap = np.einsum("nchw,cm->nmhw", x[:, g * cg:(g + 1) * cg].astype(np.int64), w[g, :, :, i, j].astype(np.int64))
            expected[:, g * m:(g + 1) * m, i::2, j::2] += tap
    attrs = dict(strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0], dilations=[1, 1], auto_pad="explicit",
                 output_padding=[])
    if groups == 1:
        (result,) = kernel("ConvolutionBackpropData")(x, w[0], **attrs)
    else:
        (result,) = kernel("GroupConvolutionBackpropData")(x, w, **attrs)
    np.testing.assert_array_equal(result, expected)


@settings(max_examples=50, deadline=None)
@given(term=st.integers(1, 1 << 40), depth=st.integers(1, 1 << 20))
def test_chunk_plan_keeps_every_partial_sum_exact(term, depth):
    work, chunk = chunk_plan(term, depth)
    assert 1 <= chunk <= depth
    limit = {np.float32: F32_EXACT, np.float64: 1 << 53}.get(work.type)
    if limit is not None:
        assert term * chunk < limit


def test_overflow_is_an_error():
    a = np.full((1, 70000), 255, np.int32)
    b = np.full((70000, 1), 127, np.int32)
    with pytest.raises(EvaluationError, match="i32 accumulator overflows"):
        integer_matmul(a, b, transpose_a=False, transpose_b=False)


def test_float_inputs_fall_back_to_the_float_layer():
    a = np.ones((2, 3), np.float32)
    assert integer_matmul(a, a.T.copy(), transpose_a=False, transpose_b=False) is None


def test_contraction_of_grouped_channels_matches_whole():
    """Chunking the channels of each group gives the same sum as the whole product."""
    rng = np.random.default_rng(1)
    x, w = operands(rng, (3, 8), (8, 2), 0)
    whole = int64_matmul(x, w)
    np.testing.assert_array_equal(exact_contraction(lambda p, q: p @ q, x, w, 1, 0), whole)


@settings(max_examples=30, deadline=None)
@given(k=st.sampled_from([5, 300, 2000, 5000]), n=st.integers(1, 6), x_bound=st.sampled_from([1, 128, 255]),
       heavy=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_kernel_bound_to_weights_is_exact(k, n, x_bound, heavy, seed):
    """Chunks sized by each output's Σ|w| (known at compile time) keep every partial sum exact."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (k, n)).astype(np.int32) if heavy else np.rint(rng.normal(0, 30, (k, n))).clip(-127, 127).astype(np.int32)
    x = rng.integers(-x_bound, x_bound + 1, (3, k)).astype(np.int32)
    x[0] = x_bound * np.sign(w[:, 0])  # the worst case for output 0
    work, chunks = weight_chunks(w, -2, (-1,), x_bound)
    for start, stop in chunks:
        if work == np.float32:
            assert x_bound * np.abs(w[start:stop].astype(np.int64)).sum(0).max() < F32_EXACT
    kernel = bound_kernel("MatMul", w, {"transpose_a": False, "transpose_b": False}, x_bound)
    (result,) = kernel.run(x, w, transpose_a=False, transpose_b=False)
    np.testing.assert_array_equal(result, int64_matmul(x, w))


def test_convolution_kernel_bound_to_weights_is_exact():
    rng = np.random.default_rng(8)
    x, w = operands(rng, (1, 96, 7, 7), (8, 96, 3, 3), 128)
    attrs = dict(strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 1], auto_pad="explicit")
    kernel = bound_kernel("Convolution", w, attrs, 128)
    np.testing.assert_array_equal(kernel.run(x, w, **attrs)[0], int64_convolution(x, w, 1, 1, 1, 1))
    assert kernel.run(x, w.copy(), **attrs) is None  # bound to its weights only
