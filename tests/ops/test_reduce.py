"""Reductions and CumSum against OpenVINO's reference evaluation, plus property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from openvino import opset13 as ov_ops
from oracle import lpir_op, openvino_op

from lpir.errors import ValidationError

REDUCTIONS = {
    "ReduceMean": ov_ops.reduce_mean, "ReduceSum": ov_ops.reduce_sum, "ReduceMax": ov_ops.reduce_max,
    "ReduceMin": ov_ops.reduce_min, "ReduceProd": ov_ops.reduce_prod, "ReduceL1": ov_ops.reduce_l1,
    "ReduceL2": ov_ops.reduce_l2,
}
OPSET = {"ReduceL1": 4, "ReduceL2": 4}


def _run_both(op_type, x, axes, keep_dims):
    axes = np.asarray(axes, dtype=np.int64)
    ours = lpir_op(op_type, [x, axes], {"keep_dims": keep_dims}, opset=OPSET.get(op_type, 1), constant_inputs=[1])[0]
    theirs = openvino_op(lambda a, b: REDUCTIONS[op_type](a, b, keep_dims), [x, axes], reference=True)[0]
    return ours, theirs


CASES = [  # (shape, axes, keep_dims)
    ((2, 3, 4), [1], False),
    ((2, 3, 4), [0, 2], True),
    ((2, 3, 4), [-1], False),
    ((2, 3, 4), [-3, 1], True),
    ((2, 3, 4), [], False),
    ((2, 3, 4), [0, 1, 2], False),
    ((1, 5, 3, 3), [2, 3], True),
    ((5,), 0, False),
]


@pytest.mark.parametrize("op_type", sorted(REDUCTIONS))
@pytest.mark.parametrize("shape,axes,keep_dims", CASES)
def test_float_reductions_match_openvino_reference(op_type, shape, axes, keep_dims):
    x = np.random.default_rng(0).uniform(-2, 2, size=shape).astype(np.float32)
    ours, theirs = _run_both(op_type, x, axes, keep_dims)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op_type", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_reductions_are_exact(op_type, dtype):
    x = np.random.default_rng(1).integers(-9, 10, size=(3, 4, 2)).astype(dtype)
    if op_type == "ReduceProd":
        x = np.clip(x, -3, 3).astype(dtype)
    ours, theirs = _run_both(op_type, x, [1], False)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, theirs)


def test_integer_mean_truncates_toward_zero():
    x = np.array([[-3, -4], [3, 4]], dtype=np.int32)
    ours, theirs = _run_both("ReduceMean", x, [1], False)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours, [-3, 3])


@pytest.mark.parametrize("dtype", [np.float16])
@pytest.mark.parametrize("op_type", ["ReduceMean", "ReduceSum", "ReduceL2"])
def test_f16_stays_f16(op_type, dtype):
    x = np.random.default_rng(2).uniform(-1, 1, size=(4, 16)).astype(dtype)
    ours, theirs = _run_both(op_type, x, [1], True)
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("op_type,factory", [("ReduceLogicalAnd", ov_ops.reduce_logical_and),
                                             ("ReduceLogicalOr", ov_ops.reduce_logical_or)])
@pytest.mark.parametrize("axes,keep_dims", [([0], False), ([1, 2], True), ([-1], False), ([], True)])
def test_logical_reductions(op_type, factory, axes, keep_dims):
    x = np.random.default_rng(3).random((3, 4, 5)) > 0.3
    axes = np.asarray(axes, dtype=np.int64)
    ours = lpir_op(op_type, [x, axes], {"keep_dims": keep_dims}, constant_inputs=[1])[0]
    theirs = openvino_op(lambda a, b: factory(a, b, keep_dims), [x, axes], reference=True)[0]
    assert ours.dtype == np.bool_
    np.testing.assert_array_equal(ours, theirs)


def test_unknown_axes_give_dynamic_dims():
    x = np.ones((2, 3, 4), np.float32)
    out = lpir_op("ReduceSum", [x, np.array([1, 2])], {"keep_dims": False})[0]
    assert out.shape == (2,)
    out = lpir_op("ReduceMax", [x, np.array([1])], {"keep_dims": True})[0]
    assert out.shape == (2, 1, 4)


@pytest.mark.parametrize("op_type,x,axes,message", [
    ("ReduceSum", np.ones((2, 3), np.float32), [2], "out of range"),
    ("ReduceMean", np.ones((2, 3), np.float32), [-3], "out of range"),
    ("ReduceSum", np.ones((2, 3), np.float32), [[0]], "1-D"),
    ("ReduceLogicalAnd", np.ones((2, 3), np.float32), [0], "boolean"),
    ("ReduceMax", np.ones((2, 3), np.bool_), [0], "numeric"),
])
def test_invalid_reductions_are_rejected(op_type, x, axes, message):
    with pytest.raises(ValidationError, match=message):
        lpir_op(op_type, [x, np.asarray(axes, np.int64)], constant_inputs=[1])


@st.composite
def _tensor_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    x = draw(hnp.arrays(np.float32, shape, elements=st.floats(-100, 100, width=32)))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape)))
    return x, axes, draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(_tensor_and_axes(), st.sampled_from(["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1"]))
def test_random_reductions_match_openvino(case, op_type):
    x, axes, keep_dims = case
    ours, theirs = _run_both(op_type, x, axes, keep_dims)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


CUMSUM_CASES = [  # (shape, axis, exclusive, reverse)
    ((5,), 0, False, False),
    ((3, 4), 1, True, False),
    ((3, 4), 0, False, True),
    ((2, 3, 4), -1, True, True),
    ((2, 3, 4), -2, False, False),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("shape,axis,exclusive,reverse", CUMSUM_CASES)
def test_cumsum_matches_openvino_reference(dtype, shape, axis, exclusive, reverse):
    x = np.random.default_rng(4).integers(-5, 6, size=shape).astype(dtype)
    axis_value = np.array(axis, np.int64)
    attrs = {"exclusive": exclusive, "reverse": reverse}
    ours = lpir_op("CumSum", [x, axis_value], attrs, opset=3, constant_inputs=[1])[0]
    # OpenVINO's reference has no i32 CumSum; its CPU plugin is exact on integers.
    theirs = openvino_op(lambda a, b: ov_ops.cumsum(a, b, exclusive, reverse), [x, axis_value],
                         reference=dtype == np.float32, constant_inputs=[1])[0]
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, theirs)


def test_cumsum_rejects_bad_axis():
    with pytest.raises(ValidationError, match="out of range"):
        lpir_op("CumSum", [np.ones((2, 3), np.float32), np.array(2, np.int64)], opset=3, constant_inputs=[1])
    with pytest.raises(ValidationError, match="scalar"):
        lpir_op("CumSum", [np.ones((2, 3), np.float32), np.array([0], np.int64)], opset=3, constant_inputs=[1])


def test_dynamic_dims_pass_through_reductions():
    from lpir.ir import Dim, make_constant, make_parameter, types
    from lpir.ops import build

    x = make_parameter(types.f32, (Dim(), 96, Dim(1), Dim(1)))
    axes = make_constant(np.array([2, 3], np.int64))
    node = build("ReduceMean", [x.outputs[0], axes.outputs[0]], {"keep_dims": True}, opset=1)
    assert node.outputs[0].shape == (Dim(), 96, 1, 1)


@pytest.mark.parametrize("op_type", ["ReduceMin", "ReduceMax"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_an_empty_range_gives_the_references_identity(op_type, dtype):
    """Reduced over an empty axis, as OpenVINO's reference: +inf for a float min, else the
    type's extreme (the lowest float for a max, where ONNX wants -inf)."""
    ours, theirs = _run_both(op_type, np.zeros((2, 0, 4), dtype), [1], True)
    np.testing.assert_array_equal(ours, theirs)
    if dtype == np.float32:
        assert np.all(ours == (np.inf if op_type == "ReduceMin" else np.finfo(np.float32).min))
