"""Range formulas: statistics in, FakeQuantize limits out (NNCF's, so both tools agree).

Pure numpy, no graph. A FakeQuantize made here has ``output_low/high == input_low/high`` (a
"same-range" quantizer). Symmetric ranges are signed when the data go below zero; a signed
256-level range reaches ``levels/(levels-2)`` further down than up so that the integer grid is
[-128, 127] with zero exact; weights use the narrow 255-level range [-127, 127]. Asymmetric
ranges are widened so that 0.0 falls on a grid point (zero padding stays exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATION_LEVELS = 256
WEIGHT_LEVELS = 255
# A channel whose range is below this share of the largest one is widened to it: all-zero
# filters would otherwise give a zero scale.
ZERO_FILTER_SHARE = 0.01
ZERO_FILTER_FLOOR = 8e-5
ASYMMETRIC_MIN_RANGE = 8e-4


@dataclass(frozen=True)
class FakeQuantizeParams:
    """Limits (``input_low == output_low``, ``input_high == output_high``) and levels."""

    low: np.ndarray
    high: np.ndarray
    levels: int


def fix_zero_filters_symmetric(high: np.ndarray) -> np.ndarray:
    """Raise each channel's limit to at least 1 % of the largest (and 8e-5)."""
    high = np.asarray(high, np.float32)
    floor = np.maximum(np.max(high) * ZERO_FILTER_SHARE, ZERO_FILTER_FLOOR)
    return np.maximum(floor, high).astype(np.float32)


def fix_zero_filters_asymmetric(low: np.ndarray, high: np.ndarray, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Widen each range by at least ``ASYMMETRIC_MIN_RANGE`` when it is (almost) empty."""
    span = high - low
    correction = np.where(span > ASYMMETRIC_MIN_RANGE, (np.maximum(eps * span, span) - span) * 0.5, ASYMMETRIC_MIN_RANGE)
    return low - correction, high + correction


def symmetric_range(min_values, abs_max_values, levels: int, *, narrow_range: bool,
                    force_signed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of a symmetric quantizer from the data's minimum and absolute maximum.

    Signed when ``force_signed`` or any minimum is negative; then ``low = -high`` for a narrow
    range, else ``-high * levels / (levels - 2)``. Unsigned: ``low = 0``.
    """
    high = fix_zero_filters_symmetric(abs_max_values)
    signed = force_signed or bool(np.any(np.asarray(min_values) < 0))
    if signed:
        low = -high * (1.0 if narrow_range else levels / (levels - 2))
    else:
        low = np.zeros_like(high)
    return np.asarray(low, np.float32), high.astype(np.float32)


def tune_range(low: np.ndarray, high: np.ndarray, num_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Move one end of ``[low, high]`` outwards so that 0.0 falls on the quantization grid.

    The end that moves is the one whose move widens the range least; neither end moves inwards.
    """
    top = 2 ** num_bits - 1
    zero_level = np.round(-low * (top / (high - low)))
    with np.errstate(divide="ignore", invalid="ignore"):
        new_low = np.where(zero_level < top, zero_level / (zero_level - top) * high, low)
        new_high = np.where(zero_level > 0.0, (zero_level - top) / zero_level * low, high)
    widen_low = (high - new_low) > (new_high - low)
    return np.where(widen_low, new_low, low), np.where(widen_low, high, new_high)


def asymmetric_range(min_values, max_values, num_bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of an asymmetric quantizer: the data range widened to contain 0, 0 exact."""
    low, high = fix_zero_filters_asymmetric(np.asarray(min_values, np.float32), np.asarray(max_values, np.float32))
    low = np.where(low < 0.0, low, 0.0)
    high = np.where(high > 0.0, high, 0.0)
    low, high = tune_range(low, high, num_bits)
    return low.astype(np.float32), high.astype(np.float32)


def activation_params(min_values, max_values, abs_max_values, *, symmetric: bool,
                      levels: int = ACTIVATION_LEVELS) -> FakeQuantizeParams:
    """An activation quantizer: 256 levels, symmetric (signedness from the data) or asymmetric."""
    if symmetric:
        low, high = symmetric_range(min_values, abs_max_values, levels, narrow_range=False)
    else:
        low, high = asymmetric_range(min_values, max_values, int(np.log2(levels)))
    return FakeQuantizeParams(low, high, levels)


def weight_params(min_values, abs_max_values, *, half_range: bool = False) -> FakeQuantizeParams:
    """A weight quantizer: symmetric, signed, narrow range (255 levels), per channel.

    ``half_range`` spreads the weights over half the integer grid (7 bits) so that int8 dot
    products cannot saturate a 16-bit intermediate on CPUs without VNNI (NNCF's overflow fix,
    applied to the first convolutions by default).
    """
    if half_range:
        low, high = symmetric_range(min_values, abs_max_values, 128, narrow_range=True, force_signed=True)
        stretch = (WEIGHT_LEVELS - 1) / (128 - 1)
        return FakeQuantizeParams((low * stretch).astype(np.float32), (high * stretch).astype(np.float32), WEIGHT_LEVELS)
    low, high = symmetric_range(min_values, abs_max_values, WEIGHT_LEVELS, narrow_range=True, force_signed=True)
    return FakeQuantizeParams(low, high, WEIGHT_LEVELS)

