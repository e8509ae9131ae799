"""Interpolate-1/4/11 against OpenVINO's reference evaluation (Interpolate-4/11) and its CPU
plugin (Interpolate-1, which has no Python-visible reference).

Nearest-neighbour results must be bit-identical (they are gathers); weighted modes are compared
with tolerance 1e-5 against the reference (float32 sums in another order) and 1e-4 against the
CPU plugin.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset1, opset10, opset11
from oracle import lpir_op, openvino_op

from lpir.errors import ValidationError

TRANSFORMS = ["half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"]


def _image(shape=(1, 2, 5, 7), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-50, 50, size=shape).astype(dtype)
    return rng.uniform(-3, 3, size=shape).astype(dtype)


def _run11(x, target, axes, attrs, reference=True):
    """lpir's and OpenVINO's Interpolate-11 on the same inputs (target and axes constant)."""
    inputs = [x, target] + ([axes] if axes is not None else [])
    ours = lpir_op("Interpolate", inputs, attrs, opset=11, constant_inputs=[1, 2])[0]
    ov_attrs = {k: v for k, v in attrs.items() if k not in ("mode", "shape_calculation_mode")}

    def factory(a, b, *rest):
        return opset11.interpolate(a, b, attrs["mode"], attrs["shape_calculation_mode"], axes=rest[0] if rest else None,
                                   **ov_attrs)
    theirs = openvino_op(factory, inputs, reference=reference, constant_inputs=[1, 2])[0]
    return ours, theirs


def _run4(x, sizes, scales, axes, attrs):
    inputs = [x, sizes, scales] + ([axes] if axes is not None else [])
    ours = lpir_op("Interpolate", inputs, attrs, opset=4, constant_inputs=[1, 2, 3])[0]
    ov_attrs = {k: v for k, v in attrs.items() if k not in ("mode", "shape_calculation_mode")}

    def factory(a, b, c, *rest):
        return opset10.interpolate(a, b, c, attrs["mode"], attrs["shape_calculation_mode"],
                                   axes=rest[0] if rest else None, **ov_attrs)
    theirs = openvino_op(factory, inputs, reference=True)[0]
    return ours, theirs


SCALES = [(2.0, 2.0), (0.5, 0.75), (1.5, 0.6), (3.0, 1.0), (0.4, 2.5)]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("nearest_mode", NEAREST_MODES)
@pytest.mark.parametrize("scales", SCALES)
def test_nearest_is_bit_identical_to_reference(transform, nearest_mode, scales):
    attrs = {"mode": "nearest", "shape_calculation_mode": "scales",
             "coordinate_transformation_mode": transform, "nearest_mode": nearest_mode}
    ours, theirs = _run11(_image(), np.array(scales, np.float32), np.array([2, 3], np.int64), attrs)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("sizes", [(10, 14), (3, 4), (8, 7), (1, 1), (5, 20)])
def test_linear_onnx_matches_reference(transform, sizes):
    attrs = {"mode": "linear_onnx", "shape_calculation_mode": "sizes", "coordinate_transformation_mode": transform}
    ours, theirs = _run11(_image(), np.array(sizes, np.int64), np.array([2, 3], np.int64), attrs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transform", ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"])
@pytest.mark.parametrize("scales", [(2.0, 2.0), (0.5, 0.75), (1.5, 0.6)])
@pytest.mark.parametrize("cube_coeff", [-0.75, -0.5])
def test_cubic_matches_reference(transform, scales, cube_coeff):
    attrs = {"mode": "cubic", "shape_calculation_mode": "scales", "coordinate_transformation_mode": transform,
             "cube_coeff": cube_coeff}
    ours, theirs = _run11(_image(), np.array(scales, np.float32), np.array([2, 3], np.int64), attrs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transform", ["half_pixel", "asymmetric", "align_corners"])
@pytest.mark.parametrize("scales", [(2.0, 2.0), (0.5, 0.75), (1.5, 0.6)])
@pytest.mark.parametrize("antialias", [False, True])
def test_linear_matches_reference(transform, scales, antialias):
    attrs = {"mode": "linear", "shape_calculation_mode": "scales", "coordinate_transformation_mode": transform,
             "antialias": antialias}
    ours, theirs = _run11(_image(), np.array(scales, np.float32), np.array([2, 3], np.int64), attrs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear_pillow", "bicubic_pillow"])
@pytest.mark.parametrize("sizes", [(10, 14), (3, 4), (8, 7), (2, 20), (5, 7)])
@pytest.mark.parametrize("axes", [[2, 3], [1, 3]])  # OpenVINO's reference misreads descending axes
def test_pillow_modes_match_reference(mode, sizes, axes):
    attrs = {"mode": mode, "shape_calculation_mode": "sizes", "cube_coeff": -0.5}
    ours, theirs = _run11(_image(), np.array(sizes, np.int64), np.array(axes, np.int64), attrs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear_pillow", "bicubic_pillow", "linear", "linear_onnx", "cubic"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])  # the reference has no i32 Interpolate
def test_weighted_modes_round_integers_as_reference(mode, dtype):
    attrs = {"mode": mode, "shape_calculation_mode": "sizes", "coordinate_transformation_mode": "asymmetric"}
    info = np.iinfo(dtype)
    x = np.random.default_rng(5).integers(info.min, info.max + 1, size=(1, 1, 5, 6)).astype(dtype)
    ours, theirs = _run11(x, np.array([9, 4], np.int64), np.array([2, 3], np.int64), attrs)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("mode", ["nearest", "linear_onnx", "cubic", "bilinear_pillow"])
@pytest.mark.parametrize("pads", [([0, 0, 1, 2], [0, 0, 2, 0]), ([0, 1, 0, 0], [0, 1, 1, 1])])
def test_pads_are_zeros_around_the_input(mode, pads):
    attrs = {"mode": mode, "shape_calculation_mode": "scales", "pads_begin": pads[0], "pads_end": pads[1],
             "coordinate_transformation_mode": "asymmetric"}
    ours, theirs = _run11(_image(), np.array([1.5, 1.5], np.float32), np.array([2, 3], np.int64), attrs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "cubic"])
@pytest.mark.parametrize("axes", [None, [1], [3, 1], [0, 1, 2, 3]])
def test_axes_input(mode, axes):
    x = _image((2, 3, 4, 5))
    n = 4 if axes is None else len(axes)
    scales = np.array([1.0, 2.0, 0.5, 1.5][:n], np.float32)
    attrs = {"mode": mode, "shape_calculation_mode": "scales", "coordinate_transformation_mode": "half_pixel"}
    ours, theirs = _run11(x, scales, None if axes is None else np.array(axes, np.int64), attrs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode,scales", [("nearest", (2.0, 2.0)), ("linear_onnx", (1.5, 0.5)), ("cubic", (2.0, 0.6))])
@pytest.mark.parametrize("calc", ["sizes", "scales"])
def test_interpolate4_uses_the_input_the_attribute_names(mode, scales, calc):
    x = _image()
    sizes = np.array([int(5 * scales[0]), int(7 * scales[1])], np.int64)
    attrs = {"mode": mode, "shape_calculation_mode": calc, "coordinate_transformation_mode": "pytorch_half_pixel"}
    ours, theirs = _run4(x, sizes, np.array(scales, np.float32), np.array([2, 3], np.int64), attrs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.uint8, np.int8])
def test_nearest_keeps_type_and_values(dtype):
    attrs = {"mode": "nearest", "shape_calculation_mode": "scales", "coordinate_transformation_mode": "asymmetric",
             "nearest_mode": "floor"}
    x = _image(dtype=dtype) if dtype != np.uint8 else _image(dtype=np.int32).astype(np.uint8)
    ours, theirs = _run11(x, np.array([2.0, 2.0], np.float32), np.array([2, 3], np.int64), attrs, reference=False)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, theirs)


def test_linear_onnx_f16_stays_f16():
    attrs = {"mode": "linear_onnx", "shape_calculation_mode": "scales"}
    ours, theirs = _run11(_image(dtype=np.float16), np.array([2.0, 1.5], np.float32), np.array([2, 3], np.int64),
                          attrs, reference=False)
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_ppocr_det_upsampling():
    """The Interpolate-11 PP-OCRv4 det contains: nearest, scales [1, 1, 2, 2], asymmetric, floor."""
    attrs = {"mode": "nearest", "shape_calculation_mode": "scales", "coordinate_transformation_mode": "asymmetric",
             "nearest_mode": "floor", "antialias": False, "pads_begin": [0, 0, 0, 0], "pads_end": [0, 0, 0, 0],
             "cube_coeff": -0.75}
    x = _image((1, 24, 10, 12))
    ours, theirs = _run11(x, np.array([1, 1, 2, 2], np.float32), None, attrs, reference=False)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours, x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("axes,sizes", [([2, 3], [9, 4]), ([3], [11]), ([1, 2], [4, 3])])
def test_interpolate1_matches_cpu(mode, align_corners, axes, sizes):
    x = _image()
    attrs = {"axes": axes, "mode": mode, "align_corners": align_corners, "antialias": False,
             "pads_begin": [0, 0, 0, 0], "pads_end": [0, 0, 0, 0]}
    target = np.array(sizes, np.int64)
    ours = lpir_op("Interpolate", [x, target], attrs, opset=1, constant_inputs=[1])[0]
    theirs = openvino_op(lambda a, b: opset1.interpolate(a, b, attrs), [x, target], constant_inputs=[1])[0]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=2, max_size=2), st.lists(st.integers(1, 12), min_size=2, max_size=2),
       st.sampled_from(["nearest", "linear_onnx"]), st.sampled_from(TRANSFORMS), st.sampled_from(NEAREST_MODES))
def test_random_resizes_match_reference(in_hw, out_hw, mode, transform, nearest_mode):
    attrs = {"mode": mode, "shape_calculation_mode": "sizes", "coordinate_transformation_mode": transform,
             "nearest_mode": nearest_mode}
    x = _image((1, 2, *in_hw), seed=sum(in_hw))
    ours, theirs = _run11(x, np.array(out_hw, np.int64), np.array([2, 3], np.int64), attrs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_unknown_sizes_give_dynamic_dims():
    x = _image()
    attrs = {"mode": "nearest", "shape_calculation_mode": "sizes"}
    out = lpir_op("Interpolate", [x, np.array([10, 3], np.int64), np.array([2, 3], np.int64)], attrs, opset=11,
                  constant_inputs=[2])[0]
    assert out.shape == (1, 2, 10, 3)


@pytest.mark.parametrize("attrs,target,axes,error,message", [
    ({"mode": "bogus", "shape_calculation_mode": "sizes"}, [4, 4], [2, 3], ValidationError, "mode"),
    ({"mode": "nearest", "shape_calculation_mode": "sizes", "nearest_mode": "up"}, [4, 4], [2, 3], ValidationError,
     "nearest_mode"),
    ({"mode": "linear", "shape_calculation_mode": "sizes", "coordinate_transformation_mode": "corner"}, [4, 4],
     [2, 3], ValidationError, "coordinate_transformation_mode"),
    ({"mode": "nearest", "shape_calculation_mode": "sizes"}, [4, 4, 4], [2, 3], ValidationError, "3 values"),
    ({"mode": "nearest", "shape_calculation_mode": "sizes"}, [4, 4], [2, 4], ValidationError, "out of range"),
    ({"mode": "nearest", "shape_calculation_mode": "sizes"}, [4.0, 4.0], [2, 3], ValidationError, "integer sizes"),
    ({"mode": "nearest", "shape_calculation_mode": "size"}, [4, 4], [2, 3], ValidationError,
     "shape_calculation_mode"),
    ({"mode": "nearest", "shape_calculation_mode": "sizes", "pads_begin": [0, -1]}, [4, 4], [2, 3],
     ValidationError, "pads_begin"),
    ({"mode": "bicubic_pillow", "shape_calculation_mode": "sizes"}, [4, 4, 4], [1, 2, 3], ValidationError,
     "exactly two axes"),
])
def test_invalid_interpolate_is_rejected(attrs, target, axes, error, message):
    target = np.array(target, np.float32 if isinstance(target[0], float) else np.int64)
    with pytest.raises(error, match=message):
        lpir_op("Interpolate", [_image(), target, np.array(axes, np.int64)], attrs, opset=11, constant_inputs=[1, 2])


def test_dynamic_dims_survive_scale_one():
    """PP-OCRv4 det's Interpolate sees ``[?, 24, 1.., 1..]`` with scales ``[1, 1, 2, 2]``."""
    from lpir.ir import Dim, make_constant, make_parameter, types
    from lpir.ops import build

    x = make_parameter(types.f32, (Dim(), 24, Dim(1), Dim(1)))
    scales = make_constant(np.array([1, 1, 2, 2], np.float32))
    attrs = {"mode": "nearest", "shape_calculation_mode": "scales", "coordinate_transformation_mode": "asymmetric",
             "nearest_mode": "floor"}
    node = build("Interpolate", [x.outputs[0], scales.outputs[0]], attrs, opset=11)
    shape = node.outputs[0].shape
    assert shape[:2] == (Dim(), 24) and not isinstance(shape[2], int) and not isinstance(shape[3], int)
