"""The calibration histogram merges exactly, and the ranges searched on it minimise the
quantization error (checked against fake quantization of the values themselves)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lpir.ops import lookup
from lpir.quantization import histogram as histogram_module
from lpir.quantization import mse_range
from lpir.quantization.histogram import BINS, Histogram

finite = st.floats(-1e4, 1e4, width=32)
chunks = st.lists(arrays(np.float32, st.integers(0, 40), elements=finite), min_size=1, max_size=6)


def fake_quantize(values: np.ndarray, low: float, high: float, levels: int) -> np.ndarray:
    """lpir's FakeQuantize operator (the interpreter's, bit-exact with OpenVINO's) on ``values``."""
    op = lookup("FakeQuantize", 1)
    limits = [np.float64(low), np.float64(high)] * 2
    return op.evaluate(values.astype(np.float64), *limits, levels=levels, auto_broadcast="numpy")[0]


def histogram_of(values) -> Histogram:
    histogram = Histogram()
    histogram.update(np.asarray(values, np.float32))
    return histogram


@given(chunks, st.randoms(use_true_random=False))
def test_histogram_merges_exactly_in_any_split_and_order(parts, random):
    whole = histogram_of(np.concatenate(parts))
    partial = [histogram_of(p) for p in parts]
    random.shuffle(partial)
    merged = Histogram()
    for part in partial:
        merged = merged.merge(part)
    assert merged.exponent == whole.exponent and merged.zeros == whole.zeros
    assert (merged.low, merged.high) == (whole.low, whole.high)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    incremental, absorbed = Histogram(), Histogram().empty()
    for part, histogram in zip(parts, partial):
        incremental.update(part)
        absorbed.absorb(histogram)  # the calibration pass's in-place merge of chunks
    np.testing.assert_array_equal(incremental.counts, whole.counts)
    np.testing.assert_array_equal(absorbed.counts, whole.counts)
    assert (absorbed.exponent, absorbed.zeros, absorbed.low, absorbed.high) == (
        whole.exponent, whole.zeros, whole.low, whole.high)


# below 2048 in magnitude the bins are found in float32 (subnormal values among them); the
# examples put the least subnormal on grids of width 1 and 2 (the second goes through float64)
@given(arrays(np.float32, st.integers(1, 200), elements=finite | st.floats(-2.0, 2.0, width=32)))
@example(np.float32([-1.4e-45, 1500.0]))
@example(np.float32([-1.4e-45, 3000.0]))
def test_every_value_lies_in_its_bin(values):
    histogram = histogram_of(values)
    assert histogram.total == values.size and histogram.zeros == np.count_nonzero(values == 0)
    nonzero = values[values != 0].astype(np.float64)
    if nonzero.size:
        edges = histogram.edges()
        assert edges[0] <= nonzero.min() and nonzero.max() < edges[-1]
        # the grid is as fine as it can be: one doubling finer would not hold the largest magnitude
        assert np.abs(nonzero).max() >= BINS * histogram.width / 2
        assert (histogram.low, histogram.high) == (nonzero.min(), nonzero.max())
        expected = np.bincount(np.searchsorted(edges, nonzero, side="right") - 1, minlength=2 * BINS)
        np.testing.assert_array_equal(histogram.counts, expected)


# the compiled counting loops (lpir.ops._native, built with lpir; tests/ops/test_depthwise.py
# fails if it is not) against their numpy references
needs_native = pytest.mark.skipif(histogram_module._native is None, reason="lpir.ops._native is not built")


@needs_native
@given(arrays(np.float32, st.integers(0, 300), elements=finite | st.floats(-2.0, 2.0, width=32) | st.just(0.0)),
       st.integers(-3, 3))
@example(np.float32([0.0, -1.4e-45, 3000.0]), 0)
@example(np.float32([0.0, -0.0, 0.0]), 0)
def test_compiled_counting_equals_numpys(values, wider):
    native, reference = histogram_module._native, histogram_module
    assert native.extremes(values) == reference.extremes(values)
    zeros, low, high = reference.extremes(values)
    if zeros == values.size:
        return
    exponent = histogram_module._exponent_for(max(-low, high)) + max(wider, 0)  # the grid may be wider
    counts, expected = np.arange(2 * BINS, dtype=np.int64), np.arange(2 * BINS, dtype=np.int64)
    native.bin_counts(values, counts, exponent)
    reference.bin_counts(values, expected, exponent)
    np.testing.assert_array_equal(counts, expected)


@needs_native
def test_compiled_counting_refuses_values_beyond_the_grid():
    with pytest.raises(ValueError, match="outside"):
        histogram_module._native.bin_counts(np.float32([1.0, 5000.0]), np.zeros(2 * BINS, np.int64), 0)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.05, 4.0), st.floats(-3.0, -0.01), st.floats(0.01, 3.0), st.sampled_from([16, 255, 256]),
       st.integers(0, 2 ** 31))
def test_histogram_error_is_the_error_of_evenly_spread_values(scale, low, high, levels, seed):
    """Values spread evenly through each bin (many per bin, at the midpoints of equal slices)
    have, under the real FakeQuantize, the squared error the closed form gives for the bin."""
    data = np.random.default_rng(seed).laplace(0.0, scale, 3000).astype(np.float32)
    data = np.concatenate([data, np.full(300, data.max())])  # a saturated maximum: a bin with no width
    histogram = histogram_of(data)
    slices = 64
    spread, weights = [], []
    for lower, upper, count in zip(*histogram.bins()):
        step = (upper - lower) / slices
        spread.append(lower + step * (np.arange(slices) + 0.5))
        weights.append(np.full(slices, count / slices))
    spread, weights = np.concatenate(spread), np.concatenate(weights)
    expected = float(np.sum(weights * (fake_quantize(spread, low, high, levels) - spread) ** 2))
    actual = float(mse_range.quantization_error(histogram.bins(), low, high, levels))
    assert np.isclose(actual, expected, rtol=2e-2, atol=1e-9 * histogram.total)


def brute_force_error(histogram: Histogram, make_range, extent: float, levels: int) -> float:
    """The least error over a dense grid of candidate limits."""
    candidates = extent * np.arange(1, 1001) / 1000
    return float(mse_range.quantization_error(histogram.bins(), *make_range(candidates), levels).min())


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["normal", "laplace", "student"]), st.booleans(), st.integers(0, 2 ** 31))
def test_symmetric_search_finds_the_least_error(shape, signed, seed):
    rng = np.random.default_rng(seed)
    data = {"normal": rng.normal(size=5000), "laplace": rng.laplace(size=5000),
            "student": rng.standard_t(2, size=5000)}[shape]
    data = data if signed else np.abs(data)
    histogram = histogram_of(data)
    levels = 256

    def make_range(h):
        h = np.asarray(h, np.float64)
        return (-h * levels / (levels - 2) if signed else np.zeros_like(h)), h

    limit = mse_range.symmetric_limit(histogram, signed=signed, levels=levels)
    low_seen, high_seen = histogram.low_high()
    extent = max(high_seen, -low_seen * (levels - 2) / levels if signed else 0.0)
    found = float(mse_range.quantization_error(histogram.bins(), *make_range(limit), levels))
    full = float(mse_range.quantization_error(histogram.bins(), *make_range(extent), levels))
    assert 0 < limit <= extent
    assert found <= full
    assert found <= brute_force_error(histogram, make_range, extent, levels) * 1.005


@settings(max_examples=15, deadline=None)
@given(st.floats(-5.0, 0.0), st.floats(0.5, 5.0), st.integers(0, 2 ** 31))
def test_asymmetric_search_beats_the_data_range_and_each_end_is_optimal(shift, scale, seed):
    data = np.random.default_rng(seed).gumbel(shift, scale, 5000)
    histogram = histogram_of(data)
    bins = histogram.bins()
    low, high = mse_range.asymmetric_limits(histogram, levels=256)
    data_low, data_high = histogram.low_high()
    assert data_low <= low <= 0 <= high <= data_high
    found = float(mse_range.quantization_error(bins, low, high, 256))
    assert found <= float(mse_range.quantization_error(bins, data_low, data_high, 256))
    # the end searched last: with the upper one fixed, no lower limit does better than a whisker
    if data_low == 0:
        return
    best_low = brute_force_error(histogram, lambda t: (-t, np.full_like(t, high)), -data_low, 256)
    assert found <= best_low * 1.005


@settings(max_examples=30, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 30)),
              elements=st.floats(-2, 2, width=32)), st.sampled_from([255, 15]))
def test_weight_limits_minimise_each_channels_output_error(weights, levels):
    """The output error of a channel whose inputs share a mean: squared errors plus the square
    of their sum, measured through the interpreter's FakeQuantize."""
    limits = mse_range.weight_limits(weights, (0,), levels=levels)
    assert limits.shape == (weights.shape[0], 1)
    abs_max = np.abs(weights).max(axis=1, keepdims=True)
    assert np.all(limits <= abs_max * 1.05 * (1 + 1e-6)) and np.all(limits >= abs_max * 0.5 * (1 - 1e-6))
    values = weights.astype(np.float64)
    for channel in range(weights.shape[0]):
        if abs_max[channel, 0] == 0:
            continue

        def error(limit):
            difference = fake_quantize(values[channel], -limit, limit, levels) - values[channel]
            return float(np.sum(difference ** 2) + np.sum(difference) ** 2)

        found = error(float(limits[channel, 0]))
        assert found <= error(float(abs_max[channel, 0])) * (1 + 1e-4) + 1e-12
        candidates = abs_max[channel, 0] * mse_range.WEIGHT_FRACTIONS
        assert found <= min(error(c) for c in candidates) * (1 + 1e-3) + 1e-12  # the limit is stored in f32


def test_weight_limits_cancel_a_depthwise_kernels_summed_error():
    """A 3x3 kernel whose max-based grid rounds every weight the same way: the searched limit
    leaves a smaller summed error (what a kernel on positive inputs passes on)."""
    kernel = np.array([[1.0, 0.3 + 0.4 / 127, 0.3 + 0.4 / 127, 0.5 + 0.4 / 127, 0.5 + 0.4 / 127,
                        0.7 + 0.4 / 127, 0.7 + 0.4 / 127, 0.9 + 0.4 / 127, 0.9 + 0.4 / 127]])
    limit = float(mse_range.weight_limits(kernel, (0,), levels=255)[0, 0])
    summed = {h: abs(float(np.sum(fake_quantize(kernel[0], -h, h, 255) - kernel[0]))) for h in (1.0, limit)}
    assert summed[limit] < summed[1.0] / 2


# -- the search through cell moments gives what the per-bin sums give ----------------------------
def jagged_values(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Calibration-like values, smooth or clustered on a few points (what makes the error jagged)."""
    if shape == "normal":
        return rng.normal(rng.uniform(-1, 1), rng.uniform(0.1, 3), size)
    if shape == "student":
        return rng.standard_t(2, size)
    if shape == "clusters":  # a few repeated values (an embedding table, a quantized input)
        points = rng.uniform(-3, 3, rng.integers(2, 12))
        return rng.choice(points, size) + rng.normal(0, 1e-3, size) * rng.integers(0, 2)
    if shape == "grid":  # values on a grid of their own, which the levels slide past
        return rng.integers(-40, 120, size) * rng.uniform(0.01, 0.2)
    if shape == "relu6":  # zeros, a saturated maximum (a point bin), a smooth part between
        return np.clip(rng.normal(1, 3, size), 0, 6)
    if shape == "negative":
        return -np.abs(rng.laplace(0, 1, size))
    if shape == "sparse":
        return rng.uniform(-5, 5, rng.integers(1, 6)) * rng.integers(0, 2, 1)
    return np.full(size, rng.uniform(-4, 4))  # one value


shapes = st.sampled_from(["normal", "student", "clusters", "grid", "relu6", "negative", "sparse", "constant"])


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 3000), st.sampled_from([16, 255, 256]), st.integers(0, 2 ** 31))
def test_cell_moments_give_the_per_bin_error(shape, size, levels, seed):
    """The error summed per quantization cell from prefix moments equals the per-bin closed
    form, for ranges holding zero from far narrower than the data to wider."""
    rng = np.random.default_rng(seed)
    histogram = histogram_of(jagged_values(shape, size, rng))
    data_low, data_high = histogram.low_high()
    scale = max(-data_low, data_high, 1e-3)
    low = -scale * rng.uniform(0, 1.2, 64) * rng.integers(0, 2, 64)
    high = scale * rng.uniform(1e-3, 1.2, 64)
    expected = mse_range.quantization_error(histogram.bins(), low, high, levels)
    actual = mse_range.HistogramError(histogram)(low, high, levels)
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12 * scale ** 2 * histogram.total)


def exhaustive_best(bins, levels: int, make_range, extent: float) -> float:
    """The search as first written: each candidate's error summed over every bin."""
    steps, fine_steps, around = mse_range.COARSE_STEPS, mse_range.FINE_STEPS, mse_range.FINE_AROUND
    candidates = extent * np.arange(1, steps + 1) / steps
    leaders = candidates[np.argsort(mse_range.quantization_error(bins, *make_range(candidates), levels))[:around]]
    fine = (leaders[:, None] + extent / steps * np.linspace(-1.0, 1.0, 2 * fine_steps + 1)).reshape(-1)
    fine = fine[(fine > 0) & (fine <= extent)]
    return float(fine[np.argmin(mse_range.quantization_error(bins, *make_range(fine), levels))])


@settings(max_examples=25, deadline=None)
@given(shapes, st.booleans(), st.integers(1, 2000), st.integers(0, 2 ** 31))
def test_symmetric_search_equals_the_exhaustive_one(shape, signed, size, seed):
    values = jagged_values(shape, size, np.random.default_rng(seed))
    histogram = histogram_of(values if signed else np.abs(values))
    levels = 256
    low_seen, high_seen = histogram.low_high()
    extent = max(high_seen, -low_seen * (levels - 2) / levels if signed else 0.0)
    limit = mse_range.symmetric_limit(histogram, signed=signed, levels=levels)
    if extent <= 0:
        assert limit == 0.0
        return

    def make_range(h):
        h = np.asarray(h, np.float64)
        return (-h * levels / (levels - 2) if signed else np.zeros_like(h)), h

    expected = exhaustive_best(histogram.bins(), levels, make_range, extent)
    found, best = (float(mse_range.quantization_error(histogram.bins(), *make_range(h), levels)) for h in (limit, expected))
    assert abs(found - best) <= 1e-9 * best + 1e-300


@settings(max_examples=15, deadline=None)
@given(shapes, st.integers(1, 2000), st.sampled_from([16, 256]), st.integers(0, 2 ** 31))
def test_asymmetric_search_equals_the_exhaustive_alternation(shape, size, levels, seed):
    """Every round of the alternation, as first written (no early stop), ends where the search
    stops."""
    histogram = histogram_of(jagged_values(shape, size, np.random.default_rng(seed)))
    bins = histogram.bins()
    data_low, data_high = histogram.low_high()
    low, high = data_low, data_high
    if high > low:
        for _ in range(mse_range.ALTERNATIONS):
            if data_high > 0.0:
                high = exhaustive_best(bins, levels, lambda h: (np.full_like(h, low), h), data_high)
            if data_low < 0.0:
                low = -exhaustive_best(bins, levels, lambda t: (-t, np.full_like(t, high)), -data_low)
    found_low, found_high = mse_range.asymmetric_limits(histogram, levels=levels)
    found, best = (float(mse_range.quantization_error(bins, lo, hi, levels))
                   for lo, hi in ((found_low, found_high), (low, high)))
    assert abs(found - best) <= 1e-9 * best + 1e-300
