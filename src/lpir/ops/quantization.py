"""FakeQuantize (bit-exact to the core reference) and the type conversions Convert, ConvertLike.

FakeQuantize follows OpenVINO's core reference literally, in the element type (f16/bf16 in
f32, rounded back once):

    x <= min(il, ih) -> ol;   x > max(il, ih) -> oh;   otherwise
    rint((x - il) / (ih - il) * (L-1)) / (L-1) * (oh - ol) + ol

with round-half-to-even and exactly that order of operations, so results match bit for bit.

Convert follows the reference evaluation too: float -> integer truncates toward zero and wraps
(through a 32-bit integer, as C++ casts do on x86), u2/i4/u4/u1 keep the low bits, f32 -> bf16
rounds as OpenVINO's bfloat16 does, f8 types are rounded through f16, i32 -> f16 saturates.
NaN/inf and values beyond 32 bits converted to u32/u64 follow x86 conversion results, which
OpenVINO does not specify. lpir's interpreter hands nf4/f4e2m1 tensors to ops as their decoded
float32 values, so Convert *to* nf4/f4e2m1 returns the nearest representable value as float32.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.types import ElementType
from lpir.ops.common import broadcast_arrays
from lpir.ops.elementwise import BROADCAST_ATTRS, PDPD_AXIS, as_compute, broadcast_infer
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def fake_quantize(x: np.ndarray, il: np.ndarray, ih: np.ndarray, ol: np.ndarray, oh: np.ndarray,
                  levels: int) -> np.ndarray:
    """The FakeQuantize formula on numpy-broadcastable arrays, in x's element type."""
    if levels < 2:
        raise ValidationError(f"FakeQuantize levels={levels}: must be at least 2")
    x = as_compute(np.asarray(x))
    dtype = x.dtype
    il, ih, ol, oh = (np.asarray(a).astype(dtype, copy=False) for a in (il, ih, ol, oh))
    if _clamping_is_exact(il, ih, ol, oh):
        return _formula(_writable(np.clip(x, il, ih)), il, ih, ol, oh, levels)
    out = _formula(_writable(np.subtract(x, il)), None, ih - il, ol, oh, levels)
    # NaN fails both comparisons and keeps the formula's NaN, as in the reference.
    np.copyto(out, ol, where=x <= np.minimum(il, ih))
    np.copyto(out, oh, where=x > np.maximum(il, ih))
    return out


def _writable(value) -> np.ndarray:
    """A fresh ufunc result as an array (0-d inputs make numpy return a scalar)."""
    return value if isinstance(value, np.ndarray) else np.array(value)


def _formula(out: np.ndarray, il, ih, ol, oh, levels: int) -> np.ndarray:
    """In place: rint((out - il) / (ih - il) * (L-1)) / (L-1) * (oh - ol) + ol, step by step.

    ``il=None`` means ``out`` already holds ``x - il`` and ``ih`` holds ``ih - il``.
    """
    steps = out.dtype.type(levels - 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if il is not None:
            out -= il
            ih = ih - il
        out /= ih
        out *= steps
        np.rint(out, out=out)
        out /= steps
        out *= oh - ol
        out += ol
    return out


def _clamping_is_exact(il: np.ndarray, ih: np.ndarray, ol: np.ndarray, oh: np.ndarray) -> bool:
    """True when clamping x to [il, ih] and applying the formula gives the reference's branches.

    x <= il clamps to il, and the formula maps il to exactly ol. x > ih clamps to ih, which maps
    to (oh - ol) + ol: equal to oh for most limits, but not all, so it is checked. Clamping
    avoids two masked passes, which are slow with per-channel limits.
    """
    if il.size > 4096 or ih.size > 4096:
        return False  # limits as large as the data: checking would cost as much as masking
    with np.errstate(over="ignore", invalid="ignore"):
        limits = np.broadcast_arrays(il, ih, ol, oh)
        return bool(np.all(np.isfinite(limits)) and np.all(limits[0] < limits[1])
                    and np.all((limits[3] - limits[2]) + limits[2] == limits[3]))


@register("FakeQuantize", opset=1)
class FakeQuantize(Op):
    attrs = {"levels": Attr("int"), **BROADCAST_ATTRS}
    traits = Traits(elementwise=True)

    def infer(self, ctx: InferContext):
        levels = ctx.attrs["levels"]
        if levels < 2:
            raise ctx.fail(f"levels={levels}: must be at least 2")
        etype = ctx.etype(0)
        for i in range(1, 5):
            if ctx.etype(i) is not etype:
                raise ctx.fail(f"input {i} is {ctx.etype(i)}, the data is {etype}: all inputs need one type")
        if not etype.is_float:
            raise ctx.fail(f"data is {etype}: FakeQuantize takes floating-point inputs")
        shape = broadcast_infer(ctx, range(5))
        data_shape = ctx.shape(0)
        if shape is not None and data_shape is not None and len(shape) != len(data_shape):
            raise ctx.fail(f"limits of shapes {[ctx.shape(i) for i in range(1, 5)]} broadcast beyond "
                           f"the data shape {list(data_shape)}")
        return [(etype, data_shape)]

    def evaluate(self, x, il, ih, ol, oh, *, levels, auto_broadcast, **pdpd):
        args = broadcast_arrays([x, il, ih, ol, oh], auto_broadcast, pdpd.get(PDPD_AXIS, -1))
        out = fake_quantize(*args, levels)
        if out.shape != x.shape:
            raise ValidationError(f"FakeQuantize limits broadcast the data {list(x.shape)} to {list(out.shape)}")
        return (out.astype(x.dtype, copy=False),)


def _f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """f32 -> bf16 as OpenVINO rounds it: the dropped half rounds up only onto an odd result."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    upper = bits >> 16
    upper += ((bits & 0xFFFF) >= 0x8000) & ((upper & 1) == 1)
    result = upper.astype(np.uint16).view(ml_dtypes.bfloat16)
    nan = np.isnan(values)
    if nan.any():
        result[nan] = np.nan
    return result


def _to_f8e8m0(values: np.ndarray) -> np.ndarray:
    """f32 -> f8e8m0 as OpenVINO rounds it: the f32 exponent, one up when the mantissa is above
    half (or at half on an odd exponent); subnormals up to 0.75 * 2^-126 (ties to even), zeros
    and negatives give the smallest code, infinity the largest finite one, NaN stays NaN."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    exponent = ((bits >> 23) & 0xFF).astype(np.int32)
    mantissa = bits & 0x7FFFFF
    up = (mantissa > 0x400000) | ((mantissa == 0x400000) & (exponent & 1 == 1))
    up &= (exponent > 0) | (mantissa > 0x600000)
    codes = np.where(exponent >= 0xFE, exponent - np.isinf(values), exponent + up)
    codes = np.where(np.signbit(values), 0, codes)
    return codes.astype(np.uint8).view(ml_dtypes.float8_e8m0fnu)


def _nearest_value(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Each value replaced by the nearest entry of the sorted ``table`` (nf4 quantization)."""
    ordered = np.sort(table)
    midpoints = (ordered[1:] + ordered[:-1]) / 2
    return ordered[np.searchsorted(midpoints, values, side="left")]


def _to_float(values: np.ndarray, dst: ElementType) -> np.ndarray:
    if dst is types.nf4:
        return _nearest_value(values.astype(np.float32), types.NF4_VALUES)
    if dst is types.f4e2m1:
        return values.astype(np.float32).astype(ml_dtypes.float4_e2m1fn).astype(np.float32)
    if dst is types.f8e8m0:
        return _to_f8e8m0(values.astype(np.float32))
    if dst is types.bf16:
        return _f32_to_bf16(values.astype(np.float32, copy=False))
    if dst is types.f16 and values.dtype == np.int32:
        values = np.clip(values, -65504, 65504)  # OpenVINO saturates i32 -> f16
    if dst in (types.f8e4m3, types.f8e5m2):
        values = values.astype(np.float16)  # OpenVINO rounds to f16 first, then to 8 bits
    elif dst.dtype not in _NATIVE_FLOATS and values.dtype.kind not in "f":
        values = values.astype(np.float32)
    return values.astype(dst.dtype)


def _float_to_integer(values: np.ndarray, dst: ElementType) -> np.ndarray:
    """Truncation toward zero into a wide integer, as a C++ cast (wrapping follows)."""
    if values.dtype not in _NATIVE_FLOATS and values.dtype != np.float16:
        values = values.astype(np.float32)
    wide = np.int32 if dst.bits <= 16 or dst is types.i32 else np.int64
    return values.astype(wide)


def _to_integer(values: np.ndarray, dst: ElementType) -> np.ndarray:
    if values.dtype.kind in "fV":  # numpy floats, and ml_dtypes' bf16/f8 (kind V)
        values = _float_to_integer(values, dst)
    if dst is types.i4:
        return (((values & 0xF) ^ 8) - 8).astype(np.int8)
    if dst is types.u4:
        return (values & 0xF).astype(np.uint8)
    if dst is types.u2:
        return (values & 3).astype(np.uint8)
    if dst is types.u1:
        return (values & 1).astype(np.uint8)
    return values.astype(dst.dtype)


def convert(values: np.ndarray, dst: ElementType) -> np.ndarray:
    """``values`` converted to ``dst`` as OpenVINO's Convert reference does."""
    values = np.asarray(values)
    if dst is types.boolean:
        return values != 0
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf/NaN is what OpenVINO gives too
        if dst.is_float or dst in (types.nf4, types.f4e2m1):
            return _to_float(values, dst)
        if dst.is_integral:
            return _to_integer(values, dst)
    raise ValidationError(f"Convert to {dst} is not supported")


def _check_destination(ctx: InferContext, dst: ElementType) -> None:
    if dst is types.dynamic or not (dst.is_float or dst.is_integral or dst in (types.boolean, types.nf4, types.f4e2m1)):
        raise ctx.fail(f"destination_type={dst}: not a type lpir can convert to")


@register("Convert", opset=1)
class Convert(Op):
    attrs = {"destination_type": Attr("etype")}
    traits = Traits(elementwise=True)

    def infer(self, ctx: InferContext):
        dst = types.parse_type(ctx.attrs["destination_type"])
        _check_destination(ctx, dst)
        return [(dst, ctx.shape(0))]

    def evaluate(self, x, *, destination_type):
        return (convert(x, types.parse_type(destination_type)),)


@register("ConvertLike", opset=1)
class ConvertLike(Op):
    """Convert to the element type of input 1. Evaluation sees only numpy dtypes, so a sub-byte
    ``like`` (i4 held as int8) converts as its byte-wide holder; inference uses the true type."""

    traits = Traits(elementwise=True, quantization_agnostic=True, activation_inputs=(0,))

    def infer(self, ctx: InferContext):
        _check_destination(ctx, ctx.etype(1))
        return [(ctx.etype(1), ctx.shape(0))]

    def evaluate(self, x, like):
        return (convert(x, types.from_dtype(like.dtype)),)
