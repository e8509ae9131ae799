"""OpenVINO's getPrecisionDetails rule (facts §4.2): which precision and zero point a FakeQuantize gets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpir.analysis.precision import precision_details

# (levels, output_low, output_high) → (precision, has zero point, signed); expectations worked out by hand.
CASES = [
    (256, 0.0, 6.0, "u8", False, False),                  # unsigned activations
    (255, -1.0, 1.0, "i8", False, True),                  # narrow-range symmetric weights
    (256, -1.0, 127 / 128, "i8", False, True),            # full-range symmetric: ratio -256/254
    (256, -1.0, 1.0, None, True, True),                   # ratio -1 is 0.8 % off -256/254
    (255, -1.0, 0.5, None, True, True),                   # asymmetric signed
    (256, 0.5, 6.0, None, True, False),                   # unsigned but low bound not zero
    (256, -6.0, -1.0, None, True, False),                 # both negative: unsigned branch, zero point
    (256, -2.0, 0.0, None, True, True),                   # signed interval with high bound 0
    (16, 0.0, 1.0, "u8", False, False),                   # 4-bit levels in an 8-bit container
    (16, -1.0, 7 / 8, "i8", False, True),                 # ratio -16/14
    (15, -1.0, 1.0, None, False, True),                   # 15 levels: no precision in the switch
    (65536, 0.0, 1.0, "u16", False, False),
    (65535, -1.0, 1.0, "i16", False, True),
    (256, 0.0, 0.0, "u8", False, False),                  # no normal channel: sign from output_low
    (256, -1e-7, 1e-7, "i8", False, True),                # below the zero threshold: signed by low < 0
    (255, -1.0, 1.0 + 0.0015, "i8", False, True),         # within the 0.2 % asymmetry tolerance
    (255, -1.0, 1.0 + 0.0025, None, True, True),          # beyond it
]


@pytest.mark.parametrize("levels, low, high, precision, zero_point, signed", CASES)
def test_precision_table(levels, low, high, precision, zero_point, signed):
    details = precision_details(levels, low, high)
    assert (details.precision, details.has_zero_point, details.is_signed) == (precision, zero_point, signed)


def test_per_channel_mixed_signs_leave_precision_open():
    details = precision_details(255, np.array([0.0, -1.0]), np.array([1.0, 1.0]))
    assert details.precision is None and not details.has_zero_point
    assert details.runtime_precision == "u8"


def test_per_channel_one_asymmetric_channel_needs_zero_point():
    details = precision_details(255, np.array([-1.0, -1.0, -2.0]), np.array([1.0, 0.5, 2.0]))
    assert details.precision is None and details.has_zero_point


def test_zero_channels_are_skipped():
    details = precision_details(256, np.array([0.0, 0.0]), np.array([0.0, 6.0]))
    assert details.precision == "u8" and not details.has_zero_point


def test_broadcast_limits():
    low = np.full((4, 1, 1, 1), -1.0)
    high = np.full((1, 1, 1, 1), 1.0)
    assert precision_details(255, low, high).precision == "i8"


scales = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(scale=scales, levels=st.sampled_from([255, 256]))
def test_symmetric_signed_is_i8_without_zero_point(scale, levels):
    low = -scale * (levels // 2)
    high = scale * (levels // 2 - (1 if levels == 256 else 0))
    details = precision_details(levels, low, high)
    assert (details.precision, details.has_zero_point) == ("i8", False)


@settings(max_examples=60, deadline=None)
@given(scale=scales, levels=st.sampled_from([16, 255, 256]))
def test_unsigned_from_zero_is_u8(scale, levels):
    assert precision_details(levels, 0.0, scale) == precision_details(levels, 0.0, 2 * scale)
    assert precision_details(levels, 0.0, scale).precision == "u8"


@settings(max_examples=60, deadline=None)
@given(low=st.floats(-100, -1e-3), high=st.floats(1e-3, 100), factor=st.floats(1e-2, 1e2))
def test_scaling_both_bounds_does_not_change_the_decision(low, high, factor):
    a, b = precision_details(256, low, high), precision_details(256, low * factor, high * factor)
    assert (a.precision, a.is_signed) == (b.precision, b.is_signed)
