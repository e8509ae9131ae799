"""FakeQuantize ranges ↔ (scale, zero point): the formulas that link OpenVINO's and ONNX's forms.

A FakeQuantize with ``levels`` L maps ``[low, high]`` onto L points ``step = (high - low) / (L-1)``
apart. ONNX's ``QuantizeLinear`` stores ``round(x / scale) + zero_point`` clipped to an integer
type's range, and ``DequantizeLinear`` gives back ``(q - zero_point) * scale``. The two agree when
``scale = step`` and ``zero_point = offset - low / step`` is an integer, where ``offset`` is the
integer that ``low`` is stored as (the type's minimum for L = 2^bits, one above it for a narrow
range of L = 2^bits - 1 signed levels). A range whose zero point is not an integer has no exact
QDQ form: 0.0 is not one of its points.

Pure functions on numpy arrays (per-channel ranges broadcast); they raise ``ValueError`` with the
reason, which callers wrap in an error naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir import types
from lpir.ir.types import ElementType

# How far (in steps) a computed zero point may sit from an integer and still count as one:
# ranges written in float32 put 0.0 on the grid only up to float32 rounding.
ZERO_POINT_TOLERANCE = 1e-3

# levels → bits of the integer type that holds them.
_BITS = {256: 8, 255: 8, 16: 4}


def range_to_scale(low, high, levels: int) -> np.ndarray:
    """The step between neighbouring levels of ``[low, high]``."""
    return (np.asarray(high, np.float64) - np.asarray(low, np.float64)) / (levels - 1)


def scale_to_range(scale, zero_point, qmin: int, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """The float range ``[scale * (qmin - zp), scale * (qmax - zp)]`` that integers qmin..qmax encode
    (in float32, as the importer's FakeQuantize limits are stored)."""
    scale = np.asarray(scale, np.float32)
    zero_point = np.asarray(zero_point, np.float32)
    return scale * (np.float32(qmin) - zero_point), scale * (np.float32(qmax) - zero_point)


def accumulator_bias(bias, input_scale, weight_scale) -> tuple[np.ndarray, np.ndarray] | None:
    """A layer's float bias on the grid of its integer accumulator, as ONNX's integer kernels add
    it: ``(q, scale)`` with int32 ``q = round(bias / scale)`` and float32 ``scale = input_scale ·
    weight_scale`` (per tensor or per output channel, the bias's shape), the bias then being
    ``q · scale``; None when a scale is not positive or does not fit the bias, or ``q`` leaves int32."""
    bias = np.asarray(bias)
    scale = (np.float32(input_scale) * np.asarray(weight_scale, np.float32)).astype(np.float32)
    scale = np.broadcast_to(scale, bias.shape) if scale.size == 1 else scale
    if scale.shape != bias.shape or not np.all(scale > 0):
        return None
    q = np.rint(bias.astype(np.float64) / scale)
    limits = np.iinfo(np.int32)
    if not np.all((q >= limits.min) & (q <= limits.max)):
        return None
    return q.astype(np.int32), np.ascontiguousarray(scale)


def zero_point_of(low, scale, offset: int) -> np.ndarray:
    """The (real-valued) zero point that stores ``low`` as the integer ``offset``."""
    return offset - np.asarray(low, np.float64) / np.asarray(scale, np.float64)


def integer_zero_point(zero_point, tolerance: float = ZERO_POINT_TOLERANCE) -> np.ndarray | None:
    """``zero_point`` rounded to integers, or None when some value is not within ``tolerance`` of one."""
    zero_point = np.asarray(zero_point, np.float64)
    rounded = np.rint(zero_point)
    if not np.all(np.isfinite(zero_point)) or np.any(np.abs(zero_point - rounded) > tolerance):
        return None
    return rounded.astype(np.int64)


def storage_offset(etype: ElementType, levels: int) -> int:
    """The integer that a range's low end is stored as: the type's minimum, or one above it for a
    signed narrow range (255 levels in i8 are -127..127)."""
    if etype.is_signed and levels == (1 << etype.bits) - 1:
        return etype.min + 1
    return etype.min


@dataclass(frozen=True)
class Affine:
    """An integer encoding of a FakeQuantize side: values ``(q - zero_point) * scale``, q in ``etype``."""

    etype: ElementType
    scale: np.ndarray        # float32, > 0
    zero_point: np.ndarray   # int64, within etype's range


@dataclass(frozen=True)
class QdqForm:
    """QuantizeLinear(input side) → DequantizeLinear(output side) equal to one FakeQuantize."""

    levels: int
    quantize: Affine
    dequantize: Affine

    @property
    def etype(self) -> ElementType:
        return self.quantize.etype

    @property
    def is_exact(self) -> bool:
        """True when the type's range is exactly the L levels (no narrow range to clip to)."""
        return self.levels == 1 << self.etype.bits


def storage_type(levels: int, *, signed: bool) -> ElementType:
    """The integer type that holds ``levels`` points (i8/u8 for 255-256, i4/u4 for 16)."""
    bits = _BITS.get(int(levels))
    if bits is None:
        raise ValueError(f"levels={levels} has no integer type in QDQ form (256, 255 or 16 expected)")
    return {(8, True): types.i8, (8, False): types.u8, (4, True): types.i4, (4, False): types.u4}[(bits, signed)]


def affine(low, high, levels: int, etype: ElementType) -> Affine | None:
    """The encoding of ``[low, high]`` in ``etype``, or None when its zero point is not an
    integer inside the type's range."""
    scale = range_to_scale(low, high, levels)
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        return None
    zero_point = integer_zero_point(zero_point_of(low, scale, storage_offset(etype, levels)))
    if zero_point is None or np.any(zero_point < etype.min) or np.any(zero_point > etype.max):
        return None
    return Affine(etype, scale.astype(np.float32), zero_point)


def fake_quantize_to_qdq(low, high, out_low, out_high, levels: int) -> QdqForm:
    """The QDQ form of a FakeQuantize: signed with zero point 0 when the range is symmetric for its
    levels, else unsigned with a zero point; raises ValueError when neither is exact."""
    storage_type(levels, signed=False)  # validates levels
    for signed in (True, False):
        etype = storage_type(levels, signed=signed)
        q, dq = affine(low, high, levels, etype), affine(out_low, out_high, levels, etype)
        if q is None or dq is None or (signed and (np.any(q.zero_point) or np.any(dq.zero_point))):
            continue
        return QdqForm(int(levels), q, dq)
    problem = _describe_problem(low, high, levels)
    raise ValueError(problem)


def _describe_problem(low, high, levels: int) -> str:
    scale = range_to_scale(low, high, levels)
    if np.any(scale <= 0):
        return f"a range of zero or negative width (low {np.min(low):.6g}, high {np.max(high):.6g})"
    zero_point = zero_point_of(low, scale, 0)
    worst = np.ravel(zero_point)[np.argmax(np.abs(np.ravel(zero_point - np.rint(zero_point))))]
    return (f"zero point {worst:.6g} is not an integer in [0, {(1 << _BITS[int(levels)]) - 1}] "
            f"(0.0 is not on the grid of [{np.min(low):.6g}, {np.max(high):.6g}] with {levels} levels)")


def quantize_values(values, form: Affine, levels: int) -> np.ndarray:
    """The stored integers of values that lie on the grid of ``form`` (weights after their
    FakeQuantize), clipped to the ``levels`` points."""
    offset = storage_offset(form.etype, levels)
    q = np.rint(np.asarray(values, np.float64) / form.scale) + form.zero_point
    return np.clip(q, offset, offset + levels - 1).astype(form.etype.dtype)
