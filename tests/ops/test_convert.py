"""Convert and ConvertLike against OpenVINO's reference evaluation (node.evaluate).

OpenVINO returns sub-byte results packed and bf16/f8 results as raw bits; both sides are
compared as bit patterns after unpacking with lpir's own (separately tested) packing.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import openvino as ov
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13
from ops.oracle import lpir_op

from lpir.errors import ValidationError
from lpir.ir import make_node, make_parameter, types
from lpir.ir.packing import unpack
from lpir.ops import infer_node

DESTINATIONS = ["boolean", "f16", "bf16", "f32", "f64", "f8e4m3", "f8e5m2", "i4", "u4", "u1",
                "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64"]


def _bits(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == np.bool_:
        return values.astype(np.uint8)
    return values.view(f"u{values.itemsize}") if values.dtype.kind in "fV" else values


def _openvino_evaluate(node: ov.Node, inputs: list[ov.Tensor], dst) -> np.ndarray:
    out = ov.Tensor(node.get_output_element_type(0), node.get_output_shape(0))
    assert node.evaluate([out], inputs), f"OpenVINO cannot evaluate Convert to {dst}"
    raw = np.array(out.data)
    etype = types.parse_type(dst)
    if etype.is_packed:
        count = int(np.prod(node.get_output_shape(0), dtype=np.int64))
        return unpack(raw.tobytes(), etype, count)
    return raw


def _openvino_convert(x: np.ndarray, dst: str) -> np.ndarray:
    return _openvino_evaluate(opset13.convert(opset13.constant(x), dst), [ov.Tensor(x)], dst)


def _lpir_convert(x: np.ndarray, dst: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return lpir_op("Convert", [x], {"destination_type": dst})[0]


def _assert_same(x: np.ndarray, dst: str) -> None:
    ours, theirs = _lpir_convert(x, dst), _openvino_convert(x, dst)
    mismatch = _bits(ours).reshape(-1) != _bits(theirs).reshape(-1)
    assert not mismatch.any(), f"{x.dtype}->{dst}: {x.reshape(-1)[mismatch]} gave {ours.reshape(-1)[mismatch]}, " \
                               f"OpenVINO {theirs.reshape(-1)[mismatch]}"


EDGE_FLOATS = np.array([-300.7, -129.5, -128.6, -2.5, -1.5, -0.5, -0.0, 0.5, 1.5, 2.5, 2.7, 127.6, 128.4,
                        255.5, 256.2, 300.9, 65504, 65519, 65520, 70000, 448, 464, 57344, 1e-8, 3e-5, -1e6],
                       dtype=np.float32)


@pytest.mark.parametrize("dst", DESTINATIONS)
def test_f32_edge_values_truncate_wrap_and_round_as_openvino(dst):
    """Truncation toward zero, wrapping into narrow integers, f16/bf16/f8 rounding and overflow."""
    _assert_same(EDGE_FLOATS, dst)


def test_f32_to_integer_truncates_and_wraps():
    """Spelled out: OpenVINO's reference truncates (no rounding) and wraps (no saturation)."""
    x = np.array([-129.5, -2.5, 2.7, 128.4, 255.5, 256.2], dtype=np.float32)
    np.testing.assert_array_equal(_lpir_convert(x, "i8"), [127, -2, 2, -128, -1, 0])
    np.testing.assert_array_equal(_lpir_convert(x, "u8"), [127, 254, 2, 128, 255, 0])
    np.testing.assert_array_equal(_lpir_convert(x, "i4"), [-1, -2, 2, 0, -1, 0])


@pytest.mark.parametrize("dst", ["i8", "u8", "i16", "i32", "boolean", "i4", "u4", "u1"])
def test_nan_and_infinity_to_integers(dst):
    _assert_same(np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32), dst)


@pytest.mark.parametrize("source", [np.int8, np.uint8, np.int32, np.int64, np.float16, np.float64, np.bool_])
@pytest.mark.parametrize("dst", DESTINATIONS)
def test_other_sources(source, dst):
    values = np.array([-70000, -300, -129, -8, -1, 0, 1, 7, 8, 15, 16, 127, 128, 255, 256, 449, 65519, 65520, 70000])
    if np.dtype(source).kind in "iu":
        info = np.iinfo(source)
        values = values[(values >= info.min) & (values <= info.max)]
    if source is np.float16:
        values = values[np.abs(values) < 65504] + 0.5
    _assert_same(values.astype(source), dst)


@pytest.mark.parametrize("dst", ["f32", "f16", "i8", "u8", "i4", "u4"])
def test_int32_extremes(dst):
    _assert_same(np.array([2**31 - 1, -2**31, 2**24 + 1, -(2**24) - 3], dtype=np.int32), dst)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(DESTINATIONS), st.integers(0, 2**32 - 1))
def test_random_f32_bit_patterns(dst, seed):
    """Any finite f32 (normal, subnormal, huge) within the int32 range, to any destination."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = x[np.isfinite(x) & (np.abs(x) < 2.0**31)]
    _assert_same(np.concatenate([x, rng.uniform(-300, 300, 2000).astype(np.float32)]), dst)


# ---------------------------------------------------------------- sub-byte sources (weights)

def _constant_convert(etype: ov.Type, values, dst: str) -> np.ndarray:
    constant = ov.op.Constant(etype, ov.Shape([len(values)]), list(values))
    return _openvino_evaluate(opset13.convert(constant, dst), [constant.get_tensor_view()], dst)


@pytest.mark.parametrize("etype, values, numpy_dtype", [
    (ov.Type.i4, list(range(-8, 8)), np.int8),
    (ov.Type.u4, list(range(16)), np.uint8),
    (ov.Type.u1, [1, 0, 1, 1, 0, 0, 1], np.uint8),
])
@pytest.mark.parametrize("dst", ["f32", "f16", "bf16", "i8", "u8", "i32"])
def test_decompression_from_sub_byte_constants_is_exact(etype, values, numpy_dtype, dst):
    """lpir holds i4/u4/u1 unpacked (int8/uint8); Convert must give what OpenVINO decodes."""
    ours = _lpir_convert(np.array(values, dtype=numpy_dtype), dst)
    np.testing.assert_array_equal(_bits(ours), _bits(_constant_convert(etype, values, dst)))


@pytest.mark.parametrize("dst", ["f32", "f16"])
def test_nf4_table_matches_openvino_decoding(dst):
    """NF4_VALUES is the table OpenVINO decodes nf4 codes with; Convert of decoded values is exact."""
    theirs = _constant_convert(ov.Type.nf4, list(range(16)), dst)
    if dst == "f32":
        np.testing.assert_array_equal(_bits(types.NF4_VALUES), _bits(theirs))
    np.testing.assert_array_equal(_bits(_lpir_convert(types.NF4_VALUES, dst)), _bits(theirs))


def test_convert_to_nf4_picks_the_nearest_value_as_openvino_constants_do():
    x = np.linspace(-1.2, 1.2, 241, dtype=np.float32)
    ours = _lpir_convert(x, "nf4")
    # OpenVINO's nf4 Constant built from floats stores the nearest code; decode it back
    theirs = _constant_convert(ov.Type.nf4, x.tolist(), "f32")
    np.testing.assert_array_equal(ours, theirs)
    assert set(np.unique(ours)) <= set(types.NF4_VALUES)


def test_convert_to_f4e2m1_rounds_to_representable_values():
    x = np.array([0.2, 0.25, 0.3, 0.8, 1.25, 1.75, 2.5, 3.5, 5, 7, 100, -0.7, -2.4], dtype=np.float32)
    result = _lpir_convert(x, "f4e2m1")
    expected = [0, 0, 0.5, 1, 1, 2, 2, 4, 4, 6, 6, -0.5, -2]  # round half to even on the e2m1 grid
    np.testing.assert_array_equal(result, np.array(expected, dtype=np.float32))


# ---------------------------------------------------------------- ConvertLike, inference, errors

@pytest.mark.parametrize("like_dtype", [np.int8, np.float16, np.uint8, np.bool_])
def test_convert_like_is_convert_to_the_like_type(like_dtype):
    """OpenVINO's core cannot evaluate ConvertLike; its meaning is Convert to the like input's type."""
    x = EDGE_FLOATS[:16]
    like = np.zeros((2,), dtype=like_dtype)
    ours = lpir_op("ConvertLike", [x, like])[0]
    dst = types.from_dtype(like_dtype).name
    np.testing.assert_array_equal(_bits(ours), _bits(_openvino_convert(x, dst)))


def test_inference_keeps_dynamic_shape():
    from lpir.ir import DYNAMIC
    node = make_node("Convert", [make_parameter(types.f32, (DYNAMIC, 4)).outputs[0]], {"destination_type": "u4"})
    infer_node(node)
    assert node.outputs[0].etype is types.u4 and node.outputs[0].shape == (DYNAMIC, 4)


@pytest.mark.parametrize("dst, message", [("dynamic", "destination_type=dynamic"), ("f17", "unknown element type")])
def test_invalid_destination_type(dst, message):
    node = make_node("Convert", [make_parameter(types.f32, (2,)).outputs[0]], {"destination_type": dst},
                     name="cvt")
    with pytest.raises(ValidationError, match=message):
        infer_node(node)


def test_bf16_rounding_is_openvinos_not_round_to_nearest_even():
    """OpenVINO rounds a dropped half up only when the kept part is odd: 70000 -> 69632."""
    x = np.array([70000.0], dtype=np.float32)  # 0x4788B800: even kept part, dropped 0xB800
    assert _lpir_convert(x, "bf16").astype(np.float32)[0] == 69632.0
    assert x.astype(ml_dtypes.bfloat16).astype(np.float32)[0] == 70144.0  # IEEE rounding differs
    _assert_same(x, "bf16")
