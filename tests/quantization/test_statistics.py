"""Statistics are mergeable: any split of the calibration samples gives the same result."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lpir.quantization.statistics import ChannelMean, ChannelMinMax, FirstCalls, MeanMinMax, Values

samples = st.lists(arrays(np.float32, (2, 3, 4), elements=st.floats(-100, 100, width=32)), min_size=2, max_size=6)


@given(samples, st.data())
def test_mean_minmax_merges_exactly_and_counts_batched_samples_one_by_one(values, data):
    split = data.draw(st.integers(1, len(values) - 1))
    whole, first, second = MeanMinMax(), MeanMinMax(), MeanMinMax()
    for value in values:
        whole.update(value[None], batch_axis=None)
    for value in values[:split]:
        first.update(value[None], batch_axis=None)
    for value in values[split:]:
        second.update(value[None], batch_axis=None)
    assert first.merge(second).result() == whole.result()
    batched = MeanMinMax()
    batched.update(np.stack(values), batch_axis=0)
    assert batched.result() == whole.result()
    expected_min = np.mean([v.min() for v in values], dtype=np.float64)
    assert np.isclose(whole.result()[0], expected_min, rtol=1e-6, atol=1e-6)


@given(samples, st.data())
def test_channel_minmax_and_mean_merge_exactly(values, data):
    split = data.draw(st.integers(1, len(values) - 1))
    parts = []
    for chunk in (values[:split], values[split:]):
        minmax, mean = ChannelMinMax((1,)), ChannelMean(1)
        for value in chunk:
            minmax.update(value[None])
            mean.update(value[None], batch_axis=0)
        parts.append((minmax, mean))
    minmax = parts[0][0].merge(parts[1][0])
    mean = parts[0][1].merge(parts[1][1])
    stacked = np.stack(values)
    np.testing.assert_array_equal(minmax.low.reshape(-1), stacked.min(axis=(0, 2, 3)))
    np.testing.assert_array_equal(minmax.abs_high.reshape(-1), np.abs(stacked).max(axis=(0, 2, 3)))
    np.testing.assert_allclose(mean.result(), stacked.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    whole = ChannelMean(1)
    for value in values:
        whole.update(value[None], batch_axis=0)
    np.testing.assert_array_equal(mean.result(), whole.result())  # merged in order: the bits of one pass
    chained = ChannelMean(1)
    for value in values:  # one partial per sample, each absorbed as it comes (as calibration merges chunks)
        part = chained.empty()
        part.update(value[None], batch_axis=0)
        chained.absorb(part)
    np.testing.assert_array_equal(chained.result(), whole.result())
    batched = ChannelMean(1)
    batched.update(stacked[:, 0], batch_axis=0)
    one_by_one = ChannelMean(1)
    for value in stacked[:, 0]:
        one_by_one.update(value[None], batch_axis=0)
    np.testing.assert_array_equal(batched.result(), one_by_one.result())
    assert batched.shape == (1, 3, 4)


@given(st.lists(st.integers(1, 3), min_size=1, max_size=8), st.integers(1, 12), st.integers(0, 7), st.integers(0, 2**31))
def test_first_samples_kept_across_chunks_equal_one_pass(batches, limit, cut, seed):
    """Calls of 1-3 samples, cut into two chunks gathered apart then merged: the first ``limit``
    samples kept are those of one pass in order (values and channel means alike)."""
    rng = np.random.default_rng(seed)
    calls = [rng.normal(size=(n, 3, 2)).astype(np.float32) for n in batches]
    cut = min(cut, len(calls))

    def gather(part, kept):
        for value in part:
            kept.update(value, batch_axis=0)
        return kept

    for make in (lambda: Values(), lambda: ChannelMean(1)):
        whole = gather(calls, FirstCalls(make(), limit))
        merged = gather(calls[:cut], FirstCalls(make(), limit))
        merged.absorb(gather(calls[cut:], merged.empty()))
        assert whole.statistic.count == merged.statistic.count == min(limit, sum(batches))
        if isinstance(whole.statistic, Values):
            assert whole.statistic.counts == merged.statistic.counts
            np.testing.assert_array_equal(np.concatenate(whole.statistic.items),
                                          np.concatenate(merged.statistic.items))
        else:
            np.testing.assert_array_equal(whole.statistic.result(), merged.statistic.result())
