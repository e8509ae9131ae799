"""OpenVINO element types: names, bit widths, numpy dtypes.

An element type is known by two spellings: the one in ``element_type`` / ``destination_type``
attributes (``f32``, ``u1``) and the legacy port ``precision`` (``FP32``, ``BIN``). Both parse
to the same :class:`ElementType`.

Types narrower than a byte (u1, u2, i4, u4, nf4, f4e2m1) are stored packed in .bin files and
unpacked into one numpy element each (see :mod:`lpir.ir.packing`). nf4 and f4e2m1 unpack to
their 4-bit codes (uint8); :func:`to_float` maps codes to values.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from lpir.errors import ValidationError


@dataclass(frozen=True)
class ElementType:
    """One OpenVINO element type."""

    name: str
    precision: str
    bits: int
    dtype: np.dtype
    is_float: bool = False
    is_signed: bool = False

    @property
    def is_integral(self) -> bool:
        return not self.is_float and self.name not in ("boolean", "nf4", "f4e2m1")

    @property
    def is_packed(self) -> bool:
        """True for sub-byte types, which share bytes in storage."""
        return self.bits < 8

    @property
    def min(self) -> int:
        """The smallest value of an integral type (-128 for i8, 0 for u4 ...)."""
        self._require_integral()
        return -(1 << (self.bits - 1)) if self.is_signed else 0

    @property
    def max(self) -> int:
        """The largest value of an integral type (127 for i8, 15 for u4 ...)."""
        self._require_integral()
        return (1 << (self.bits - 1)) - 1 if self.is_signed else (1 << self.bits) - 1

    def _require_integral(self) -> None:
        if not self.is_integral or self.name == "boolean":
            raise ValueError(f"{self.name} is not an integer type")

    def nbytes(self, count: int) -> int:
        """Bytes needed to store ``count`` elements (sub-byte types packed, padded)."""
        return (count * self.bits + 7) // 8

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"ElementType({self.name})"


def _t(name: str, precision: str, bits: int, dtype, *, f: bool = False, s: bool = False):
    return ElementType(name, precision, bits, np.dtype(dtype), is_float=f, is_signed=s)


boolean = _t("boolean", "BOOL", 8, np.bool_)
bf16 = _t("bf16", "BF16", 16, ml_dtypes.bfloat16, f=True, s=True)
f16 = _t("f16", "FP16", 16, np.float16, f=True, s=True)
f32 = _t("f32", "FP32", 32, np.float32, f=True, s=True)
f64 = _t("f64", "FP64", 64, np.float64, f=True, s=True)
f8e4m3 = _t("f8e4m3", "F8E4M3", 8, ml_dtypes.float8_e4m3fn, f=True, s=True)
f8e5m2 = _t("f8e5m2", "F8E5M2", 8, ml_dtypes.float8_e5m2, f=True, s=True)
f8e8m0 = _t("f8e8m0", "F8E8M0", 8, ml_dtypes.float8_e8m0fnu, f=True)
f4e2m1 = _t("f4e2m1", "F4E2M1", 4, np.uint8)
nf4 = _t("nf4", "NF4", 4, np.uint8)
u1 = _t("u1", "BIN", 1, np.uint8)
u2 = _t("u2", "U2", 2, np.uint8)
i4 = _t("i4", "I4", 4, np.int8, s=True)
u4 = _t("u4", "U4", 4, np.uint8)
i8 = _t("i8", "I8", 8, np.int8, s=True)
u8 = _t("u8", "U8", 8, np.uint8)
i16 = _t("i16", "I16", 16, np.int16, s=True)
u16 = _t("u16", "U16", 16, np.uint16)
i32 = _t("i32", "I32", 32, np.int32, s=True)
u32 = _t("u32", "U32", 32, np.uint32)
i64 = _t("i64", "I64", 64, np.int64, s=True)
u64 = _t("u64", "U64", 64, np.uint64)
dynamic = _t("dynamic", "UNSPECIFIED", 0, np.float32)

ALL_TYPES: tuple[ElementType, ...] = (
    boolean, bf16, f16, f32, f64, f8e4m3, f8e5m2, f8e8m0, f4e2m1, nf4,
    u1, u2, i4, u4, i8, u8, i16, u16, i32, u32, i64, u64, dynamic,
)

# Types in which weights are stored compressed, to be turned back into floats by a Convert.
LOW_PRECISION_WEIGHT_TYPES: frozenset[ElementType] = frozenset({i8, u8, i4, u4, nf4, f4e2m1, f8e4m3, f8e5m2})

_BY_SPELLING: dict[str, ElementType] = {}
for _et in ALL_TYPES:
    for _spelling in (_et.name, _et.precision, _et.name.upper(), _et.precision.lower()):
        _BY_SPELLING.setdefault(_spelling, _et)
_BY_SPELLING.update({"bool": boolean, "BOOL": boolean, "bin": u1, "U1": u1, "undefined": dynamic})


def parse_type(spelling: str | ElementType) -> ElementType:
    """The element type for either spelling (``f32``/``FP32``, ``u1``/``BIN``)."""
    if isinstance(spelling, ElementType):
        return spelling
    try:
        return _BY_SPELLING[spelling.strip()]
    except KeyError as exc:
        raise ValidationError(f"unknown element type {spelling!r}") from exc


_FROM_DTYPE = {
    np.dtype(np.bool_): boolean, np.dtype(np.float16): f16, np.dtype(np.float32): f32,
    np.dtype(np.float64): f64, np.dtype(np.int8): i8, np.dtype(np.uint8): u8,
    np.dtype(np.int16): i16, np.dtype(np.uint16): u16, np.dtype(np.int32): i32,
    np.dtype(np.uint32): u32, np.dtype(np.int64): i64, np.dtype(np.uint64): u64,
    np.dtype(ml_dtypes.bfloat16): bf16, np.dtype(ml_dtypes.float8_e4m3fn): f8e4m3,
    np.dtype(ml_dtypes.float8_e5m2): f8e5m2, np.dtype(ml_dtypes.float8_e8m0fnu): f8e8m0,
    np.dtype(ml_dtypes.int4): i4, np.dtype(ml_dtypes.uint4): u4, np.dtype(ml_dtypes.float4_e2m1fn): f4e2m1,
    np.dtype(ml_dtypes.uint2): u2,
}

# numpy has no 2- and 4-bit types; ml_dtypes' ones (which onnx uses too) carry such tensors in
# and out of lpir, one element per byte. Inside, lpir stores u2/i4/u4 as uint8/int8/uint8 values
# and f4e2m1 as its codes (uint8), and the interpreter hands f4e2m1 to ops as float32 values.
ML_DTYPES: dict[ElementType, np.dtype] = {
    u2: np.dtype(ml_dtypes.uint2), i4: np.dtype(ml_dtypes.int4), u4: np.dtype(ml_dtypes.uint4),
    f4e2m1: np.dtype(ml_dtypes.float4_e2m1fn),
}


def from_dtype(dtype: np.dtype | type) -> ElementType:
    """The element type that stores numpy ``dtype`` one element per item (ml_dtypes' uint2,
    int4, uint4 and float4_e2m1fn included)."""
    try:
        return _FROM_DTYPE[np.dtype(dtype)]
    except KeyError as exc:
        raise ValidationError(f"numpy dtype {np.dtype(dtype)} has no OpenVINO element type") from exc


# Code → value tables of the 4-bit float formats (OpenVINO's nf4 and f4e2m1 lookup tables).
NF4_VALUES = np.array(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
     0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
     0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0],
    dtype=np.float32,
)
F4E2M1_VALUES = np.array(
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0],
    dtype=np.float32,
)


def to_float(codes: np.ndarray, etype: ElementType) -> np.ndarray:
    """Values of unpacked elements as float32 (decodes nf4/f4e2m1 codes)."""
    if etype is nf4:
        return NF4_VALUES[codes]
    if etype is f4e2m1:
        return F4E2M1_VALUES[codes]
    return codes.astype(np.float32)


def from_ml_dtypes(array: np.ndarray, etype: ElementType) -> np.ndarray:
    """An ml_dtypes sub-byte array (:data:`ML_DTYPES`) as lpir stores ``etype``: u2/i4/u4 values
    in uint8/int8/uint8, f4e2m1 codes in uint8. Other arrays are returned as they are."""
    if etype not in ML_DTYPES or array.dtype != ML_DTYPES[etype]:
        return array
    if etype is f4e2m1:
        return array.view(np.uint8) & np.uint8(0x0F)
    return array.astype(etype.dtype)


def to_ml_dtypes(values: np.ndarray, etype: ElementType) -> np.ndarray:
    """A tensor of ``etype`` as the interpreter computes it (u2/i4/u4 in uint8/int8/uint8,
    f4e2m1 in float32) as the ml_dtypes array of its type; other types are returned as they are."""
    return values.astype(ML_DTYPES[etype]) if etype in ML_DTYPES else values
