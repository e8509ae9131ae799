"""DeformableConvolution-1/-8 against OpenVINO's CPU plugin (f32): random geometry, groups,
deformable groups, offsets that reach outside the image, with and without a mask and with both
interpolation paddings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset1, opset8
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError


def _out(size, kernel, stride, dilation, begin, end):
    return (size + begin + end - dilation * (kernel - 1) - 1) // stride + 1


@st.composite
def geometries(draw):
    group, deformable = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    strides = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    dilations = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    begins, ends = draw(st.tuples(st.integers(0, 1), st.integers(0, 1))), draw(st.tuples(st.integers(0, 1), st.integers(0, 1)))
    size = [draw(st.integers(d * (k - 1) + 1, 8)) for k, d in zip(kernel, dilations)]
    out = [_out(*args) for args in zip(size, kernel, strides, dilations, begins, ends)]
    return group, deformable, kernel, list(strides), list(dilations), list(begins), list(ends), size, out


@settings(max_examples=40, deadline=None)  # each example compiles a model on the CPU plugin
@given(geometry=geometries(), with_mask=st.booleans(), pad=st.booleans(), reach=st.sampled_from([0.5, 2.0, 5.0]),
       seed=st.integers(0, 2**32 - 1))
def test_matches_cpu_plugin(geometry, with_mask, pad, reach, seed):
    group, deformable, kernel, strides, dilations, begins, ends, size, out = geometry
    rng = np.random.default_rng(seed)
    channels = 2 * group * deformable
    taps = kernel[0] * kernel[1]
    inputs = [rng.standard_normal([2, channels] + size).astype(np.float32),
              rng.normal(0, reach, [2, deformable * taps * 2] + out).astype(np.float32),
              rng.standard_normal([3 * group, channels // group] + list(kernel)).astype(np.float32)]
    if with_mask:
        inputs.append(rng.uniform(0, 1, [2, deformable * taps] + out).astype(np.float32))

    def factory(*nodes):
        return opset8.deformable_convolution(nodes[0], nodes[1], nodes[2], strides, begins, ends, dilations,
                                             nodes[3] if with_mask else None, group=group,
                                             deformable_group=deformable, bilinear_interpolation_pad=pad)

    expected = openvino_op(factory, inputs)[0]
    attrs = {"strides": strides, "pads_begin": begins, "pads_end": ends, "dilations": dilations, "group": group,
             "deformable_group": deformable, "bilinear_interpolation_pad": pad}
    result = lpir_op("DeformableConvolution", inputs, attrs, opset=8)[0]
    assert result.shape == expected.shape == (2, 3 * group, *out)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4)


def test_opset1_matches_cpu_plugin_with_same_padding():
    rng = np.random.default_rng(4)
    inputs = [rng.standard_normal((1, 4, 6, 5)).astype(np.float32),
              rng.normal(0, 1.5, (1, 2 * 9 * 2, 3, 3)).astype(np.float32),
              rng.standard_normal((5, 4, 3, 3)).astype(np.float32)]
    expected = openvino_op(lambda d, o, f: opset1.deformable_convolution(
        d, o, f, [2, 2], [0, 0], [0, 0], [1, 1], auto_pad="same_upper", deformable_group=2), inputs)[0]
    attrs = {"strides": [2, 2], "pads_begin": [0, 0], "pads_end": [0, 0], "dilations": [1, 1],
             "auto_pad": "same_upper", "deformable_group": 2}
    np.testing.assert_allclose(lpir_op("DeformableConvolution", inputs, attrs, opset=1)[0], expected,
                               rtol=1e-4, atol=1e-4)


def test_offsets_that_do_not_fit_are_refused():
    rng = np.random.default_rng(5)
    data, filters = rng.standard_normal((1, 4, 6, 6)).astype(np.float32), rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    attrs = {"strides": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0], "dilations": [1, 1]}
    with pytest.raises(ValidationError, match="offsets have 12 channels"):
        lpir_op("DeformableConvolution", [data, np.zeros((1, 12, 4, 4), np.float32), filters], attrs, opset=8)
    with pytest.raises(ValidationError, match="does not match the output size"):
        lpir_op("DeformableConvolution", [data, np.zeros((1, 18, 5, 4), np.float32), filters], attrs, opset=8)
