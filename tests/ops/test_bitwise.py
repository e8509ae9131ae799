"""Bitwise ops and the float classifiers (IsNaN, IsInf, IsFinite) against OpenVINO's CPU plugin
(the core reference has kernels for few of their types), exactly: integers of several widths,
booleans, and special floats (signed zeros, infinities, NaN, the largest, the smallest normal f16)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from openvino import opset13, opset15
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError

BINARY = {
    "BitwiseAnd": (13, opset13.bitwise_and),
    "BitwiseOr": (13, opset13.bitwise_or),
    "BitwiseXor": (13, opset13.bitwise_xor),
}
SHIFTS = {
    "BitwiseLeftShift": (15, opset15.bitwise_left_shift),
    "BitwiseRightShift": (15, opset15.bitwise_right_shift),
}
INTEGERS = [np.int8, np.uint8, np.int32, np.int64]
# The CPU plugin computes i64 in i32: i64 values are drawn where both agree.
_I32 = st.integers(-2**31, 2**31 - 1)


def _elements(dtype):
    return _I32 if dtype is np.int64 else None


@settings(max_examples=25, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(BINARY)), dtype=st.sampled_from(INTEGERS + [np.bool_]))
def test_bitwise_binary_matches_openvino(data, name, dtype):
    a = data.draw(hnp.arrays(dtype, (3, 4), elements=_elements(dtype)))
    b = data.draw(hnp.arrays(dtype, (4,), elements=_elements(dtype)))  # broadcast along the rows
    opset, factory = BINARY[name]
    expected = openvino_op(factory, [a, b])[0]
    result = lpir_op(name, [a, b], opset=opset)[0]
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(SHIFTS)), dtype=st.sampled_from(INTEGERS))
def test_shifts_match_openvino(data, name, dtype):
    """Shift amounts below the bit width (beyond it C++ leaves the result undefined); i64 values
    and shifts small enough that the plugin's i32 arithmetic does not overflow."""
    bits = 16 if dtype is np.int64 else np.dtype(dtype).itemsize * 8
    a = data.draw(hnp.arrays(dtype, (2, 5), elements=st.integers(-2**15, 2**15) if dtype is np.int64 else None))
    b = data.draw(hnp.arrays(dtype, (2, 5), elements=st.integers(0, bits - 1)))
    opset, factory = SHIFTS[name]
    expected = openvino_op(factory, [a, b])[0]
    np.testing.assert_array_equal(lpir_op(name, [a, b], opset=opset)[0], expected)


@pytest.mark.parametrize("dtype", INTEGERS + [np.bool_])
def test_bitwise_not_matches_openvino(dtype):
    values = np.arange(-4, 5) if np.dtype(dtype).kind == "i" else np.arange(9)
    x = values.astype(dtype)
    expected = openvino_op(opset13.bitwise_not, [x])[0]
    np.testing.assert_array_equal(lpir_op("BitwiseNot", [x], opset=13)[0], expected)


@pytest.mark.parametrize("name", sorted(BINARY) + sorted(SHIFTS))
def test_bitwise_refuses_floats(name):
    x = np.ones(3, np.float32)
    with pytest.raises(ValidationError, match="takes integers"):
        lpir_op(name, [x, x], opset=15)


SPECIAL = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 3e38, -6e-5], dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name, attrs, factory", [
    ("IsNaN", {}, opset13.is_nan),
    ("IsFinite", {}, opset13.is_finite),
    ("IsInf", {}, lambda x: opset13.is_inf(x)),
    ("IsInf", {"detect_negative": False}, lambda x: opset13.is_inf(x, {"detect_negative": False})),
    ("IsInf", {"detect_positive": False}, lambda x: opset13.is_inf(x, {"detect_positive": False})),
])
def test_classifiers_match_openvino(name, attrs, factory, dtype):
    with np.errstate(over="ignore"):  # 3e38 is inf in f16
        x = SPECIAL.astype(dtype)
    expected = openvino_op(factory, [x])[0]
    result = lpir_op(name, [x], attrs, opset=10)[0]
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result, expected)


def test_subnormals_are_finite():
    """IEEE: a subnormal is finite (OpenVINO's CPU plugin answers IsFinite(-1e-40) = false)."""
    x = np.array([1e-40, -1e-40], dtype=np.float32)
    np.testing.assert_array_equal(lpir_op("IsFinite", [x], opset=10)[0], [True, True])
    np.testing.assert_array_equal(lpir_op("IsInf", [x], opset=10)[0], [False, False])
