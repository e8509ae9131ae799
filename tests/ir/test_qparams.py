"""FakeQuantize ranges ↔ ONNX scale and zero point: properties, with ONNX's own QDQ as the oracle."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from lpir.ir import qparams, types
from lpir.ops.quantization import fake_quantize

LEVELS = [256, 255, 16]


def onnx_qdq(x: np.ndarray, form: qparams.QdqForm) -> np.ndarray:
    """QuantizeLinear → DequantizeLinear as ONNX's reference evaluator computes them."""
    def params(side, prefix):
        etype = onnx.TensorProto.INT8 if side.etype.is_signed else onnx.TensorProto.UINT8
        if side.etype.bits == 4:
            etype = onnx.TensorProto.INT4 if side.etype.is_signed else onnx.TensorProto.UINT4
        scale = numpy_helper.from_array(np.asarray(side.scale, np.float32).reshape(()), f"{prefix}_scale")
        zp = helper.make_tensor(f"{prefix}_zp", etype, [], [int(side.zero_point)])
        return [scale, zp]
    inits = params(form.quantize, "q") + params(form.dequantize, "dq")
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "q_scale", "q_zp"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "dq_scale", "dq_zp"], ["y"])],
        "qdq", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(x.shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


@st.composite
def grids(draw):
    """A FakeQuantize range with 0.0 on its grid: (low, high, levels, signed)."""
    levels = draw(st.sampled_from(LEVELS))
    signed = draw(st.booleans())
    etype = qparams.storage_type(levels, signed=signed)
    offset = qparams.storage_offset(etype, levels)
    zero_point = 0 if signed else draw(st.integers(0, levels - 1))
    scale = draw(st.floats(0.0001220703125, 8.0, allow_nan=False, width=32))
    low, high = qparams.scale_to_range(scale, zero_point, offset, offset + levels - 1)
    return np.float32(low), np.float32(high), levels, signed


@given(grids())
def test_a_range_with_zero_on_its_grid_gets_back_its_scale_and_zero_point(grid):
    low, high, levels, signed = grid
    form = qparams.fake_quantize_to_qdq(low, high, low, high, levels)
    # symmetric ranges are stored signed with zero point 0 (an unsigned grid may be symmetric too)
    assert form.etype.is_signed or not signed
    assert not form.etype.is_signed or form.quantize.zero_point == 0
    assert form.etype.bits == (8 if levels > 16 else 4)
    np.testing.assert_allclose(form.quantize.scale, (np.float64(high) - low) / (levels - 1), rtol=1e-6)
    offset = qparams.storage_offset(form.etype, levels)
    # the low end is stored as the offset, the high end L-1 steps above it
    back_low, back_high = qparams.scale_to_range(form.quantize.scale, form.quantize.zero_point,
                                                 offset, offset + levels - 1)
    np.testing.assert_allclose([back_low, back_high], [low, high], rtol=1e-5, atol=1e-6 * abs(high - low))


@settings(max_examples=60)
@given(grids(), st.integers(0, 2**31 - 1))
def test_qdq_equals_fake_quantize_inside_the_range(grid, seed):
    """ONNX's QDQ and OpenVINO's FakeQuantize give the same values, up to one step where float
    rounding puts an input on the other side of a tie; narrow ranges clip one end one step wider."""
    low, high, levels, _ = grid
    form = qparams.fake_quantize_to_qdq(low, high, low, high, levels)
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=256).astype(np.float32)
    expected = fake_quantize(x, low, high, low, high, levels)
    actual = onnx_qdq(x, form)
    step = (np.float64(high) - low) / (levels - 1)
    error = np.abs(actual.astype(np.float64) - expected)
    assert error.max() <= step * 1.001 + 1e-6 * abs(high)
    assert np.mean(error > step / 2) <= 0.02


@given(st.floats(0.015625, 8.0, width=32), st.sampled_from(LEVELS))
def test_symmetric_range_of_even_levels_has_no_integer_zero_point(limit, levels):
    """[-a, a] with an even number of levels puts 0.0 half-way between two points: no QDQ form."""
    if levels % 2:
        form = qparams.fake_quantize_to_qdq(-limit, limit, -limit, limit, levels)  # 255: zero on the grid
        assert form.etype is types.i8 and form.quantize.zero_point == 0
        return
    with pytest.raises(ValueError, match="zero point .* is not an integer"):
        qparams.fake_quantize_to_qdq(-limit, limit, -limit, limit, levels)


@pytest.mark.parametrize("levels", [2, 17, 128, 65536])
def test_levels_without_integer_type_are_refused(levels):
    with pytest.raises(ValueError, match=f"levels={levels}"):
        qparams.fake_quantize_to_qdq(0.0, 1.0, 0.0, 1.0, levels)


def test_per_channel_ranges_keep_their_shape():
    low = np.array([0.0, -1.28, 0.0], np.float32).reshape(1, 3, 1, 1)
    high = np.array([2.55, 1.27, 5.1], np.float32).reshape(1, 3, 1, 1)
    form = qparams.fake_quantize_to_qdq(low, high, low, high, 256)
    # one channel is signed: the whole tensor is stored unsigned with per-channel zero points
    assert form.etype is types.u8
    np.testing.assert_array_equal(form.quantize.zero_point.reshape(-1), [0, 128, 0])
    np.testing.assert_allclose(form.quantize.scale.reshape(-1), [0.01, 0.01, 0.02], rtol=1e-6)


def test_integer_zero_point_tolerance():
    assert qparams.integer_zero_point(np.array([127.9999999, 3.0])).tolist() == [128, 3]
    assert qparams.integer_zero_point(np.array([127.5])) is None
    assert qparams.integer_zero_point(np.array([np.nan])) is None


@given(grids(), st.integers(0, 2**31 - 1))
def test_quantize_values_recovers_the_integers_of_fake_quantized_weights(grid, seed):
    low, high, levels, _ = grid
    form = qparams.fake_quantize_to_qdq(low, high, low, high, levels)
    rng = np.random.default_rng(seed)
    weights = fake_quantize(rng.uniform(low * 1.2, high * 1.2, size=64).astype(np.float32), low, high, low, high, levels)
    q = qparams.quantize_values(weights, form.dequantize, levels)
    back = (q.astype(np.float64) - form.dequantize.zero_point) * form.dequantize.scale
    np.testing.assert_allclose(back, weights, rtol=1e-5, atol=1e-5 * abs(high - low))
