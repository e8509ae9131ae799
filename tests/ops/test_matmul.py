"""MatMul against OpenVINO (CPU plugin with the f32 hint for floats, core reference for integers)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13 as ov_ops

from lpir.errors import ValidationError
from lpir.ir import make_parameter, types
from lpir.ir.shape import DYNAMIC
from lpir.ops import build, lookup
from oracle import lpir_op, openvino_op

RTOL = 1e-5  # of the output range: lpir and OpenVINO may sum in different orders


def _run(a, b, ta, tb, *, reference=False):
    attrs = {"transpose_a": ta, "transpose_b": tb}
    ours = lpir_op("MatMul", [a, b], attrs)[0]
    theirs = openvino_op(lambda x, y: ov_ops.matmul(x, y, ta, tb), [a, b], reference=reference)[0]
    return ours, theirs


def _close(ours, theirs):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    assert float(np.abs(ours.astype(np.float64) - theirs).max(initial=0)) <= RTOL * scale


CASES = [  # (shape a, shape b, transpose_a, transpose_b)
    ((3, 4), (4, 5), False, False),
    ((4, 3), (4, 5), True, False),
    ((3, 4), (5, 4), False, True),
    ((4, 3), (5, 4), True, True),
    ((2, 1, 3, 4), (3, 4, 5), False, False),
    ((2, 4, 3), (1, 5, 4), True, True),
    ((4,), (4, 5), False, False),
    ((4,), (5, 4), True, True),   # transpose ignored for the 1-D input
    ((3, 4), (4,), False, False),
    ((2, 3, 4), (4,), False, True),
    ((4,), (4,), False, False),
    ((5, 1, 7), (1, 7, 6), False, False),
]


@pytest.mark.parametrize("sa,sb,ta,tb", CASES)
def test_float_matmul_matches_openvino(sa, sb, ta, tb):
    rng = np.random.default_rng(0)
    ours, theirs = _run(rng.normal(size=sa).astype(np.float32), rng.normal(size=sb).astype(np.float32), ta, tb)
    _close(ours, theirs)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("sa,sb,ta,tb", CASES[:6])
def test_integer_matmul_is_exact(sa, sb, ta, tb, dtype):
    rng = np.random.default_rng(1)
    a = rng.integers(-1000, 1000, size=sa).astype(dtype)
    b = rng.integers(-1000, 1000, size=sb).astype(dtype)
    ours, theirs = _run(a, b, ta, tb, reference=True)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("dtype,bound", [
    (np.int64, 2**30),   # partial sums past 2**53: accumulated in i64
    (np.int32, 2**20),   # exact in f64, then wraps to i32 as OpenVINO does
])
def test_large_integers_stay_exact(dtype, bound):
    rng = np.random.default_rng(3)
    a = rng.integers(-bound, bound, size=(3, 6)).astype(dtype)
    b = rng.integers(-bound, bound, size=(6, 4)).astype(dtype)
    ours, theirs = _run(a, b, False, False, reference=True)
    np.testing.assert_array_equal(ours, theirs)


def test_f16_stays_f16():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 8)).astype(np.float16), rng.normal(size=(8, 4)).astype(np.float16)
    ours = lpir_op("MatMul", [a, b])[0]
    theirs = openvino_op(lambda x, y: ov_ops.matmul(x, y, False, False), [a.astype(np.float32), b.astype(np.float32)])
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours.astype(np.float32), theirs[0], rtol=2e-3, atol=2e-3)


@st.composite
def operands(draw):
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    ones = [draw(st.booleans()) for _ in batch]
    batch_a = [1 if one else d for d, one in zip(batch, ones)]
    batch_b = [d if one else draw(st.sampled_from([1, d])) for d, one in zip(batch, ones)]
    batch_b = batch_b[draw(st.integers(0, len(batch_b))):]
    ta, tb = draw(st.booleans()), draw(st.booleans())
    sa = batch_a + ([k, m] if ta else [m, k])
    sb = batch_b + ([n, k] if tb else [k, n])
    return sa, sb, ta, tb


@settings(max_examples=60, deadline=None)
@given(operands(), st.integers(0, 2**31 - 1))
def test_random_batched_matmul_matches_openvino(shapes, seed):
    sa, sb, ta, tb = shapes
    rng = np.random.default_rng(seed)
    ours, theirs = _run(rng.normal(size=sa).astype(np.float32), rng.normal(size=sb).astype(np.float32), ta, tb)
    _close(ours, theirs)


def _node(sa, sb, ta=False, tb=False, tb_type=types.f32):
    a, b = make_parameter(types.f32, sa), make_parameter(tb_type, sb)
    return build("MatMul", [a.outputs[0], b.outputs[0]], {"transpose_a": ta, "transpose_b": tb})


def test_dynamic_dims_are_inferred():
    assert _node((DYNAMIC, 3, 4), (4, DYNAMIC)).outputs[0].shape == (DYNAMIC, 3, DYNAMIC)
    assert _node((2, DYNAMIC, 4), (1, 5, 4), tb=True).outputs[0].shape == (2, DYNAMIC, 5)
    assert _node((DYNAMIC,), (DYNAMIC, 7)).outputs[0].shape == (7,)


@pytest.mark.parametrize("sa,sb,ta,tb,tb_type,fragment", [
    ((3, 4), (5, 6), False, False, types.f32, "inner dimensions"),
    ((3, 4), (5, 4), False, False, types.f32, "K=4"),
    ((2, 3, 4), (3, 4, 5), False, False, types.f32, "do not broadcast"),
    ((3, 4), (4, 5), False, False, types.f16, "element types"),
    ((), (4, 5), False, False, types.f32, "scalars"),
])
def test_invalid_matmul_raises_validation_error(sa, sb, ta, tb, tb_type, fragment):
    with pytest.raises(ValidationError, match=fragment) as info:
        _node(sa, sb, ta, tb, tb_type)
    assert "MatMul" in str(info.value)


def test_weight_channel_axis_follows_transpose_b():
    op = lookup("MatMul", 1)
    assert op.traits.quantizable and op.traits.weight_inputs == (1,)
    assert op.weight_channel_axes({"transpose_b": False}) == (-1,)
    assert op.weight_channel_axes({"transpose_b": True}) == (-2,)
