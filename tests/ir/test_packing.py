"""Byte layout of every element type: pack → unpack round trips, and the sub-byte layouts
cross-checked byte for byte with the bytes OpenVINO's own Constant holds."""

from __future__ import annotations

import math

import numpy as np
import openvino as ov
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.packing import pack, unpack

# value range of each sub-byte type, as one element per numpy item
SUB_BYTE = {"i4": (-8, 7), "u4": (0, 15), "nf4": (0, 15), "f4e2m1": (0, 15), "u1": (0, 1)}
WIDE = [t for t in types.ALL_TYPES if not t.is_packed and t is not types.dynamic]

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=9)


def sub_byte_values(name: str):
    lo, hi = SUB_BYTE[name]
    dtype = types.parse_type(name).dtype
    return shapes.flatmap(lambda shape: hnp.arrays(dtype, shape, elements=st.integers(lo, hi)))


@pytest.mark.parametrize("name", sorted(SUB_BYTE))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_sub_byte_round_trip(name, data):
    etype = types.parse_type(name)
    values = data.draw(sub_byte_values(name))
    packed = pack(values, etype)
    assert len(packed) == math.ceil(values.size * etype.bits / 8)
    np.testing.assert_array_equal(unpack(packed, etype, values.size), values.reshape(-1))


@pytest.mark.parametrize("name", sorted(SUB_BYTE))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_padding_bits_are_zero(name, data):
    etype = types.parse_type(name)
    values = data.draw(sub_byte_values(name))
    used_bits = values.size * etype.bits
    if used_bits % 8 == 0:
        return
    last = pack(values, etype)[-1]
    if etype.bits == 1:  # most significant bit first: the low bits are the padding
        assert last & ((1 << (8 - used_bits % 8)) - 1) == 0
    else:  # low nibble first: the high nibble is the padding
        assert last >> 4 == 0


@pytest.mark.parametrize("etype", WIDE, ids=str)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_byte_wide_round_trip_is_bit_exact(etype, data):
    """Any bit pattern survives, NaN payloads of the float types included."""
    raw = data.draw(shapes.flatmap(lambda s: hnp.arrays(np.uint8, (math.prod(s) * etype.bits // 8,))))
    values = unpack(raw.tobytes(), etype, raw.size * 8 // etype.bits)
    assert values.dtype == etype.dtype
    assert pack(values, etype) == raw.tobytes()


# Layouts from OpenVINO's own Constant tests (src/core/tests/constant.cpp)
@pytest.mark.parametrize("name, values, expected", [
    ("u4", [1, 0, 1, 0], [0x01, 0x01]),
    ("u4", [1, 1, 1], [0x11, 0x01]),
    ("i4", [-1, -2, -1], [0xEF, 0x0F]),
    ("i4", [1, 1, 1], [0x11, 0x01]),
    ("u1", [1, 1, 1], [0xE0]),
])
def test_openvino_test_vectors(name, values, expected):
    etype = types.parse_type(name)
    assert pack(np.array(values, etype.dtype), etype) == bytes(expected)


def openvino_bytes(name: str, values: np.ndarray) -> bytes:
    """The packed bytes of ``openvino.op.Constant(type, shape, values)``."""
    constant = ov.op.Constant(getattr(ov.Type, name), ov.Shape(list(values.shape)), values.reshape(-1).tolist())
    return np.ascontiguousarray(constant.data).view(np.uint8).tobytes()


@pytest.mark.parametrize("name", ["i4", "u4", "u1", "nf4"])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_pack_matches_openvino_constant(name, data):
    etype = types.parse_type(name)
    values = data.draw(sub_byte_values(name))
    expected = openvino_bytes(name, values)
    assert pack(values, etype) == expected
    np.testing.assert_array_equal(unpack(expected, etype, values.size), values.reshape(-1))


def test_u1_stores_any_nonzero_as_one_like_openvino():
    values = np.array([2, 0, 7, 1, 0, 0, 255, 3, 9], np.uint8)
    assert pack(values, types.u1) == openvino_bytes("u1", values)


@pytest.mark.parametrize("name, bad", [("i4", 8), ("i4", -9), ("u4", 16), ("nf4", 16), ("f4e2m1", 16)])
def test_out_of_range_nibbles_are_refused(name, bad):
    etype = types.parse_type(name)
    with pytest.raises(ValidationError, match=f"value {bad} is out of range for {name}"):
        pack(np.array([0, bad, 1], dtype=np.int16), etype)
