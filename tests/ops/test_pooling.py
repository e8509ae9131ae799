"""Pooling ops against OpenVINO: MaxPool through the core reference and the CPU plugin, AvgPool
and the adaptive pools through the CPU plugin (f32 hint; OpenVINO's Python API cannot evaluate
them with the reference). Values must agree within 1e-5 of the output range, indices exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openvino import opset8 as ov8
from openvino import opset13 as ov13
from openvino import opset14 as ov14

from lpir.errors import ValidationError
from lpir.ir import make_constant, make_parameter, types
from lpir.ir.shape import DYNAMIC
from lpir.ops import build
from oracle import lpir_op, openvino_op

RTOL = 1e-5


def assert_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal NaN positions; elsewhere within RTOL of the output range."""
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    finite = ~np.isnan(theirs)
    scale = max(1.0, float(np.abs(theirs[finite]).max(initial=0)))
    assert float(np.abs(ours[finite].astype(np.float64) - theirs[finite]).max(initial=0)) <= RTOL * scale


def _data(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _attrs(kernel, strides, pads_begin, pads_end, rounding_type="floor", auto_pad="explicit", **extra):
    return {"kernel": list(kernel), "strides": list(strides), "pads_begin": list(pads_begin),
            "pads_end": list(pads_end), "rounding_type": rounding_type, "auto_pad": auto_pad, **extra}


def _max_pool_both(x, a, *, opset, reference):
    ours = lpir_op("MaxPool", [x], a, opset=opset)
    module = ov14 if opset == 14 else ov8
    theirs = openvino_op(lambda d: module.max_pool(d, a["strides"], a["dilations"], a["pads_begin"], a["pads_end"],
                                                   a["kernel"], a["rounding_type"], a["auto_pad"],
                                                   a["index_element_type"], a["axis"]), [x], reference=reference)
    return ours, theirs


# (data shape, kernel, strides, dilations, pads_begin, pads_end, rounding_type, auto_pad)
POOL_CASES = [
    ((2, 3, 9, 8), (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), "floor", "explicit"),
    ((2, 3, 9, 8), (3, 2), (2, 2), (1, 1), (1, 0), (0, 1), "floor", "explicit"),
    ((2, 3, 9, 8), (3, 2), (2, 2), (1, 1), (1, 0), (0, 1), "ceil", "explicit"),
    ((2, 3, 9, 8), (2, 3), (3, 2), (2, 1), (1, 1), (1, 2), "ceil", "explicit"),
    ((2, 3, 9, 8), (3, 2), (2, 2), (1, 1), (1, 0), (0, 1), "ceil_torch", "explicit"),
    ((1, 2, 10, 7), (2, 3), (3, 2), (1, 1), (0, 0), (0, 0), "ceil", "valid"),
    ((1, 2, 10, 7), (3, 2), (2, 3), (1, 2), (0, 0), (0, 0), "floor", "same_upper"),
    ((1, 2, 10, 7), (3, 2), (2, 3), (1, 2), (0, 0), (0, 0), "ceil", "same_lower"),
    ((2, 3, 11), (3,), (2,), (2,), (1,), (2,), "ceil", "explicit"),
    ((1, 2, 5, 6, 7), (2, 3, 2), (2, 1, 2), (1, 1, 2), (0, 1, 1), (1, 1, 0), "floor", "explicit"),
    ((1, 2, 5, 6, 7), (2, 2, 3), (2, 2, 2), (1, 1, 1), (0, 0, 0), (0, 0, 0), "ceil_torch", "same_upper"),
]


@pytest.mark.parametrize("reference", [True, False], ids=["reference", "cpu"])
@pytest.mark.parametrize("axis", [0, 2, -1])
@pytest.mark.parametrize("shape,kernel,strides,dilations,pb,pe,rounding,auto_pad", POOL_CASES)
def test_max_pool_values_and_indices_match_openvino(shape, kernel, strides, dilations, pb, pe, rounding, auto_pad,
                                                    axis, reference):
    index_type = "i64" if reference else "i32"  # the CPU plugin has no i64 outputs
    a = _attrs(kernel, strides, pb, pe, rounding, auto_pad, dilations=list(dilations), axis=axis,
               index_element_type=index_type)
    opset = 14 if rounding == "ceil_torch" else 8
    ours, theirs = _max_pool_both(_data(*shape), a, opset=opset, reference=reference)
    assert_close(ours[0], theirs[0])
    assert ours[1].dtype == theirs[1].dtype
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_max_pool_1_has_one_output_and_matches_max_pool_8():
    x = _data(1, 3, 7, 7)
    a = _attrs((3, 3), (2, 2), (1, 1), (1, 1), "ceil")
    ours = lpir_op("MaxPool", [x], a, opset=1)
    assert len(ours) == 1
    theirs = openvino_op(lambda d: ov13.max_pool(d, a["strides"], [1, 1], a["pads_begin"], a["pads_end"], a["kernel"],
                                                 "ceil", "explicit", "i32"), [x])
    assert_close(ours[0], theirs[0])


def test_max_pool_keeps_integers_exact():
    x = np.random.default_rng(1).integers(-100, 100, size=(1, 2, 6, 6)).astype(np.int32)
    a = _attrs((2, 2), (2, 2), (1, 1), (0, 0), dilations=[1, 1], axis=0, index_element_type="i64")
    ours, theirs = _max_pool_both(x, a, opset=8, reference=True)
    assert ours[0].dtype == np.int32
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("exclude_pad", [True, False])
@pytest.mark.parametrize("shape,kernel,strides,dilations,pb,pe,rounding,auto_pad", POOL_CASES)
def test_avg_pool_matches_openvino(shape, kernel, strides, dilations, pb, pe, rounding, auto_pad, exclude_pad):
    a = _attrs(kernel, strides, pb, pe, rounding, auto_pad, **{"exclude-pad": exclude_pad})
    x = _data(*shape)
    opset = 14 if rounding == "ceil_torch" else 1
    try:
        theirs = openvino_op(lambda d: ov14.avg_pool(d, a["strides"], pb, pe, a["kernel"], exclude_pad, rounding,
                                                     auto_pad), [x])[0]
    except RuntimeError:  # OpenVINO rejects windows lying wholly in the padding: so must lpir
        with pytest.raises(ValidationError, match="entirely in the padding"):
            lpir_op("AvgPool", [x], a, opset=opset)
        return
    ours = lpir_op("AvgPool", [x], a, opset=opset)[0]
    assert_close(ours, theirs)


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
def test_max_pool_keeps_narrow_floats(dtype):
    """Narrow floats pad with their own lowest value; the result equals the f32 pool of the same values."""
    import ml_dtypes

    dtype = np.dtype(getattr(ml_dtypes, dtype) if isinstance(dtype, str) else dtype)
    x = _data(1, 2, 5, 5).astype(dtype)
    a = _attrs((3, 3), (2, 2), (1, 1), (1, 1), "ceil", dilations=[1, 1], axis=0, index_element_type="i64")
    ours = lpir_op("MaxPool", [x], a, opset=8)
    theirs = _max_pool_both(x.astype(np.float32), a, opset=8, reference=True)[1]
    assert ours[0].dtype == dtype
    np.testing.assert_array_equal(ours[0].astype(np.float32), theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_avg_pool_f16_stays_f16():
    x = _data(1, 2, 6, 6).astype(np.float16)
    a = _attrs((3, 3), (1, 1), (1, 1), (1, 1), **{"exclude-pad": True})
    ours = lpir_op("AvgPool", [x], a)[0]
    theirs = openvino_op(lambda d: ov14.avg_pool(d, [1, 1], [1, 1], [1, 1], [3, 3], True), [x.astype(np.float32)])[0]
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours.astype(np.float32), theirs, rtol=2e-3, atol=2e-3)


@st.composite
def pool_geometries(draw):
    rank = draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    strides = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    pb = [draw(st.integers(0, k - 1)) for k in kernel]
    pe = [draw(st.integers(0, k - 1)) for k in kernel]
    dilations = draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank))
    sizes = [draw(st.integers(d * (k - 1) + 1, 7)) for k, d in zip(kernel, dilations)]
    rounding = draw(st.sampled_from(["floor", "ceil", "ceil_torch"]))
    auto_pad = draw(st.sampled_from(["explicit", "valid", "same_upper", "same_lower"]))
    return kernel, strides, dilations, pb, pe, sizes, rounding, auto_pad


def _has_window_without_data(sizes, kernel, strides, pb, pe, rounding, auto_pad) -> bool:
    """True when ceil rounding may add a window that starts past the data, in the end padding or
    beyond it (with same_* padding that can happen only when a stride exceeds the kernel: size 2,
    kernel 1, stride 3 gives a second, empty window)."""
    if rounding == "floor":
        return False
    if auto_pad.startswith("same"):
        return any(s > k for s, k in zip(strides, kernel))
    if auto_pad == "valid":
        pb = pe = [0] * len(sizes)
    for size, k, s, b, e in zip(sizes, kernel, strides, pb, pe):
        count = -(-(size + b + e - k) // s) + 1
        if (count - 1) * s >= size + b:
            return True
    return False


@settings(max_examples=40, deadline=None)
@given(pool_geometries(), st.booleans(), st.integers(0, 2**31 - 1))
@example(([1], [3], [1], [0], [0], [2], "ceil", "same_upper"), False, 0)  # an empty same_upper window
@example(([1, 3, 1], [1, 3, 1], [1, 1, 1], [0, 2, 0], [0, 2, 0], [1, 3, 1], "ceil", "explicit"), True, 0)  # a window in the end padding
def test_random_pools_match_openvino(geometry, exclude_pad, seed):
    kernel, strides, dilations, pb, pe, sizes, rounding, auto_pad = geometry
    x = _data(2, 2, *sizes, seed=seed)
    a = _attrs(kernel, strides, pb, pe, rounding, auto_pad, dilations=dilations, axis=0, index_element_type="i32")
    ours, theirs = _max_pool_both(x, a, opset=14, reference=False)
    assert_close(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    if _has_window_without_data(x.shape[2:], kernel, strides, pb, pe, rounding, auto_pad):
        return  # OpenVINO's CPU plugin gives 0 or NaN for such windows depending on the geometry
    avg = {k: v for k, v in a.items() if k not in ("dilations", "axis", "index_element_type")}
    avg["exclude-pad"] = exclude_pad
    try:
        expected = openvino_op(lambda d: ov14.avg_pool(d, strides, pb, pe, kernel, exclude_pad, rounding, auto_pad),
                               [x])[0]
    except RuntimeError:
        return
    assert_close(lpir_op("AvgPool", [x], avg, opset=14)[0], expected)


# ------------------------------------------------------------------ adaptive pools

@pytest.mark.parametrize("shape,out", [
    ((2, 3, 9, 8), (3, 3)), ((2, 3, 9, 8), (4, 5)), ((2, 3, 9, 8), (9, 8)), ((2, 3, 9, 8), (1, 1)),
    ((1, 2, 5, 7), (7, 10)), ((2, 3, 10), (4,)), ((1, 2, 5, 6, 7), (2, 3, 4)),
])
def test_adaptive_pools_match_openvino(shape, out):
    x = _data(*shape)
    out = np.array(out, np.int64)
    ours = lpir_op("AdaptiveAvgPool", [x, out], opset=8, constant_inputs=[1])[0]
    theirs = openvino_op(ov13.adaptive_avg_pool, [x, out], constant_inputs=[1])[0]
    assert_close(ours, theirs)
    ours = lpir_op("AdaptiveMaxPool", [x, out], {"index_element_type": "i32"}, opset=8, constant_inputs=[1])
    theirs = openvino_op(lambda d, o: ov13.adaptive_max_pool(d, o, "i32"), [x, out], constant_inputs=[1])
    assert_close(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_adaptive_max_pool_ties_pick_the_first_in_row_major_order():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 3] = x[0, 0, 2, 0] = 5.0
    _, index = lpir_op("AdaptiveMaxPool", [x, np.array([1, 1], np.int64)], opset=8, constant_inputs=[1])
    assert index.ravel().tolist() == [7]


# ------------------------------------------------------------------ inference and errors

def _node(op_type, shape, attrs, opset, extra=()):
    data = make_parameter(types.f32, shape)
    return build(op_type, [data.outputs[0], *extra], attrs, opset=opset)


def test_dynamic_dims_are_inferred():
    node = _node("MaxPool", (DYNAMIC, 3, DYNAMIC, 9), _attrs((3, 3), (2, 2), (1, 1), (1, 1)), 8)
    assert node.outputs[0].shape == (DYNAMIC, 3, DYNAMIC, 5)
    assert node.outputs[1].etype == types.i64
    node = _node("AvgPool", (2, 3, 9, 9), _attrs((3, 3), (2, 2), (0, 0), (0, 0), "ceil_torch", "same_upper",
                                                  **{"exclude-pad": False}), 14)
    assert node.outputs[0].shape == (2, 3, 5, 5)
    target = make_parameter(types.i64, (2,))
    node = _node("AdaptiveMaxPool", (DYNAMIC, 3, 9, 9), {}, 8, extra=[target.outputs[0]])
    assert node.outputs[0].shape == (DYNAMIC, 3, DYNAMIC, DYNAMIC)


@pytest.mark.parametrize("op_type,opset,shape,attrs,fragment", [
    ("MaxPool", 8, (3, 9), _attrs((3,), (1,), (0,), (0,)), "rank 3, 4 or 5"),
    ("MaxPool", 8, (1, 3, 9, 9), _attrs((3,), (1, 1), (0, 0), (0, 0)), "kernel"),
    ("MaxPool", 8, (1, 3, 9, 9), _attrs((3, 3), (1, 1), (0, 0), (0, 0), dilations=[1, 0]), "dilations"),
    ("MaxPool", 8, (1, 3, 9, 9), _attrs((3, 3), (1, 1), (0, 0), (0, 0), index_element_type="f32"),
     "index_element_type"),
    ("MaxPool", 8, (1, 3, 9, 9), _attrs((3, 3), (1, 1), (0, 0), (0, 0), axis=4), "axis"),
    ("MaxPool", 8, (1, 3, 9, 9), _attrs((3, 3), (1, 1), (0, 0), (0, 0), "ceil_torch"), "rounding_type"),
    ("MaxPool", 14, (1, 3, 2, 9), _attrs((4, 3), (1, 1), (0, 0), (0, 0)), "larger than the padded"),
    ("AvgPool", 1, (1, 3, 9, 9), _attrs((2, 2), (1, 1), (2, 0), (0, 0), **{"exclude-pad": True}),
     "entirely in the padding"),
])
def test_invalid_pools_raise_validation_error(op_type, opset, shape, attrs, fragment):
    if op_type == "AvgPool":
        attrs.setdefault("exclude-pad", False)
    with pytest.raises(ValidationError, match=fragment) as info:
        _node(op_type, shape, attrs, opset)
    assert op_type in str(info.value)


def test_adaptive_output_shape_must_match_spatial_rank():
    with pytest.raises(ValidationError, match="output_shape"):
        _node("AdaptiveAvgPool", (1, 3, 9, 9), {}, 8, extra=[make_constant(np.array([2, 2, 2], np.int64)).outputs[0]])
