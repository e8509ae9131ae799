"""Element types: both spellings, bit widths and the 4-bit float tables, checked against what
OpenVINO itself writes and computes."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
from defusedxml import ElementTree as SafeET
from openvino import opset13 as ops

from lpir.errors import ValidationError
from lpir.ir import types

OPENVINO_NAMES = ["boolean", "f16", "bf16", "f32", "f64", "i4", "i8", "i16", "i32", "i64", "u1", "u4", "u8",
                  "u16", "u32", "u64", "nf4", "f8e4m3", "f8e5m2", "f8e8m0", "f4e2m1"]


@pytest.fixture(scope="module")
def openvino_spellings(tmp_path_factory) -> dict[str, str]:
    """``element_type`` → port ``precision`` as OpenVINO's serializer writes them, one Parameter per type."""
    params = [ops.parameter([3], getattr(ov.Type, name), name=name) for name in OPENVINO_NAMES]
    path = tmp_path_factory.mktemp("types") / "types.xml"
    ov.save_model(ov.Model([ops.result(p) for p in params], params), str(path))
    spellings = {}
    for layer in SafeET.parse(str(path)).getroot().iter("layer"):
        if layer.get("type") == "Parameter":
            spellings[layer.find("data").get("element_type")] = layer.find("output/port").get("precision")
    return spellings


@pytest.mark.parametrize("name", OPENVINO_NAMES)
def test_both_spellings_match_openvino(name, openvino_spellings):
    etype = types.parse_type(name)
    assert etype.name == name
    assert etype.precision == openvino_spellings[name]
    assert types.parse_type(openvino_spellings[name]) is etype
    assert etype.bits == getattr(ov.Type, name).bitwidth


@pytest.mark.parametrize("spelling, name", [("BIN", "u1"), ("bin", "u1"), ("U1", "u1"), ("FP32", "f32"),
                                            ("fp16", "f16"), ("bool", "boolean"), ("BOOL", "boolean"),
                                            ("UNSPECIFIED", "dynamic"), ("undefined", "dynamic")])
def test_legacy_spellings(spelling, name):
    assert types.parse_type(spelling).name == name


@pytest.mark.parametrize("bad", ["f31", "int8", "", "FP 32"])
def test_unknown_type_is_a_validation_error(bad):
    with pytest.raises(ValidationError, match=f"unknown element type {bad!r}"):
        types.parse_type(bad)


@pytest.mark.parametrize("name, storage_bytes", [("u1", [0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2]),
                                                 ("i4", [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
                                                 ("f32", [4 * n for n in range(11)])])
def test_storage_size_is_padded_to_bytes(name, storage_bytes):
    assert [types.parse_type(name).nbytes(n) for n in range(11)] == storage_bytes


def decoded_by_openvino(name: str) -> np.ndarray:
    """Every 4-bit code of ``name`` (0..15, packed low nibble first) converted to f32 by OpenVINO."""
    source = ov.Tensor(getattr(ov.Type, name), ov.Shape([16]))
    np.asarray(source.data).view(np.uint8)[:] = [2 * k | (2 * k + 1) << 4 for k in range(8)]
    out = ov.Tensor(ov.Type.f32, ov.Shape([16]))
    assert ops.convert(ops.parameter([16], getattr(ov.Type, name)), "f32").evaluate([out], [source])
    return np.array(out.data)


def test_nf4_table_matches_openvino():
    np.testing.assert_array_equal(types.NF4_VALUES, decoded_by_openvino("nf4"))
    np.testing.assert_array_equal(types.to_float(np.arange(16, dtype=np.uint8), types.nf4), decoded_by_openvino("nf4"))


def test_f4e2m1_table_matches_openvino():
    np.testing.assert_array_equal(types.F4E2M1_VALUES, decoded_by_openvino("f4e2m1"))


@pytest.mark.parametrize("name", ["f8e4m3", "f8e5m2", "f8e8m0", "bf16"])
def test_small_float_dtypes_decode_like_openvino(name):
    """Every bit pattern of the 8-bit floats (a sample of bf16) decodes to OpenVINO's value."""
    etype = types.parse_type(name)
    patterns = np.arange(256, dtype=np.uint8) if etype.bits == 8 else np.arange(0, 65536, 97, dtype=np.uint16)
    values = patterns.view(etype.dtype)
    source = ov.Tensor(getattr(ov.Type, name), ov.Shape([patterns.size]))
    np.asarray(source.data).view(patterns.dtype)[:] = patterns
    out = ov.Tensor(ov.Type.f32, ov.Shape([patterns.size]))
    assert ops.convert(ops.parameter([patterns.size], getattr(ov.Type, name)), "f32").evaluate([out], [source])
    np.testing.assert_array_equal(values.astype(np.float32), np.array(out.data))


def test_from_dtype_round_trips():
    for etype in types.ALL_TYPES:
        if not etype.is_packed and etype is not types.dynamic:
            assert types.from_dtype(etype.dtype) is etype
    with pytest.raises(ValidationError, match="complex64"):
        types.from_dtype(np.complex64)
