"""Byte layout of tensors in .bin files, sub-byte types included.

OpenVINO stores 4-bit types (i4, u4, nf4, f4e2m1) two per byte, element ``2k`` in the low
nibble of byte ``k``; u2 four per byte, element ``4k + j`` in bits ``2j`` and ``2j + 1`` of byte
``k``; u1 eight per byte, element 0 in the most significant bit. An incomplete last byte is
padded with zero bits. Wider types are stored little-endian, one after another.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import ValidationError
from lpir.ir.types import ElementType


def unpack(buffer, etype: ElementType, count: int) -> np.ndarray:
    """Decode ``count`` elements of ``etype`` from the start of ``buffer`` (1-D result).

    Byte-wide and wider types come back as a zero-copy view of ``buffer`` where possible.
    """
    raw = np.frombuffer(buffer, dtype=np.uint8, count=etype.nbytes(count))
    if etype.bits == 4:
        nibbles = np.empty(raw.size * 2, dtype=np.uint8)
        nibbles[0::2] = raw & 0x0F
        nibbles[1::2] = raw >> 4
        nibbles = nibbles[:count]
        if etype.is_signed:
            return ((nibbles.astype(np.int8) << 4) >> 4).astype(np.int8)
        return nibbles
    if etype.bits == 1:
        return np.unpackbits(raw, bitorder="big", count=count)
    if etype.bits == 2:
        return ((raw[:, None] >> np.arange(0, 8, 2, dtype=np.uint8)) & 3).reshape(-1)[:count]
    if etype.bits % 8:
        raise NotImplementedError(f"element type {etype.name} ({etype.bits} bits) is not supported")
    return raw.view(etype.dtype)[:count] if count else np.empty(0, etype.dtype)


def pack(values: np.ndarray, etype: ElementType) -> bytes:
    """Encode ``values`` (any shape, one element per item) in the .bin layout of ``etype``.

    2- and 4-bit values must be in range (u2: 0..3; i4: -8..7; u4 and the nf4/f4e2m1 codes:
    0..15), as OpenVINO's Constant requires; u1 stores any non-zero value as 1, as OpenVINO does.
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    if etype.bits == 4:
        _check_sub_byte_range(flat, etype)
        codes = ((flat.view(np.uint8) if flat.dtype.itemsize == 1 else flat.astype(np.int16)) & 0x0F).astype(np.uint8, copy=False)
        if codes.size % 2:
            codes = np.append(codes, np.uint8(0))
        high = codes[1::2] << 4
        high |= codes[0::2]
        return high.tobytes()
    if etype.bits == 1:
        return np.packbits(flat.astype(bool), bitorder="big").tobytes()
    if etype.bits == 2:
        _check_sub_byte_range(flat, etype)
        codes = np.zeros(-(-flat.size // 4) * 4, np.uint8)
        codes[:flat.size] = flat
        quads = codes.reshape(-1, 4) << np.arange(0, 8, 2, dtype=np.uint8)
        return np.bitwise_or.reduce(quads, axis=1).astype(np.uint8).tobytes()
    return flat.astype(etype.dtype, copy=False).tobytes()


def _check_sub_byte_range(flat: np.ndarray, etype: ElementType) -> None:
    if flat.size == 0:
        return
    lo, hi = (etype.min, etype.max) if etype.is_integral else (0, 15)  # nf4/f4e2m1: unsigned codes
    low, high = flat.min(), flat.max()
    if low < lo or high > hi:
        bad = low if low < lo else high
        raise ValidationError(f"value {bad} is out of range for {etype.name} ({lo}..{hi})")
