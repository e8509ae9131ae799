"""The lowering formulas: properties that must hold for any weight, and NNCF's own functions as
the oracle (its numpy reference for small weights, its OpenVINO-compiled kernels from 10,000
elements on)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lpir.compression.lowering import MODES, NF4_LEVELS, dequantize, lower, lower_block, quantization_error
from lpir.ir import types

INTEGER_MODES = ["int8_asym", "int8_sym", "int4_asym", "int4_sym"]
finite = st.floats(-1e4, 1e4, width=32, allow_subnormal=True)


def weights(rows=(1, 6), cols=(1, 40)):
    shape = st.tuples(st.integers(*rows), st.integers(*cols))
    return hnp.arrays(np.float32, shape, elements=finite)


@settings(max_examples=150)
@given(w=weights(), mode=st.sampled_from(INTEGER_MODES))
def test_codes_stay_in_range_and_reconstruct_within_one_step(w, mode):
    spec = MODES[mode]
    codes, scale, zero_point = lower_block(w, 1, spec)  # the f32 scale the codes are made with
    low, high = spec.code_range
    assert codes.min() >= low and codes.max() <= high
    np.testing.assert_array_equal(lower(w, 1, spec).scale, scale.astype(np.float16))
    restored = dequantize(codes, scale, zero_point, spec)
    step = np.abs(scale)
    # asymmetric: within half a step; symmetric: the positive extreme may be clipped by one code
    bound = (0.5 if spec.kind == "asym" else 1.0) * step * (1 + 1e-5) + 1e-30
    assert np.all(np.abs(restored - w) <= bound)


@settings(max_examples=100)
@given(w=weights(), bits=st.sampled_from([8, 4]))
def test_asymmetric_range_includes_zero_exactly(w, bits):
    """The range is widened to contain 0, and 0 is a code: zero weights stay exactly zero."""
    spec = MODES[f"int{bits}_asym"]
    out = lower(np.concatenate([w, np.zeros((w.shape[0], 1), np.float32)], axis=1), 1, spec)
    assert np.all(out.codes[:, -1:] == out.zero_point)


@settings(max_examples=100)
@given(w=weights(), bits=st.sampled_from([8, 4]))
def test_symmetric_scale_maps_the_larger_extreme_to_the_lowest_code(w, bits):
    """The extreme of larger magnitude (the minimum on a tie) gets code -2^(b-1)."""
    spec = MODES[f"int{bits}_sym"]
    out = lower(w, 1, spec)
    low, high = w.min(axis=1), w.max(axis=1)
    extreme = np.where(np.abs(low) >= high, w.argmin(axis=1), w.argmax(axis=1))
    codes = np.take_along_axis(out.codes, extreme[:, None], axis=1)[:, 0]
    # below f32 eps the scale is clamped; a constant positive row has |min| >= max, so NNCF's rule
    # takes the positive scale min/2^(b-1) and its values clip to the highest code instead
    constant_positive = (low > 0) & (low == high)
    big = (np.maximum(np.abs(low), np.abs(high)) > 1e-3) & ~constant_positive
    assert np.all(codes[big] == -(2 ** (bits - 1)))


@settings(max_examples=100)
@given(w=weights())
def test_nf4_picks_the_nearest_level(w):
    out = lower(w, 1, MODES["nf4"])
    normalized = w / np.abs(w).max(axis=1, keepdims=True).clip(np.finfo(np.float32).eps)
    distance = np.abs(normalized[..., None] - NF4_LEVELS)
    chosen = np.take_along_axis(distance, out.codes[..., None].astype(np.int64), axis=-1)[..., 0]
    assert np.all(chosen <= distance.min(axis=-1) + 1e-6)


@settings(max_examples=60)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.sampled_from([8, 16, 32]), st.integers(1, 3)),
                    elements=finite),
       mode=st.sampled_from(list(MODES)), group=st.sampled_from([4, 8]))
def test_groups_are_independent_per_channel_lowerings(w, mode, group):
    """Group-wise lowering over axis 1 is per-channel lowering of each group's slice."""
    spec = MODES[mode]
    out = lower(w, 1, spec, group)
    assert out.codes.shape == (w.shape[0], w.shape[1] // group, group, w.shape[2])
    for g in range(w.shape[1] // group):
        alone = lower(np.ascontiguousarray(w[:, g * group:(g + 1) * group]), 1, spec)
        np.testing.assert_array_equal(out.codes[:, g], alone.codes)
        np.testing.assert_array_equal(out.scale[:, g], alone.scale)


def test_row_blocks_over_threads_give_the_same_result():
    w = np.random.default_rng(1).standard_normal((600, 4096)).astype(np.float32)
    for mode in MODES.values():
        one, many = lower(w, 1, mode, 128, workers=1), lower(w, 1, mode, 128, workers=4)
        np.testing.assert_array_equal(one.codes, many.codes)
        np.testing.assert_array_equal(one.scale, many.scale)


def test_nan_and_inf_are_reported_not_lowered():
    w = np.ones((3, 8), np.float32)
    w[1, 2] = np.nan
    assert not lower(w, 1, MODES["int8_asym"]).is_finite
    w[1, 2] = np.inf
    assert not lower(w, 1, MODES["int4_sym"], 4).is_finite


# -- NNCF as the oracle -----------------------------------------------------------------------


def nncf_lower(w: np.ndarray, mode: str, group: int):
    from nncf.parameters import CompressWeightsMode
    from nncf.quantization.algorithms.weight_compression.config import WeightCompressionConfig
    from nncf.quantization.algorithms.weight_compression.weight_lowering import compress_weight
    from nncf.tensor import Tensor

    config = WeightCompressionConfig(mode=CompressWeightsMode(mode), group_size=group)
    out = compress_weight(Tensor(w), (1,), config)
    codes = np.asarray(out.tensor.data)
    if mode == "nf4":  # NNCF keeps nf4 weights as their level values until OpenVINO stores them
        codes = np.searchsorted(NF4_LEVELS, codes).astype(np.uint8)
    zero_point = None if out.zero_point is None else np.asarray(out.zero_point.data)
    return codes, np.asarray(out.scale.data), zero_point


@settings(max_examples=40, deadline=None)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.sampled_from([16, 64])), elements=finite),
       mode=st.sampled_from(list(MODES)), group=st.sampled_from([-1, 16]))
def test_small_weights_match_nncf_numpy_reference(w, mode, group):
    check_against_nncf(w, mode, group)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("group", [-1, 32])
def test_large_weights_match_nncf_openvino_kernels(mode, group):
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((96, 256)) * rng.uniform(0.01, 3, (96, 1))).astype(np.float32)
    w[3] = 0.0                      # an all-zero channel: the eps clamp
    w[5, :] = np.abs(w[5, :])       # all positive: the asymmetric range widened to 0
    w[7, ::3] = 2.5                 # ties at x.5 steps and exact extremes
    check_against_nncf(w, mode, group)


def check_against_nncf(w: np.ndarray, mode: str, group: int) -> None:
    spec = MODES[mode]
    ours = lower(w, 1, spec, group)
    codes, scale, zero_point = nncf_lower(w, mode, group)
    np.testing.assert_array_equal(ours.codes.astype(np.int16), codes.reshape(ours.codes.shape).astype(np.int16))
    np.testing.assert_array_equal(ours.scale, scale.reshape(ours.scale.shape).astype(np.float16))
    if spec.has_zero_point:
        np.testing.assert_array_equal(ours.zero_point, zero_point.reshape(ours.zero_point.shape).astype(np.uint8))
    assert spec.etype in types.LOW_PRECISION_WEIGHT_TYPES


@pytest.mark.parametrize("shape", [(24, 40), (200, 64)])
def test_sensitivity_error_matches_nncf(shape):
    from nncf.quantization.algorithms.weight_compression.config import WeightCompressionConfig
    from nncf.quantization.algorithms.weight_compression.weight_lowering import get_integer_quantization_error
    from nncf.tensor import Tensor

    w = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    theirs = get_integer_quantization_error(Tensor(w), (1,), WeightCompressionConfig(), reduction="max_mean")
    assert quantization_error(w, 1) == pytest.approx(theirs, rel=1e-5)


@pytest.mark.parametrize("mode", ["int4_asym", "int4_sym", "nf4"])
def test_packing_block_by_block_gives_the_bin_layout(mode):
    from lpir.ir.packing import pack
    w = np.random.default_rng(2).standard_normal((300, 256)).astype(np.float32)
    plain = lower(w, 1, MODES[mode], 32)
    packed = lower(w, 1, MODES[mode], 32, pack=True, workers=2)
    assert packed.codes is None
    assert packed.packed.tobytes() == pack(plain.codes, MODES[mode].etype)


@pytest.mark.parametrize("axis", [0, 1])
def test_sensitivity_in_blocks_equals_the_whole_weight(axis):
    from lpir.compression.mixed_precision import sensitivity
    w = np.random.default_rng(4).standard_normal((300, 200)).astype(np.float32)
    w[:, 7] *= 40
    w[13] *= 25
    whole = 1.0 / (quantization_error(w, axis) + np.finfo(np.float32).eps)
    assert sensitivity(w, axis, block_bytes=4096) == whole


@pytest.mark.parametrize("axis", [0, 1])
def test_frobenius_error_in_blocks_matches_nncf(axis):
    from nncf.quantization.algorithms.weight_compression.config import WeightCompressionConfig
    from nncf.quantization.algorithms.weight_compression.weight_lowering import get_integer_quantization_error
    from nncf.tensor import Tensor

    from lpir.compression.mixed_precision import sensitivity
    w = np.random.default_rng(5).standard_normal((300, 30)).astype(np.float32)  # < 10,000: NNCF's numpy path
    w[4] *= 30
    theirs = get_integer_quantization_error(Tensor(w), (axis,), WeightCompressionConfig(), reduction="frobenius")
    assert sensitivity(w, axis, frobenius=True) == pytest.approx(float(theirs), rel=1e-6)
    assert sensitivity(w, axis, frobenius=True, block_bytes=1024) == pytest.approx(float(theirs), rel=1e-6)


@pytest.mark.parametrize("metric", ["mean_activation_variance", "max_activation_variance", "mean_activation_magnitude"])
@pytest.mark.parametrize("shape", [(7, 12), (2, 9, 16), (1, 3, 5, 8)])
def test_activation_figures_match_nncfs_reducers(metric, shape):
    from nncf.common.tensor_statistics.collectors import MaxVarianceReducer, MeanAbsMaxReducer, MeanVarianceReducer
    from nncf.tensor import Tensor

    from lpir.compression.mixed_precision import activation_figure
    reducer = {"mean_activation_variance": MeanVarianceReducer, "max_activation_variance": MaxVarianceReducer,
               "mean_activation_magnitude": MeanAbsMaxReducer}[metric]((-2,))
    x = (np.random.default_rng(len(shape)).standard_normal(shape) * np.arange(1, shape[-1] + 1)).astype(np.float32)
    theirs = float(reducer._reduce_out_of_place([Tensor(x)])[0].data)
    assert activation_figure(metric, x) == pytest.approx(theirs, rel=1e-5)


def test_nf4_table_equals_a_search_over_the_midpoints_at_every_boundary():
    """The bucket table must give searchsorted(midpoints, x, 'left') for any x, the midpoints
    themselves, their float neighbours and the bucket edges included."""
    from lpir.compression.lowering import NF4_MIDPOINTS, nf4_codes
    edges = (-1 + 2 * np.arange(4096) / 4096).astype(np.float32)
    special = np.concatenate([NF4_MIDPOINTS, edges, np.float32([-1, 1, 0, -0.0])])
    x = np.concatenate([special, np.nextafter(special, np.float32(2)), np.nextafter(special, np.float32(-2)),
                        np.random.default_rng(5).uniform(-1, 1, 100_000).astype(np.float32)])
    x = np.clip(x, -1, 1)
    np.testing.assert_array_equal(nf4_codes(x), np.searchsorted(NF4_MIDPOINTS, x, side="left"))
