"""Convolution family against OpenVINO's CPU plugin (f32 hint), plus shape inference and errors.

Tolerance: the largest absolute difference must stay within 1e-5 of the output's range
(max |expected|), since lpir and OpenVINO sum the products in different orders.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13 as ov_ops
from openvino import opset15

from lpir.errors import ValidationError
from lpir.ir import make_constant, make_parameter, types
from lpir.ir.shape import DYNAMIC
from lpir.ops import build, lookup
from oracle import lpir_op, openvino_op

RTOL = 1e-5


def assert_close(ours: np.ndarray, theirs: np.ndarray, rtol: float = RTOL) -> None:
    assert ours.shape == theirs.shape
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    assert float(np.abs(ours.astype(np.float64) - theirs).max(initial=0)) <= rtol * scale


def _attrs(strides, dilations, pads_begin, pads_end, auto_pad="explicit", **extra) -> dict:
    return {"strides": list(strides), "dilations": list(dilations), "pads_begin": list(pads_begin),
            "pads_end": list(pads_end), "auto_pad": auto_pad, **extra}


def _openvino_factory(op_type: str, a: dict):
    """The OpenVINO node builder for ``op_type`` with lpir's attribute dict ``a``."""
    common = (a["strides"],)
    geometry = (a["pads_begin"], a["pads_end"], a["dilations"], a["auto_pad"])
    if op_type == "Convolution":
        return lambda x, w: ov_ops.convolution(x, w, *common, *geometry)
    if op_type == "GroupConvolution":
        return lambda x, w: ov_ops.group_convolution(x, w, *common, *geometry)
    make = (ov_ops.convolution_backprop_data if op_type == "ConvolutionBackpropData"
            else ov_ops.group_convolution_backprop_data)
    pad = a.get("output_padding") or None
    return lambda x, w, shape=None: make(x, w, *common, shape, a["pads_begin"], a["pads_end"], a["dilations"],
                                         a["auto_pad"], pad)


def run_both(op_type: str, x: np.ndarray, w: np.ndarray, attrs: dict, output_shape=None):
    inputs = [x, w] + ([np.asarray(output_shape, np.int64)] if output_shape is not None else [])
    constants = [1, 2] if output_shape is not None else [1]
    ours = lpir_op(op_type, inputs, attrs, constant_inputs=constants)[0]
    theirs = openvino_op(_openvino_factory(op_type, attrs), inputs, constant_inputs=constants)[0]
    return ours, theirs


def _data(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(dtype)


# (data shape, filters shape, strides, dilations, pads_begin, pads_end, auto_pad)
CONV_CASES = [
    ((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), "explicit"),
    ((2, 3, 9, 7), (5, 3, 3, 2), (2, 1), (1, 2), (0, 1), (2, 0), "explicit"),
    ((1, 4, 10, 10), (6, 4, 1, 1), (1, 1), (1, 1), (0, 0), (0, 0), "explicit"),
    ((1, 4, 10, 9), (6, 4, 1, 1), (2, 3), (1, 1), (0, 0), (0, 0), "explicit"),
    ((1, 4, 10, 9), (6, 4, 1, 1), (1, 1), (1, 1), (1, 0), (0, 1), "explicit"),
    ((1, 3, 11, 8), (2, 3, 3, 3), (2, 2), (1, 1), (0, 0), (0, 0), "valid"),
    ((1, 3, 11, 8), (2, 3, 4, 3), (2, 3), (1, 2), (0, 0), (0, 0), "same_upper"),
    ((1, 3, 11, 8), (2, 3, 4, 3), (2, 3), (1, 2), (0, 0), (0, 0), "same_lower"),
    ((1, 3, 12, 12), (4, 3, 3, 3), (1, 1), (3, 3), (3, 3), (3, 3), "explicit"),
    ((2, 3, 17), (4, 3, 5), (2,), (2,), (1,), (3,), "explicit"),
    ((1, 2, 5, 6, 7), (3, 2, 3, 2, 3), (1, 2, 1), (1, 1, 2), (1, 0, 1), (1, 1, 0), "explicit"),
    ((1, 2, 5, 6, 7), (3, 2, 2, 2, 2), (2, 2, 2), (1, 1, 1), (0, 0, 0), (0, 0, 0), "same_upper"),
    # 16 or more input channels: one matrix product per kernel tap instead of im2col
    ((2, 16, 9, 7), (5, 16, 3, 2), (2, 1), (1, 2), (0, 1), (2, 0), "explicit"),
    ((1, 24, 12, 12), (8, 24, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), "explicit"),
    ((1, 20, 11, 8), (6, 20, 4, 3), (2, 3), (1, 2), (0, 0), (0, 0), "same_upper"),
    ((2, 16, 17), (4, 16, 5), (2,), (2,), (1,), (3,), "explicit"),
    ((1, 16, 5, 6, 7), (3, 16, 3, 2, 3), (1, 2, 1), (1, 1, 2), (1, 0, 1), (1, 1, 0), "explicit"),
]


@pytest.mark.parametrize("shape,wshape,strides,dilations,pb,pe,auto_pad", CONV_CASES)
def test_convolution_matches_openvino(shape, wshape, strides, dilations, pb, pe, auto_pad):
    attrs = _attrs(strides, dilations, pb, pe, auto_pad)
    ours, theirs = run_both("Convolution", _data(*shape), _data(*wshape, seed=1), attrs)
    assert ours.dtype == np.float32
    assert_close(ours, theirs)


# (data shape, filters shape [G, OC/G, IC/G, k...], strides, dilations, pads_begin, pads_end, auto_pad)
GROUP_CASES = [
    ((1, 6, 8, 8), (2, 3, 3, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), "explicit"),
    ((2, 8, 9, 7), (4, 1, 2, 3, 2), (2, 1), (2, 1), (1, 0), (0, 2), "explicit"),
    ((1, 8, 9, 9), (8, 1, 1, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), "explicit"),      # depthwise
    ((1, 8, 12, 11), (8, 1, 1, 3, 3), (2, 2), (1, 1), (1, 1), (1, 1), "explicit"),    # depthwise, stride 2
    ((1, 8, 12, 11), (8, 1, 1, 5, 5), (2, 1), (1, 2), (0, 0), (0, 0), "same_upper"),  # depthwise, dilated
    ((2, 6, 13, 10), (6, 1, 1, 4, 3), (3, 2), (2, 1), (0, 0), (0, 0), "same_lower"),
    ((1, 4, 9, 9), (4, 3, 1, 3, 3), (1, 2), (1, 1), (2, 0), (0, 1), "explicit"),      # channel multiplier 3
    ((2, 64, 5, 6), (64, 1, 1, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), "explicit"),    # many channels, small image
    ((1, 96, 7, 7), (96, 1, 1, 5, 5), (2, 2), (1, 1), (2, 2), (2, 2), "explicit"),
    ((1, 80, 6, 5), (80, 1, 1, 3, 3), (1, 2), (2, 1), (0, 0), (0, 0), "same_lower"),
    ((1, 4, 9, 9), (4, 2, 1, 3, 3), (1, 1), (1, 1), (0, 2), (2, 0), "explicit"),
    ((1, 6, 8, 8), (3, 2, 2, 1, 1), (1, 1), (1, 1), (0, 0), (0, 0), "valid"),
    ((2, 6, 15), (6, 1, 1, 3), (2,), (1,), (1,), (1,), "explicit"),
    ((1, 4, 5, 6, 7), (4, 1, 1, 3, 3, 3), (1, 2, 1), (1, 1, 2), (1, 1, 1), (1, 0, 1), "explicit"),
    ((1, 4, 5, 6, 7), (2, 3, 2, 2, 2, 2), (2, 1, 2), (1, 1, 1), (0, 0, 0), (0, 0, 0), "same_upper"),
    ((2, 64, 8, 9), (2, 8, 32, 3, 3), (2, 1), (1, 1), (1, 1), (0, 1), "explicit"),    # products per tap and group
]


@pytest.mark.parametrize("shape,wshape,strides,dilations,pb,pe,auto_pad", GROUP_CASES)
def test_group_convolution_matches_openvino(shape, wshape, strides, dilations, pb, pe, auto_pad):
    attrs = _attrs(strides, dilations, pb, pe, auto_pad)
    ours, theirs = run_both("GroupConvolution", _data(*shape), _data(*wshape, seed=2), attrs)
    assert_close(ours, theirs)


# (data shape, filters shape, strides, dilations, pads_begin, pads_end, auto_pad, output_padding, output_shape)
BACKPROP_CASES = [
    ((1, 4, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (0, 0), (0, 0), "explicit", None, None),
    ((2, 4, 5, 6), (4, 3, 3, 2), (2, 2), (1, 1), (1, 0), (0, 1), "explicit", (1, 1), None),
    ((1, 3, 4, 5), (3, 2, 3, 3), (3, 2), (2, 1), (1, 2), (2, 0), "explicit", (2, 1), None),
    ((1, 3, 4, 5), (3, 2, 3, 3), (2, 2), (1, 1), (0, 0), (0, 0), "valid", None, None),
    ((1, 3, 4, 5), (3, 2, 3, 3), (2, 2), (1, 1), (0, 0), (0, 0), "same_upper", None, (8, 10)),
    ((1, 3, 4, 5), (3, 2, 4, 3), (2, 2), (1, 1), (0, 0), (0, 0), "same_lower", None, (7, 9)),
    ((1, 3, 4, 5), (3, 2, 3, 3), (2, 3), (1, 1), (0, 0), (0, 0), "same_upper", (1, 2), (9, 16)),
    ((1, 3, 4, 5), (3, 2, 3, 3), (2, 2), (1, 1), (1, 1), (1, 1), "explicit", None, (9, 11)),
    ((2, 3, 7), (3, 4, 3), (2,), (2,), (1,), (0,), "explicit", (1,), None),
    ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2), (2, 1, 2), (1, 2, 1), (0, 1, 0), (1, 0, 0), "explicit", (1, 0, 1), None),
    # strides equal to the kernel: the taps tile the output (upsampling)
    ((2, 4, 5, 6), (4, 3, 2, 2), (2, 2), (1, 1), (0, 0), (0, 0), "explicit", None, None),
    ((1, 3, 4, 5), (3, 2, 2, 3), (2, 3), (1, 1), (1, 0), (0, 1), "explicit", (1, 2), None),
]


@pytest.mark.parametrize("shape,wshape,strides,dilations,pb,pe,auto_pad,out_pad,out_shape", BACKPROP_CASES)
def test_convolution_backprop_data_matches_openvino(shape, wshape, strides, dilations, pb, pe, auto_pad, out_pad,
                                                    out_shape):
    attrs = _attrs(strides, dilations, pb, pe, auto_pad, output_padding=list(out_pad or []))
    ours, theirs = run_both("ConvolutionBackpropData", _data(*shape), _data(*wshape, seed=3), attrs, out_shape)
    assert_close(ours, theirs)


@pytest.mark.parametrize("shape,wshape,strides,dilations,pb,pe,auto_pad,out_pad,out_shape", [
    ((1, 4, 5, 5), (2, 2, 3, 3, 3), (1, 1), (1, 1), (0, 0), (0, 0), "explicit", None, None),
    ((2, 6, 4, 5), (3, 2, 2, 3, 2), (2, 2), (1, 2), (1, 0), (0, 1), "explicit", (1, 1), None),
    ((1, 6, 4, 5), (6, 1, 1, 3, 3), (2, 2), (1, 1), (0, 0), (0, 0), "same_upper", None, (8, 10)),
    ((1, 4, 6), (2, 2, 3, 3), (3,), (1,), (0,), (1,), "explicit", (2,), None),
    ((1, 6, 4, 5), (6, 1, 1, 2, 2), (2, 2), (1, 1), (0, 0), (0, 0), "explicit", None, None),  # depthwise upsampling
])
def test_group_convolution_backprop_data_matches_openvino(shape, wshape, strides, dilations, pb, pe, auto_pad,
                                                          out_pad, out_shape):
    attrs = _attrs(strides, dilations, pb, pe, auto_pad, output_padding=list(out_pad or []))
    ours, theirs = run_both("GroupConvolutionBackpropData", _data(*shape), _data(*wshape, seed=4), attrs, out_shape)
    assert_close(ours, theirs)


@pytest.mark.parametrize("op_type,wshape", [("Convolution", (4, 4, 3, 3)), ("GroupConvolution", (4, 1, 1, 3, 3)),
                                             ("GroupConvolution", (2, 3, 2, 1, 1))])
def test_negative_pads_crop_the_input(op_type, wshape):
    """OpenVINO's CPU plugin rejects negative pads, so the oracle convolves the cropped input."""
    x, w = _data(1, 4, 9, 10), _data(*wshape, seed=7)
    ours = lpir_op(op_type, [x, w], _attrs((1, 2), (1, 1), (-1, 1), (2, -2)))[0]
    cropped = np.ascontiguousarray(x[:, :, 1:, :-2])
    attrs = _attrs((1, 2), (1, 1), (0, 1), (2, 0))
    theirs = openvino_op(_openvino_factory(op_type, attrs), [cropped, w], constant_inputs=[1])[0]
    assert_close(ours, theirs)


@pytest.mark.parametrize("op_type,wshape", [("Convolution", (4, 3, 3, 3)), ("GroupConvolution", (3, 2, 1, 3, 3)),
                                             ("ConvolutionBackpropData", (3, 2, 3, 3))])
def test_integer_convolution_is_exact(op_type, wshape):
    """8-bit values: OpenVINO's f32 result is exact (sums stay far below 2**24); lpir's i32 must equal it."""
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(1, 3, 6, 6)).astype(np.int32)
    w = rng.integers(-128, 128, size=wshape).astype(np.int32)
    attrs = _attrs((2, 1), (1, 1), (1, 1), (1, 1))
    if op_type == "ConvolutionBackpropData":
        attrs["output_padding"] = [1, 0]
    ours = lpir_op(op_type, [x, w], attrs)[0]
    theirs = openvino_op(_openvino_factory(op_type, attrs), [x.astype(np.float32), w.astype(np.float32)],
                         constant_inputs=[1])[0]
    assert ours.dtype == np.int32
    np.testing.assert_array_equal(ours, theirs.astype(np.int32))


@pytest.mark.parametrize("op_type,wshape", [("Convolution", (4, 3, 3, 3)), ("GroupConvolution", (3, 2, 1, 3, 3))])
def test_f16_stays_f16(op_type, wshape):
    x, w = _data(1, 3, 7, 7), _data(*wshape, seed=6)
    attrs = _attrs((1, 1), (1, 1), (1, 1), (1, 1))
    ours = lpir_op(op_type, [x.astype(np.float16), w.astype(np.float16)], attrs)[0]
    theirs = openvino_op(_openvino_factory(op_type, attrs), [x.astype(np.float16).astype(np.float32),
                                                             w.astype(np.float16).astype(np.float32)],
                         constant_inputs=[1])[0]
    assert ours.dtype == np.float16
    assert_close(ours, theirs, rtol=2e-3)


# ------------------------------------------------------------------ random geometries

@st.composite
def geometries(draw, grouped: bool):
    rank = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3)) if grouped else 1
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    strides = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    dilations = draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank))
    pb = draw(st.lists(st.integers(0, 2), min_size=rank, max_size=rank))
    pe = draw(st.lists(st.integers(0, 2), min_size=rank, max_size=rank))
    sizes = [draw(st.integers(d * (k - 1) + 1, 7)) for k, d in zip(kernel, dilations)]
    auto_pad = draw(st.sampled_from(["explicit", "valid", "same_upper", "same_lower"]))
    batch = draw(st.integers(1, 2))
    return rank, groups, cin, cout, kernel, strides, dilations, pb, pe, sizes, auto_pad, batch


@settings(max_examples=40, deadline=None)
@given(geometries(grouped=True), st.integers(0, 2**31 - 1))
def test_random_group_convolutions_match_openvino(geometry, seed):
    _, groups, cin, cout, kernel, strides, dilations, pb, pe, sizes, auto_pad, batch = geometry
    x = _data(batch, groups * cin, *sizes, seed=seed)
    w = _data(groups, cout, cin, *kernel, seed=seed + 1)
    ours, theirs = run_both("GroupConvolution", x, w, _attrs(strides, dilations, pb, pe, auto_pad))
    assert_close(ours, theirs)


@settings(max_examples=30, deadline=None)
@given(geometries(grouped=False), st.integers(0, 2**31 - 1), st.data())
def test_random_backprop_data_matches_openvino(geometry, seed, data):
    _, _, cin, cout, kernel, strides, dilations, pb, pe, sizes, auto_pad, batch = geometry
    auto_pad = "explicit" if auto_pad.startswith("same") else auto_pad
    # output_padding >= stride: OpenVINO's CPU plugin departs from the specification's formula
    out_pad = [data.draw(st.integers(0, s - 1)) for s in strides]
    x = _data(batch, cin, *sizes, seed=seed)
    w = _data(cin, cout, *kernel, seed=seed + 1)
    attrs = _attrs(strides, dilations, pb, pe, auto_pad, output_padding=out_pad)
    full = [s * (i - 1) + d * (k - 1) + 1 for s, i, d, k in zip(strides, sizes, dilations, kernel)]
    if auto_pad == "explicit" and any(f - b - e + p <= 0 for f, b, e, p in zip(full, pb, pe, out_pad)):
        return  # no output: both sides reject it (checked in the error tests)
    ours, theirs = run_both("ConvolutionBackpropData", x, w, attrs)
    assert_close(ours, theirs)


# ------------------------------------------------------------------ shape inference and errors

def _node(op_type, data_shape, w, attrs, extra=()):
    data = make_parameter(types.f32, data_shape)
    return build(op_type, [data.outputs[0], make_constant(w).outputs[0], *extra], attrs, opset=1)


def test_dynamic_batch_and_spatial_dims_are_inferred():
    attrs = _attrs((2, 1), (1, 1), (1, 1), (1, 1))
    node = _node("Convolution", (DYNAMIC, 3, DYNAMIC, 9), _data(4, 3, 3, 3), attrs)
    assert node.outputs[0].shape == (DYNAMIC, 4, DYNAMIC, 9)
    node = _node("GroupConvolution", (DYNAMIC, 6, 8, 8), _data(3, 2, 2, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0),
                                                                                   "same_upper"))
    assert node.outputs[0].shape == (DYNAMIC, 6, 8, 8)
    node = _node("ConvolutionBackpropData", (1, 4, DYNAMIC, 5), _data(4, 2, 3, 3),
                 _attrs((2, 2), (1, 1), (0, 0), (0, 0)))
    assert node.outputs[0].shape == (1, 2, DYNAMIC, 11)


def test_backprop_output_shape_from_an_unknown_value_is_dynamic():
    shape = make_parameter(types.i64, (2,))
    node = _node("ConvolutionBackpropData", (1, 4, 5, 5), _data(4, 2, 3, 3), _attrs((2, 2), (1, 1), (0, 0), (0, 0)),
                 extra=[shape.outputs[0]])
    assert node.outputs[0].shape == (1, 2, DYNAMIC, DYNAMIC)


@pytest.mark.parametrize("op_type,data_shape,wshape,attrs,fragment", [
    ("Convolution", (1, 3, 8, 8), (4, 2, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0)), "3 channels"),
    ("Convolution", (1, 3, 8, 8), (4, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0)), "rank 4"),
    ("Convolution", (3, 8), (4, 3, 3), _attrs((1,), (1,), (0,), (0,)), "rank 3, 4 or 5"),
    ("Convolution", (1, 3, 8, 8), (4, 3, 3, 3), _attrs((1,), (1, 1), (0, 0), (0, 0)), "strides"),
    ("Convolution", (1, 3, 8, 8), (4, 3, 3, 3), _attrs((1, 0), (1, 1), (0, 0), (0, 0)), "positive"),
    ("Convolution", (1, 3, 8, 8), (4, 3, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0), "upper"), "auto_pad"),
    ("Convolution", (1, 3, 2, 8), (4, 3, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0)), "does not fit"),
    ("GroupConvolution", (1, 6, 8, 8), (4, 1, 1, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0)), "6 channels"),
    ("ConvolutionBackpropData", (1, 3, 4, 4), (4, 2, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0)), "3 channels"),
    ("ConvolutionBackpropData", (1, 4, 1, 1), (4, 2, 1, 1), _attrs((1, 1), (1, 1), (1, 0), (0, 0)), "not positive"),
    ("GroupConvolutionBackpropData", (1, 4, 4, 4), (2, 3, 2, 3, 3), _attrs((1, 1), (1, 1), (0, 0), (0, 0)),
     "4 channels"),
])
def test_invalid_inputs_raise_validation_error(op_type, data_shape, wshape, attrs, fragment):
    if op_type.endswith("BackpropData"):
        attrs = {**attrs, "output_padding": []}
    with pytest.raises(ValidationError, match=fragment) as info:
        _node(op_type, data_shape, _data(*wshape), attrs)
    assert op_type in str(info.value)


def test_mixed_element_types_are_rejected():
    data = make_parameter(types.f32, (1, 3, 4, 4))
    weights = make_constant(np.ones((2, 3, 1, 1), np.float16))
    with pytest.raises(ValidationError, match="same element type"):
        build("Convolution", [data.outputs[0], weights.outputs[0]], _attrs((1, 1), (1, 1), (0, 0), (0, 0)))


def test_weight_channel_axes_name_every_output_channel_axis():
    assert lookup("Convolution", 1).weight_channel_axes({}) == (0,)
    assert lookup("GroupConvolution", 1).weight_channel_axes({}) == (0, 1)
    assert lookup("ConvolutionBackpropData", 1).weight_channel_axes({}) == (1,)
    assert lookup("GroupConvolutionBackpropData", 1).weight_channel_axes({}) == (0, 2)
    for op_type in ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData"):
        traits = lookup(op_type, 1).traits
        assert traits.quantizable and traits.weight_inputs == (1,)


@settings(max_examples=30, deadline=None)  # each example compiles a model on the CPU plugin
@given(seed=st.integers(0, 2**32 - 1), channels=st.integers(1, 3), kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       size=st.tuples(st.integers(3, 7), st.integers(3, 7)), strides=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       dilations=st.tuples(st.integers(1, 2), st.integers(1, 2)), pads=st.tuples(*[st.integers(0, 1)] * 4),
       batched=st.booleans())
def test_col2im_matches_openvino(seed, channels, kernel, size, strides, dilations, pads, batched):
    """Overlapping blocks (stride below the dilated kernel) add up; padding is cropped."""
    blocks = [(s + pads[i] + pads[i + 2] - (d * (k - 1) + 1)) // st_ + 1
              for i, (s, k, d, st_) in enumerate(zip(size, kernel, dilations, strides))]
    if min(blocks) < 1:
        return
    rng = np.random.default_rng(seed)
    shape = (channels * kernel[0] * kernel[1], blocks[0] * blocks[1])
    data = rng.standard_normal(((2,) + shape) if batched else shape).astype(np.float32)
    inputs = [data, np.asarray(size, np.int64), np.asarray(kernel, np.int64)]
    attrs = {"strides": list(strides), "dilations": list(dilations), "pads_begin": list(pads[:2]),
             "pads_end": list(pads[2:])}
    expected = openvino_op(lambda d, o, k: opset15.col2im(d, o, k, **attrs), inputs, constant_inputs=(1, 2))[0]
    result = lpir_op("Col2Im", inputs, attrs, opset=15, constant_inputs=(1, 2))[0]
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)
