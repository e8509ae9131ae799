"""A histogram of every value a tensor takes during calibration, as a mergeable reduction.

The bins sit on a grid anchored at 0 whose width is a power of two: bin ``i`` holds the values in
``[i * 2**k, (i + 1) * 2**k)`` for ``-BINS <= i < BINS``. When a value falls outside, the width
doubles (``k + 1``) and pairs of bins add up, which loses nothing the wider grid could hold:
``floor(floor(x / w) / 2) == floor(x / 2w)``. The width is therefore set by the largest magnitude
seen, whatever the order of the values or the way they were split, so two partial histograms
merge exactly (the finer is coarsened to the coarser, then the counts add). Exact zeros (ReLU's
output is mostly zeros, which every range holds exactly) are counted apart, and the exact
extremes are kept: the outermost bins end there, so a value that saturates (ReLU6's 6.0, a
hard sigmoid's 1.0) is seen as the point it is, not spread over a bin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

try:
    from lpir.ops import _native
except ImportError:  # installed without a C compiler: the numpy references give the same counts
    _native = None

BINS = 2048  # bins on each side of zero


def _exponent_for(magnitude: float) -> int:
    """The smallest ``k`` with ``magnitude < BINS * 2**k``."""
    if magnitude <= 0.0:
        return np.iinfo(np.int32).min
    mantissa, exponent = np.frexp(magnitude / BINS)  # magnitude / BINS = mantissa * 2**exponent, 0.5 <= mantissa < 1
    return int(exponent)


def _coarsen(counts: np.ndarray, steps: int) -> np.ndarray:
    """Counts on the grid ``steps`` doublings wider (bin ``i`` → ``floor(i / 2**steps)``)."""
    if steps <= 0:
        return counts
    if steps >= 2 * BINS.bit_length():
        steps = 2 * BINS.bit_length()
    index = (np.arange(-BINS, BINS) >> steps) + BINS
    return np.bincount(index, weights=counts, minlength=2 * BINS).astype(np.int64)


def extremes(flat: np.ndarray) -> tuple[int, float, float]:
    """The number of zeros among float32 values and the least and greatest of the others
    (``inf`` and ``-inf`` if there are none)."""
    zero = flat == 0  # counted, not cut out: picking the nonzero values costs more than all else
    zeros = int(np.count_nonzero(zero))
    if zeros == flat.size:
        return zeros, np.inf, -np.inf
    low, high = float(flat.min()), float(flat.max())
    if zeros and low == 0.0:  # no negative value: the least positive one
        low = _least_magnitude(flat)
    if zeros and high == 0.0:
        high = -_least_magnitude(flat)
    return zeros, low, high


def _least_magnitude(flat: np.ndarray) -> float:
    """The smallest nonzero ``|x|`` of float32 values, not all zeros. Read as unsigned integers,
    magnitudes order as the floats do; one less wraps zero around to the largest."""
    magnitude = flat.view(np.uint32) & np.uint32(0x7FFFFFFF)
    magnitude -= np.uint32(1)
    return float((magnitude.min() + np.uint32(1)).view(np.float32))


def bin_counts(flat: np.ndarray, counts: np.ndarray, exponent: int) -> None:
    """Add to ``counts`` (``2 * BINS``) the nonzero float32 values of magnitude below
    ``BINS * 2**exponent``, each in bin ``floor(x / 2**exponent) + BINS``.

    Scaling by a power of two is exact unless the result is subnormal, and a subnormal still
    floors right (to 0 or -1) unless it rounds to zero, which no nonzero float32 does once the
    scale is at least 1: then float32 (half the memory traffic) gives the exact index, else
    float64. The zeros fall in bin ``BINS`` with the rest and are taken out after."""
    dtype = np.float32 if -126 <= exponent <= 0 else np.float64
    position = np.multiply(flat, np.ldexp(dtype(1.0), -exponent, dtype=dtype), dtype=dtype)
    np.floor(position, out=position)
    position += BINS
    counts += np.bincount(position.astype(np.int32), minlength=2 * BINS)
    counts[BINS] -= int(np.count_nonzero(flat == 0))


class _numpy:
    """The numpy references of the compiled loops, by the same names."""

    extremes = staticmethod(extremes)
    bin_counts = staticmethod(bin_counts)


@dataclass
class Histogram:
    """Counts of the values seen on a power-of-two grid (see the module's docstring)."""

    exponent: int = np.iinfo(np.int32).min  # bin width 2**exponent; the minimum means "nothing but zeros yet"
    counts: np.ndarray = field(default_factory=lambda: np.zeros(2 * BINS, np.int64))
    zeros: int = 0
    low: float = np.inf  # the smallest and largest nonzero values seen
    high: float = -np.inf

    @property
    def width(self) -> float:
        return float(np.ldexp(1.0, self.exponent)) if self.exponent > np.iinfo(np.int32).min else 0.0

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.zeros

    def update(self, value: np.ndarray) -> None:
        """Count the values of ``value`` (finite); with ``lpir.ops._native`` built, the counting
        runs in compiled loops that let other threads (the calibration's) run meanwhile."""
        flat = np.ascontiguousarray(value, np.float32).reshape(-1)
        zeros, low, high = (_native or _numpy).extremes(flat)
        self.zeros += zeros
        if zeros == flat.size:
            return
        self.low, self.high = min(self.low, low), max(self.high, high)
        wanted = _exponent_for(max(-self.low, self.high))
        if wanted > self.exponent:
            if self.exponent > np.iinfo(np.int32).min:
                self.counts = _coarsen(self.counts, wanted - self.exponent)
            self.exponent = wanted
        (_native or _numpy).bin_counts(flat, self.counts, self.exponent)

    def empty(self) -> Histogram:
        return Histogram()

    def absorb(self, other: Histogram) -> None:
        """Merge ``other`` into this one (in place)."""
        if other.exponent == self.exponent:  # the same grid, as once the range is known
            self.counts += other.counts
            self.zeros += other.zeros
            self.low, self.high = min(self.low, other.low), max(self.high, other.high)
            return
        merged = self.merge(other)
        self.exponent, self.counts, self.zeros, self.low, self.high = (
            merged.exponent, merged.counts, merged.zeros, merged.low, merged.high)

    def merge(self, other: Histogram) -> Histogram:
        exponent = max(self.exponent, other.exponent)
        counts = np.zeros(2 * BINS, np.int64)
        for part in (self, other):
            if part.exponent > np.iinfo(np.int32).min:
                counts += _coarsen(part.counts, exponent - part.exponent)
        return Histogram(exponent, counts, self.zeros + other.zeros, min(self.low, other.low),
                         max(self.high, other.high))

    def edges(self) -> np.ndarray:
        """The ``2 * BINS + 1`` bin edges."""
        return np.arange(-BINS, BINS + 1, dtype=np.float64) * self.width

    def bins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower ends, upper ends, counts) of the occupied bins, the outermost ones cut at the
        extremes seen (a bin holding only the maximum has no width)."""
        occupied = np.flatnonzero(self.counts)
        edges = self.edges()
        lower = np.maximum(edges[occupied], self.low)
        upper = np.minimum(edges[occupied + 1], self.high)
        return lower, upper, self.counts[occupied]

    def low_high(self) -> tuple[float, float]:
        """The smallest and largest values seen, zero included (0.0 when there are none)."""
        if self.high < self.low:
            return 0.0, 0.0
        return min(self.low, 0.0), max(self.high, 0.0)
