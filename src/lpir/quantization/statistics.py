"""Statistics that calibration gathers, as mergeable reductions.

Each statistic takes values one call at a time (``update``) and combines with a partial result
gathered elsewhere (``merge``, or ``absorb`` in place; ``empty`` starts another) with no loss: per-sample values are kept as lists (the mean is
taken at the end) and running extrema combine by min/max. Calibration can therefore be split
across processes or machines and merged in any order. The first axis of a value is the batch:
a call with several samples counts as that many samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def _per_sample(value: np.ndarray, batch_axis: int | None) -> np.ndarray:
    """``value`` as rows of samples: [N, -1] (N = batch size, or 1 without a batch axis)."""
    if batch_axis is None or value.ndim == 0:
        return value.reshape(1, -1)
    return np.moveaxis(value, batch_axis, 0).reshape(value.shape[batch_axis], -1)


@dataclass
class MeanMinMax:
    """NNCF's MEAN_MINMAX for per-tensor activations: means over samples of each sample's
    minimum, maximum and absolute maximum."""

    mins: list[float] = field(default_factory=list)
    maxs: list[float] = field(default_factory=list)
    abs_maxs: list[float] = field(default_factory=list)

    def update(self, value: np.ndarray, batch_axis: int | None = 0) -> None:
        rows = _per_sample(value, batch_axis)
        low, high = rows.min(axis=1), rows.max(axis=1)
        self.mins.extend(low.astype(np.float64).tolist())
        self.maxs.extend(high.astype(np.float64).tolist())
        self.abs_maxs.extend(np.maximum(np.abs(low), np.abs(high)).astype(np.float64).tolist())

    def merge(self, other: MeanMinMax) -> MeanMinMax:
        return MeanMinMax(self.mins + other.mins, self.maxs + other.maxs, self.abs_maxs + other.abs_maxs)

    def empty(self) -> MeanMinMax:
        return MeanMinMax()

    def absorb(self, other: MeanMinMax) -> None:
        """Merge ``other`` (samples that come after these) into this one."""
        self.mins.extend(other.mins)
        self.maxs.extend(other.maxs)
        self.abs_maxs.extend(other.abs_maxs)

    @property
    def count(self) -> int:
        return len(self.mins)

    def result(self) -> tuple[np.float32, np.float32, np.float32]:
        """(mean min, mean max, mean absolute max)."""
        return tuple(np.float32(np.mean(v)) for v in (self.mins, self.maxs, self.abs_maxs))


@dataclass
class ChannelMinMax:
    """MINMAX per channel: the extrema over everything but ``channel_axes`` (kept as size-1 axes
    elsewhere, so the result broadcasts against the tensor)."""

    channel_axes: tuple[int, ...]
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    abs_high: np.ndarray | None = None

    def update(self, value: np.ndarray) -> None:
        channels = sorted({c % value.ndim for c in self.channel_axes})
        if len(channels) == 1 and value.flags.c_contiguous and value.ndim > 1:
            # [before, channels, after]: extrema along memory first (min/max are exact in any order)
            axis = channels[0]
            rows = value.reshape(math.prod(value.shape[:axis]), value.shape[axis], -1)
            shape = tuple(d if a == axis else 1 for a, d in enumerate(value.shape))
            low = rows.min(axis=2).min(axis=0).reshape(shape)
            high = rows.max(axis=2).max(axis=0).reshape(shape)
        else:
            axes = tuple(a for a in range(value.ndim) if a not in channels)
            low = value.min(axis=axes, keepdims=True)
            high = value.max(axis=axes, keepdims=True)
        self.merge_into(low, high, np.maximum(np.abs(low), np.abs(high)))

    def merge_into(self, low: np.ndarray, high: np.ndarray, abs_high: np.ndarray) -> None:
        if self.low is None:
            self.low, self.high, self.abs_high = low, high, abs_high
        else:
            self.low = np.minimum(self.low, low)
            self.high = np.maximum(self.high, high)
            self.abs_high = np.maximum(self.abs_high, abs_high)

    def merge(self, other: ChannelMinMax) -> ChannelMinMax:
        merged = ChannelMinMax(self.channel_axes, self.low, self.high, self.abs_high)
        merged.absorb(other)
        return merged

    def empty(self) -> ChannelMinMax:
        return ChannelMinMax(self.channel_axes)

    def absorb(self, other: ChannelMinMax) -> None:
        """Merge ``other`` into this one."""
        if other.low is not None:
            self.merge_into(other.low, other.high, other.abs_high)


@dataclass
class ChannelMean:
    """Mean per channel along ``channel_axis`` over samples (each sample's mean over the other
    axes, then the mean of those): the statistic bias correction compares.

    Per-sample means wait in ``rows`` until they are merged (``absorb``) or read (``result``),
    then go into a running f64 sum one by one in sample order: merging chunk after chunk adds
    the same numbers in the same order as one pass, and memory does not grow with the samples."""

    channel_axis: int
    rows: list[np.ndarray] = field(default_factory=list)
    shape: tuple[int, ...] | None = None  # one sample's shape (batch 1)
    total: np.ndarray | None = None  # the sum of the per-sample means summed so far
    summed: int = 0

    def update(self, value: np.ndarray, batch_axis: int | None = 0) -> None:
        axis = self.channel_axis % value.ndim
        samples = value.shape[batch_axis] if batch_axis is not None and value.ndim else 1
        if batch_axis in (None, 0) and axis > 0:
            value = np.ascontiguousarray(value)  # a model input may be a view
            # [samples, before, channels, after] without a copy. The long sums run along memory in
            # the tensor's own type (numpy sums pairwise there: an error of a few ulps of the
            # magnitudes, where a cast to f64 would cost twice the time of the whole sum); the
            # partial sums are added in f64.
            before, after = math.prod(value.shape[:axis]) // samples, math.prod(value.shape[axis + 1:])
            rows = value.reshape(samples, before, value.shape[axis], after).sum(axis=3)
            per_sample = rows.sum(axis=1, dtype=np.float64) / (before * after)
        else:
            moved = np.moveaxis(value, axis, -1)
            if batch_axis is not None and value.ndim:
                batch = batch_axis if batch_axis < axis else batch_axis - 1
                moved = np.moveaxis(moved, batch, 0)
            per_sample = moved.reshape(samples, -1, moved.shape[-1]).mean(axis=1, dtype=np.float64)
        self.rows.extend(per_sample)
        self.shape = tuple(1 if a == batch_axis else d for a, d in enumerate(value.shape))

    def merge(self, other: ChannelMean) -> ChannelMean:
        merged = ChannelMean(self.channel_axis, list(self.rows), self.shape,
                             None if self.total is None else self.total.copy(), self.summed)
        merged.absorb(other)
        return merged

    def empty(self) -> ChannelMean:
        return ChannelMean(self.channel_axis)

    def absorb(self, other: ChannelMean) -> None:
        """Merge ``other`` (samples that come after these) into this one."""
        self._sum(self.rows)
        if other.total is not None:
            self._sum([other.total], other.summed)
        self._sum(other.rows)
        self.shape = self.shape or other.shape

    def _sum(self, rows: list[np.ndarray], count: int | None = None) -> None:
        for row in rows:
            if self.total is None:
                self.total = row.astype(np.float64)  # a copy: the sum is updated in place
            else:
                self.total += row
        self.summed += len(rows) if count is None else count
        if rows is self.rows:
            self.rows = []

    @property
    def count(self) -> int:
        return self.summed + len(self.rows)

    def result(self) -> np.ndarray:
        self._sum(self.rows)
        return (self.total / self.summed).astype(np.float32)


@dataclass
class Values:
    """The tensors themselves, as calibration computed them (one item per call, ``counts`` its
    samples): inputs that a layer-by-layer algorithm replays through parts of the model. Not a
    reduction: memory grows with the samples kept."""

    items: list[np.ndarray] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def update(self, value: np.ndarray, batch_axis: int | None = 0) -> None:
        self.items.append(value)
        self.counts.append(value.shape[batch_axis] if batch_axis is not None and value.ndim else 1)

    def empty(self) -> Values:
        return Values()

    def absorb(self, other: Values) -> None:
        """Merge ``other`` (samples that come after these) into this one."""
        self.items.extend(other.items)
        self.counts.extend(other.counts)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def first(self, samples: int) -> Values:
        """The first ``samples`` samples (a call cut along its batch axis where it straddles)."""
        kept = Values()
        for value, count in zip(self.items, self.counts):
            take = min(count, samples - kept.count)
            if take <= 0:
                break
            kept.items.append(value if take == count else value[:take])
            kept.counts.append(take)
        return kept


@dataclass
class FirstCalls:
    """``statistic`` fed with the first ``limit`` calibration samples only (NNCF's
    ``num_samples`` of a statistic collector), the rest ignored. Merging keeps the limit:
    partial results are cut to the samples still wanted."""

    statistic: ChannelMean | Values
    limit: int
    by_call: bool = False  # count calls, not samples: a model of fixed batch takes each call whole

    def update(self, value: np.ndarray, batch_axis: int | None = 0) -> None:
        batch_axis = None if self.by_call else batch_axis
        wanted = self.limit - self.statistic.count
        if wanted <= 0:
            return
        if batch_axis is not None and value.ndim and value.shape[batch_axis] > wanted:
            value = np.take(value, np.arange(wanted), axis=batch_axis)
        self.statistic.update(value, batch_axis=batch_axis)

    def empty(self) -> FirstCalls:
        return FirstCalls(self.statistic.empty(), self.limit, self.by_call)

    def absorb(self, other: FirstCalls) -> None:
        wanted = self.limit - self.statistic.count
        if wanted <= 0:
            return
        theirs = other.statistic
        if isinstance(theirs, Values):
            self.statistic.absorb(theirs.first(wanted))
        else:  # a partial ChannelMean, fresh from calibration, still holds its per-sample rows
            self.statistic.absorb(ChannelMean(theirs.channel_axis, theirs.rows[:wanted], theirs.shape))
