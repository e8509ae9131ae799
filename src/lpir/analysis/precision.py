"""The precision a runtime gives a FakeQuantize, by OpenVINO's low-precision rules.

OpenVINO's LPT decides from the output range and ``levels`` of a FakeQuantize whether its
quantized values are signed (i8) or unsigned (u8) and whether a zero point is needed
(``LayerTransformation::getPrecisionDetails``). lpir reports the same so that a user sees what
the runtime will really execute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ZERO_THRESHOLD = 1e-6
ASYMMETRY_THRESHOLD = 0.002
FULL_RANGE_LEVELS = (16, 256, 65536, 2 ** 32)
_SIGNED = {16: "i8", 255: "i8", 256: "i8", 65535: "i16", 65536: "i16", 2 ** 32 - 1: "i32", 2 ** 32: "i32"}
_UNSIGNED = {16: "u8", 255: "u8", 256: "u8", 65535: "u16", 65536: "u16", 2 ** 32 - 1: "u32", 2 ** 32: "u32"}
# Precisions LPT falls back to, in order, when the range does not fix one (CPU defaults).
DEFAULT_PRECISIONS = ("u8", "i8")


@dataclass(frozen=True)
class PrecisionDetails:
    """``precision`` is None when the rule leaves it open (a zero point is then needed)."""

    precision: str | None
    has_zero_point: bool
    is_signed: bool

    @property
    def runtime_precision(self) -> str:
        """What a runtime with the default {u8, i8} restriction picks: the first allowed one if open."""
        return self.precision if self.precision is not None else DEFAULT_PRECISIONS[0]


def precision_details(levels: int, output_low, output_high) -> PrecisionDetails:
    """OpenVINO's getPrecisionDetails over per-channel ``output_low``/``output_high`` values.

    >>> precision_details(256, 0.0, 6.0)
    PrecisionDetails(precision='u8', has_zero_point=False, is_signed=False)
    >>> precision_details(255, -1.0, 1.0)
    PrecisionDetails(precision='i8', has_zero_point=False, is_signed=True)
    """
    low, high = np.broadcast_arrays(np.asarray(output_low, np.float64), np.asarray(output_high, np.float64))
    low, high = low.reshape(-1), high.reshape(-1)
    normal = ~((np.abs(low) < ZERO_THRESHOLD) & (np.abs(high) < ZERO_THRESHOLD))
    low, high = low[normal], high[normal]
    low_is_zero = np.abs(low) < ZERO_THRESHOLD
    signed_channel = (np.signbit(low) != np.signbit(high)) & ~low_is_zero
    zero_point = np.any(~signed_channel & ~low_is_zero)
    zero_point |= _asymmetric(levels, low[signed_channel], high[signed_channel])
    if not normal.any():
        is_signed = bool(np.any(np.asarray(output_low) < 0))
        is_unsigned = not is_signed
    else:
        is_signed = bool(signed_channel.all())
        is_unsigned = not signed_channel.any()
    precision = None
    if not zero_point:
        if is_signed and not is_unsigned:
            precision = _SIGNED.get(int(levels))
        elif is_unsigned and not is_signed:
            precision = _UNSIGNED.get(int(levels))
    return PrecisionDetails(precision, bool(zero_point), is_signed)


def _asymmetric(levels: int, low: np.ndarray, high: np.ndarray) -> bool:
    """True when a signed channel's low/high ratio is off the symmetric one by more than 0.2 %."""
    if low.size == 0:
        return False
    if np.any(high == 0):
        return True
    expected = -levels / (levels - 2) if levels in FULL_RANGE_LEVELS else -1.0
    actual = low / high
    return bool(np.any(np.abs((actual - expected) / np.minimum(actual, expected)) > ASYMMETRY_THRESHOLD))
