"""Range formulas: properties that hold for any data, and NNCF's own functions as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lpir.analysis.precision import precision_details
from lpir.quantization import math

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)
channels = arrays(np.float32, st.integers(1, 8), elements=finite)


@given(low=finite, high=finite)
def test_asymmetric_range_contains_the_data_and_zero_exactly(low, high):
    low, high = min(low, high), max(low, high)
    lo, hi = math.asymmetric_range(np.float32(low), np.float32(high))
    half_step = (np.float64(hi) - np.float64(lo)) / 255 / 2
    assert lo <= min(low, 0.0) + half_step and hi >= max(high, 0.0) - half_step  # nothing clipped by more
    zero_level = -np.float64(lo) * 255 / (np.float64(hi) - np.float64(lo))
    if 0.5 < zero_level < 254.5:  # as NNCF, a zero that rounds onto an end of the grid is left as it is
        assert abs(zero_level - round(zero_level)) < 1e-3 * max(1.0, zero_level)  # 0.0 is a grid point


@given(min_values=channels, spread=st.floats(0, 1e4, width=32))
def test_symmetric_activation_range_is_what_openvino_runs_without_zero_point(min_values, spread):
    abs_max = np.abs(min_values) + np.float32(spread)
    low, high = math.symmetric_range(min_values, abs_max, 256, narrow_range=False)
    assert np.all(high >= abs_max) and np.all(high >= math.ZERO_FILTER_FLOOR)
    details = precision_details(256, low, high)
    assert not details.has_zero_point
    assert details.precision == ("i8" if np.any(min_values < 0) else "u8")


@given(weights=arrays(np.float32, (4, 6), elements=finite))
def test_weight_range_is_signed_narrow_and_per_channel(weights):
    abs_max = np.abs(weights).max(axis=1, keepdims=True)
    params = math.weight_params(weights.min(axis=1, keepdims=True), abs_max)
    assert params.levels == 255
    np.testing.assert_array_equal(params.low, -params.high)
    assert np.all(params.high >= abs_max)  # no weight is clipped
    assert precision_details(255, params.low, params.high).precision == "i8"
    half = math.weight_params(weights.min(axis=1, keepdims=True), abs_max, half_range=True)
    np.testing.assert_allclose(half.high, params.high * 254 / 127, rtol=1e-6)


nncf_fq = pytest.importorskip("nncf.quantization.fake_quantize")


@given(low=channels, width=st.floats(0, 1e3, width=32))
def test_same_limits_as_nncf(low, width):
    from nncf.common.quantization.structs import QuantizationScheme, QuantizerConfig
    from nncf.common.tensor_statistics.statistics import MinMaxTensorStatistic
    from nncf.quantization.fake_quantize import calculate_quantizer_parameters
    from nncf.common.quantization.structs import QuantizerGroup
    from nncf.tensor import Tensor
    high = (low + np.float32(width)).astype(np.float32)
    abs_max = np.maximum(np.abs(low), np.abs(high))
    for symmetric in (True, False):
        config = QuantizerConfig(num_bits=8, mode=QuantizationScheme.SYMMETRIC if symmetric else QuantizationScheme.ASYMMETRIC,
                                 per_channel=True)
        stats = MinMaxTensorStatistic(Tensor(low), Tensor(abs_max if symmetric else high))
        ref = calculate_quantizer_parameters(stats, config, QuantizerGroup.ACTIVATIONS)
        ours = math.activation_params(low, high, abs_max, symmetric=symmetric)
        assert ours.levels == ref.levels
        np.testing.assert_allclose(ours.low, ref.input_low.data, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(ours.high, ref.input_high.data, rtol=1e-6, atol=1e-7)
    weights = QuantizerConfig(num_bits=8, mode=QuantizationScheme.SYMMETRIC, per_channel=True, narrow_range=True,
                              signedness_to_force=True)
    for half in (False, True):
        ref = calculate_quantizer_parameters(MinMaxTensorStatistic(Tensor(low), Tensor(abs_max)), weights,
                                             QuantizerGroup.WEIGHTS, half_range=half)
        ours = math.weight_params(low, abs_max, half_range=half)
        assert ours.levels == ref.levels
        np.testing.assert_allclose(ours.high, ref.input_high.data, rtol=1e-6)
        np.testing.assert_allclose(ours.low, ref.input_low.data, rtol=1e-6)
