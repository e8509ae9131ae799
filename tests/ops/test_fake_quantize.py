"""FakeQuantize: bit-exact against OpenVINO's core reference (node.evaluate).

The CPU plugin is not the oracle here: it clamps and uses FMA with precomputed scales, so it
differs from the reference by a quantum at ties.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError
from lpir.ir import make_node, make_parameter, types
from lpir.ops import infer_node
from lpir.ops.elementwise import PDPD_AXIS


def _lpir(x, il, ih, ol, oh, levels, **attrs):
    arrays = [np.asarray(v, dtype=np.asarray(x).dtype) for v in (x, il, ih, ol, oh)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning may leak (il == ih, NaN, ...)
        return lpir_op("FakeQuantize", arrays, {"levels": levels, **attrs})[0]


def _openvino(x, il, ih, ol, oh, levels):
    arrays = [np.asarray(v, dtype=np.asarray(x).dtype) for v in (x, il, ih, ol, oh)]
    return openvino_op(lambda *a: opset13.fake_quantize(*a, levels), arrays, reference=True)[0]


def _assert_bit_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(f"u{actual.itemsize}"), expected.view(f"u{expected.itemsize}"))


def _iota(shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


_CASE3_LIMITS = ([5, 30], [10, 40], [0, 50], [20, 70])
_CASE3_EXPECTED = [0, 0, 0, 0, 0, 0, 5, 10, 10, 15, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
                   50, 50, 50, 50, 50, 50, 50, 55, 55, 60, 60, 60, 65, 65, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70]

# The op-reference vectors of OpenVINO's own test suite (template plugin, fake_quantize.cpp).
REFERENCE_VECTORS = [
    ("scalar_limits_levels4", [1, 2, 3, 4], [(), [0]], [(), [23]], [(), [2]], [(), [16]], 4, {},
     [2, 2, 2, 2, 6.6666669, 6.6666669, 6.6666669, 6.6666669, 6.6666669, 6.6666669, 6.6666669, 6.6666669,
      11.33333301, 11.33333301, 11.33333301, 11.33333301, 11.33333301, 11.33333301, 11.33333301, 11.33333301,
      16, 16, 16, 16]),
    ("scalar_limits_levels5", [1, 2, 3, 4], [(), [3]], [(), [17]], [(), [2]], [(), [16]], 5, {},
     [2, 2, 2, 2, 2, 5.5, 5.5, 5.5, 5.5, 9, 9, 9, 12.5, 12.5, 12.5, 12.5, 16, 16, 16, 16, 16, 16, 16, 16]),
    *[(name, [1, 2, 5, 5], *[((2, 1, 1), v) for v in _CASE3_LIMITS], 5, attrs, _CASE3_EXPECTED)
      for name, attrs in [("per_channel_numpy", {}),
                          ("per_channel_pdpd_axis1", {"auto_broadcast": "pdpd", PDPD_AXIS: 1}),
                          ("per_channel_pdpd_default_axis", {"auto_broadcast": "pdpd"})]],
    ("mixed_broadcast", [1, 2, 3, 3], ((1, 1, 3, 3), [0] * 9), ((1, 1, 3, 3), [5] * 9),
     ((1, 2, 3, 1), [5] * 6), ((1, 2, 1, 3), [25] * 6), 16, {},
     [5, 9, 13, 17, 21, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25]),
    ("uneven_limit_ranks", [1, 2, 4, 4], ((1, 2, 1, 1), [5, 10]), ((1, 1), [30]), ((2, 1, 1), [0, 20]),
     ((1,), [35]), 5, {},
     [0, 0, 0, 0, 0, 0, 0, 0, 0, 8.75, 8.75, 8.75, 8.75, 8.75, 8.75, 17.5,
      23.75, 23.75, 27.5, 27.5, 27.5, 27.5, 27.5, 31.25, 31.25, 31.25, 31.25, 31.25, 35, 35, 35, 35]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name, shape, il, ih, ol, oh, levels, attrs, expected", REFERENCE_VECTORS,
                         ids=[v[0] for v in REFERENCE_VECTORS])
def test_openvino_reference_vectors(name, shape, il, ih, ol, oh, levels, attrs, expected, dtype):
    """The published numbers are printed to 8 digits (11.33333301 is 1 ulp off the f32 result),
    so they are matched within 1 ulp, and bit-exactly against OpenVINO's evaluation."""
    limits = [np.array(values, dtype=dtype).reshape(limit_shape) for limit_shape, values in (il, ih, ol, oh)]
    x = _iota(shape).astype(dtype)
    result = _lpir(x, *limits, levels, **attrs)
    np.testing.assert_array_max_ulp(result, np.array(expected, dtype=np.float32).astype(dtype).reshape(shape), 1)
    _assert_bit_equal(result, _openvino(x, *limits, levels))  # numpy broadcasting = pdpd here


# (x, il, ih, ol, oh, levels, expected) written from the formula by hand.
EDGE_CASES = {
    "ties_round_half_to_even": ([0.5, 1.5, 2.5], 0, 3, 0, 3, 4, [0, 2, 2]),
    "negative_ties": ([-2.5, -1.5, -0.5, 0.5], -3, 0, -3, 0, 4, [-3, -1, -1, 0]),
    "x_equal_to_low_is_clamped": ([0, 1e-7], 0, 1, 10, 20, 2, [10, 10]),
    "x_equal_to_high_goes_through_formula": ([1], 0, 1, 10, 20, 2, [20]),
    "binarization_il_equal_ih": ([-1, 0.5, 0.51, 3], 0.5, 0.5, -1, 1, 2, [-1, -1, 1, 1]),
    "constant_output_ol_equal_oh": ([-5, 0.3, 0.7, 5], 0, 1, 2, 2, 256, [2, 2, 2, 2]),
    "inverted_range": ([-1, 0, 0.25, 0.5, 0.75, 1, 2], 1, 0, 0, 1, 5, [0, 0, 0.75, 0.5, 0.25, 0, 1]),
    "inverted_output_range": ([0, 0.25, 1], 0, 1, 1, 0, 5, [1, 0.75, 0]),
    "nan_passes_through": ([np.nan, 0.5], 0, 1, 0, 1, 3, [np.nan, 0.5]),
    "infinities_clamp": ([-np.inf, np.inf], -1, 1, -2, 2, 256, [-2, 2]),
    # (3.3 - 1.1) + 1.1 != 3.3 in f32: above ih the reference returns oh itself, not the formula
    "above_high_is_exactly_oh": ([5, 2], 0, 1, 1.1, 3.3, 256, [3.3, 3.3]),
    "infinite_limits_give_nan": ([-5, 0.5, 5], -np.inf, np.inf, 0, 1, 256, [np.nan, np.nan, np.nan]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("case", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_match_formula_and_openvino(case, dtype):
    x, il, ih, ol, oh, levels, expected = case
    x = np.array(x, dtype=dtype)
    result = _lpir(x, il, ih, ol, oh, levels)
    np.testing.assert_array_equal(result, np.array(expected, dtype=dtype))
    _assert_bit_equal(result, _openvino(x, il, ih, ol, oh, levels))


def test_bf16_is_computed_in_f32_and_rounded_once():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.linspace(-1.3, 1.3, 101, dtype=np.float32)
    expected = _lpir(x, -1, 1, -1, 1, 7)  # f32 reference, checked against OpenVINO elsewhere
    result = _lpir(x.astype(ml_dtypes.bfloat16), -1, 1, -1, 1, 7)
    assert result.dtype == ml_dtypes.bfloat16
    # levels=7 on [-1, 1] gives multiples of 1/3: bf16 rounding of the f32 result, done once
    np.testing.assert_array_equal(result, _lpir(x.astype(ml_dtypes.bfloat16).astype(np.float32),
                                                -1, 1, -1, 1, 7).astype(ml_dtypes.bfloat16))
    assert np.abs(result.astype(np.float32) - expected).max() <= 2.0 ** -8


# ---------------------------------------------------------------- property tests vs OpenVINO

_LEVELS = st.one_of(st.integers(2, 256), st.just(65536))


@st.composite
def fq_problems(draw):
    """Data, four limit tensors and levels: per-tensor, per-channel or mixed broadcasting."""
    dtype = draw(st.sampled_from([np.float32, np.float16]))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    levels = draw(_LEVELS)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def limit_shape():
        pattern = draw(st.sampled_from(["tensor", "scalar", "channel", "full", "random"]))
        if pattern == "scalar":
            return ()
        if pattern == "tensor":
            return (1,) * len(shape)
        if pattern == "channel":
            axis = draw(st.integers(0, len(shape) - 1))
            return tuple(d if i == axis else 1 for i, d in enumerate(shape))
        if pattern == "full":
            return shape
        trailing = shape[len(shape) - draw(st.integers(0, len(shape))):]
        return tuple(d if draw(st.booleans()) else 1 for d in trailing)

    low = rng.uniform(-10, 5, limit_shape())
    order = draw(st.sampled_from(["normal", "normal", "normal", "inverted", "equal"]))
    width = rng.uniform(0.1, 20, limit_shape())
    if draw(st.booleans()):
        width = np.full_like(width, float(levels - 1) / draw(st.sampled_from([1, 2, 4, 8])))
    high = low + width if order == "normal" else low - width if order == "inverted" else low + 0 * width
    out_low = rng.uniform(-10, 10, limit_shape())
    out_high = out_low + rng.uniform(-1, 20, limit_shape())
    il, ih = np.broadcast_arrays(low, high)
    x = rng.uniform(-15, 30, shape)
    if draw(st.booleans()):
        # planted ties: x on (k + 0.5) quantization steps of its range
        steps = rng.integers(0, levels - 1, shape) + 0.5
        x = il + steps / (levels - 1) * (ih - il) if il.shape == shape else x
    values = [np.clip(v, -60000, 60000).astype(dtype) for v in (x, low, high, out_low, out_high)]
    return dtype, values, levels


@settings(max_examples=80, deadline=None)
@given(fq_problems())
def test_bit_exact_with_openvino_reference(problem):
    _, (x, il, ih, ol, oh), levels = problem
    result = _lpir(x, il, ih, ol, oh, levels)
    _assert_bit_equal(result, _openvino(x, il, ih, ol, oh, levels))


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 256), st.integers(0, 2**32 - 1))
def test_planted_exact_ties_round_half_to_even(levels, seed):
    """x = il + (k + 0.5) with unit steps: the formula's rint sees exact .5 ties."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, levels - 1, 64)
    il = np.float32(rng.integers(-64, 64))
    x = (il + k + 0.5).astype(np.float32)
    ih = np.float32(il + (levels - 1))
    result = _lpir(x, il, ih, il, ih, levels)
    expected = _openvino(x, il, ih, il, ih, levels)
    _assert_bit_equal(result, expected)
    ratio = (x - il) / (ih - il) * np.float32(levels - 1)
    exact_ties = ratio == k + 0.5
    assert exact_ties.any()
    # the even neighbour, up to the dequantization's rounding (a step is 1.0 here)
    np.testing.assert_allclose(result[exact_ties], il + k[exact_ties] + (k[exact_ties] % 2), rtol=0, atol=1e-3)


# ---------------------------------------------------------------- validation

def _infer(shapes, etypes=None, **attrs):
    etypes = etypes or [types.f32] * 5
    sources = [make_parameter(t, s).outputs[0] for t, s in zip(etypes, shapes)]
    node = make_node("FakeQuantize", sources, {"levels": 256, **attrs}, name="fq")
    infer_node(node)
    return node.outputs[0]


def test_inference_keeps_data_shape_with_dynamic_dims():
    from lpir.ir import DYNAMIC
    out = _infer([(DYNAMIC, 3, 8, 8), (1, 3, 1, 1), (1, 3, 1, 1), (), ()])
    assert out.etype is types.f32 and out.shape == (DYNAMIC, 3, 8, 8)


@pytest.mark.parametrize("shapes, etypes, attrs, message", [
    ([(1, 3)] * 5, None, {"levels": 1}, "levels=1"),
    ([(1, 3), (4,), (), (), ()], None, {}, "do not broadcast"),
    ([(1, 3), (2, 1, 3), (), (), ()], None, {}, "beyond the data shape"),
    ([(1, 3), (1, 2), (), (), ()], None, {"auto_broadcast": "none"}, "equal shapes"),
    ([(1, 3)] * 5, None, {"auto_broadcast": "bidirectional"}, "bidirectional"),
    ([(1, 3)] * 5, [types.i32] * 5, {}, "floating-point"),
    ([(1, 3)] * 5, [types.f32, types.f16, types.f32, types.f32, types.f32], {}, "input 1 is f16"),
])
def test_invalid_inputs_and_attributes_name_the_node(shapes, etypes, attrs, message):
    with pytest.raises(ValidationError, match=message) as info:
        _infer(shapes, etypes, **attrs)
    assert "'fq'" in str(info.value)


def test_scalar_data():
    """0-d data (ONNX Runtime's quantizer writes scalar QuantizeLinear inputs) keeps its shape."""
    f = np.float32
    args = [np.array(v, f) for v in (0.7, 0.0, 1.0, 0.0, 1.0)]
    (out,) = lpir_op("FakeQuantize", args, {"levels": 4})
    expected = openvino_op(lambda *a: opset13.fake_quantize(*a, 4), args, reference=True)[0]
    assert out.shape == () and out == expected
