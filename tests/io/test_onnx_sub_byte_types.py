"""ONNX tensors of 2- and 4-bit types (UINT2, INT4, UINT4, FLOAT4E2M1) and FLOAT8E8M0 as model inputs and
outputs: import, the interpreter's handling, Convert against OpenVINO, IR that OpenVINO reads.

Oracles: ONNX's reference evaluator (ONNX Runtime does not run these types as graph inputs) and
OpenVINO's Convert (``node.evaluate`` and the CPU plugin).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import openvino as ov
import openvino.opset13 as ovops
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lpir
from lpir.errors import ValidationError
from lpir.io.onnx.backend import LpirBackend
from lpir.ir import types
from lpir.ops.quantization import convert
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
import ovmodels

SUB_BYTE = {TensorProto.UINT2: ml_dtypes.uint2, TensorProto.INT4: ml_dtypes.int4, TensorProto.UINT4: ml_dtypes.uint4,
            TensorProto.FLOAT4E2M1: ml_dtypes.float4_e2m1fn}
SUB_BYTE_TYPES = ["u2", "i4", "u4", "f4e2m1"]


def _all_values(etype: str) -> np.ndarray:
    """Every value of a sub-byte type, as lpir stores it (f4e2m1: its codes)."""
    et = types.parse_type(etype)
    return np.arange(-8, 8, dtype=np.int8) if et.is_signed else np.arange(1 << et.bits, dtype=np.uint8)


def _model(nodes, inputs, outputs):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("to", sorted(SUB_BYTE))
def test_cast_to_and_from_sub_byte_types_matches_onnx_reference(to):
    x = np.random.default_rng(to).uniform(-20, 20, (4, 6)).astype(np.float32)
    x[0, :3] = [0.25, 0.75, -2.5]  # halfway cases
    model = _model(
        [helper.make_node("Cast", ["x"], ["q"], to=to), helper.make_node("Cast", ["q"], ["y"], to=TensorProto.FLOAT)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6])],
        [helper.make_tensor_value_info("q", to, [4, 6]), helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])])
    expected_q, expected_y = ReferenceEvaluator(model).run(None, {"x": x})
    q, y = LpirBackend.prepare(model).run([x])
    assert q.dtype == SUB_BYTE[to]
    np.testing.assert_array_equal(q.astype(np.float32), expected_q.astype(np.float32))
    np.testing.assert_array_equal(y, expected_y)


@pytest.mark.parametrize("etype", sorted(SUB_BYTE))
def test_sub_byte_graph_input_through_movement_ops(etype):
    dtype = SUB_BYTE[etype]
    bits = 2 if etype == TensorProto.UINT2 else 4
    values = np.random.default_rng(etype).integers(0, 1 << bits, (2, 3, 4)).astype(np.uint8)
    x = values.view(dtype) if dtype is ml_dtypes.float4_e2m1fn else (values.astype(np.int8) - (8 if etype == TensorProto.INT4 else 0)).astype(dtype)
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [4, 6])
    model = _model(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]), helper.make_node("Reshape", ["t", "shape"], ["r"]),
         helper.make_node("Cast", ["r"], ["y"], to=TensorProto.FLOAT)],
        [helper.make_tensor_value_info("x", etype, [2, 3, 4])],
        [helper.make_tensor_value_info("r", etype, [4, 6]), helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])])
    model.graph.initializer.append(shape)
    expected_r, expected_y = ReferenceEvaluator(model).run(None, {"x": x})
    r, y = LpirBackend.prepare(model).run([x])
    assert r.dtype == dtype
    np.testing.assert_array_equal(r.astype(np.float32), expected_r.astype(np.float32))
    np.testing.assert_array_equal(y, expected_y)


def test_sub_byte_initializer_is_stored_in_its_type():
    codes = np.arange(16, dtype=np.uint8).reshape(2, 8)
    weight = helper.make_tensor("w", TensorProto.FLOAT4E2M1, [2, 8], codes.view(ml_dtypes.float4_e2m1fn))
    model = _model([helper.make_node("Cast", ["w"], ["y"], to=TensorProto.FLOAT)], [],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])])
    model.graph.initializer.append(weight)
    (y,) = LpirBackend.prepare(model).run([])
    np.testing.assert_array_equal(y, types.F4E2M1_VALUES.reshape(2, 8))
    (expected,) = ReferenceEvaluator(model).run(None, {})
    np.testing.assert_array_equal(y, expected)


def test_out_of_range_input_is_refused():
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                   [helper.make_tensor_value_info("x", TensorProto.INT4, [3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    rep = LpirBackend.prepare(model)
    np.testing.assert_array_equal(rep.run([np.array([-8, 0, 7], np.int8)])[0], [-8, 0, 7])
    with pytest.raises(ValidationError, match="'x'.* 9 is not a i4 value"):
        rep.run([np.array([-8, 0, 9], np.int8)])
    with pytest.raises(ValidationError, match="'x' must be i4"):
        rep.run([np.array([-8, 0, 7], np.float32)])


def test_float4_input_must_hold_float4_values():
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT4E2M1, [3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    rep = LpirBackend.prepare(model)
    np.testing.assert_array_equal(rep.run([np.array([-6, 0.5, 3], np.float32)])[0], [-6, 0.5, 3])
    for bad in (0.75, np.nan):
        with pytest.raises(ValidationError, match="is not a f4e2m1 value"):
            rep.run([np.array([-6, 0.5, bad], np.float32)])


def _ov_convert(x: np.ndarray, source: str, destination: str) -> np.ndarray:
    """OpenVINO's Convert evaluated on ``x`` (sub-byte sources given one value per numpy item)."""
    parameter = ovops.parameter(list(x.shape), getattr(ov.Type, source))
    node = ovops.convert(parameter, getattr(ov.Type, destination))
    if source in SUB_BYTE_TYPES:
        source_tensor = ov.Tensor(getattr(ov.Type, source), list(x.shape))
        np.asarray(source_tensor.data)[...] = np.frombuffer(
            lpir.ir.packing.pack(x, types.parse_type(source)), np.uint8).reshape(np.asarray(source_tensor.data).shape)
    else:
        source_tensor = ov.Tensor(x)
    out = ov.Tensor(getattr(ov.Type, destination), list(x.shape))
    assert node.evaluate([out], [source_tensor])
    return np.array(out.data)


finite_f32 = arrays(np.float32, st.integers(1, 40), elements=st.floats(-1e6, 1e6, width=32))


@settings(max_examples=40, deadline=None)
@given(x=finite_f32, destination=st.sampled_from(SUB_BYTE_TYPES))
def test_convert_f32_to_sub_byte_types_matches_openvino(x, destination):
    etype = types.parse_type(destination)
    packed = _ov_convert(x, "f32", destination)  # two per byte; an odd tail's padding is undefined
    expected = lpir.ir.packing.unpack(packed.view(np.uint8).tobytes(), etype, x.size)
    got = convert(x, etype)
    stored = got if etype.is_integral else types.from_ml_dtypes(got.astype(ml_dtypes.float4_e2m1fn), etype)
    np.testing.assert_array_equal(stored, expected)


@pytest.mark.parametrize("source", SUB_BYTE_TYPES)
def test_convert_sub_byte_types_to_f32_matches_openvino(source):
    etype = types.parse_type(source)
    stored = _all_values(source)
    as_ops_see_it = types.to_float(stored, etype) if etype is types.f4e2m1 else stored
    np.testing.assert_array_equal(convert(as_ops_see_it, types.f32), _ov_convert(stored, source, "f32"))


@pytest.mark.parametrize("etype", SUB_BYTE_TYPES)
def test_packing_matches_openvino_constants(etype):
    values = np.resize(_all_values(etype), 23)  # an odd count: a padded last byte
    et = types.parse_type(etype)
    numbers = types.to_float(values, et) if et is types.f4e2m1 else values  # a Constant takes f4e2m1 values
    constant = ov.op.Constant(getattr(ov.Type, etype), ov.Shape([values.size]), numbers.tolist())
    stored = np.frombuffer(lpir.ir.packing.pack(values, types.parse_type(etype)), np.uint8)
    assert stored.tobytes() == np.asarray(constant.data).view(np.uint8).tobytes()
    np.testing.assert_array_equal(lpir.ir.packing.unpack(stored.tobytes(), types.parse_type(etype), values.size), values)


@settings(max_examples=40, deadline=None)
@given(bits=arrays(np.uint32, st.integers(1, 60)))
def test_convert_f32_to_f8e8m0_matches_openvino(bits):
    x = bits.view(np.float32)
    expected = _ov_convert(x, "f32", "f8e8m0").view(np.uint8)
    np.testing.assert_array_equal(convert(x, types.f8e8m0).view(np.uint8), expected)


@pytest.mark.parametrize("etype", SUB_BYTE_TYPES)
def test_sub_byte_parameter_ir_runs_in_openvino(tmp_path, etype):
    """IR with a 2- or 4-bit Parameter, written by lpir: OpenVINO reads it and computes what lpir does."""
    from lpir.ir.graph import Model, make_parameter, make_result
    from lpir.ops import build
    parameter = make_parameter(etype, [2, 8], name="x")
    converted = build("Convert", [parameter.outputs[0]], {"destination_type": "f32"})
    model = Model([parameter], [make_result(converted.outputs[0])], name="four_bit_input")
    lpir.save_model(model, tmp_path / "m.xml")
    assert lpir.read_model(tmp_path / "m.xml").parameters[0].outputs[0].etype is types.parse_type(etype)
    read = ovmodels.core().read_model(str(tmp_path / "m.xml"))
    assert read.inputs[0].element_type == getattr(ov.Type, etype)
    codes = np.resize(_all_values(etype), 16).reshape(2, 8)
    x = codes.view(ml_dtypes.float4_e2m1fn) if etype == "f4e2m1" else codes
    ov_input = ov.Tensor(getattr(ov.Type, etype), [2, 8])
    np.asarray(ov_input.data)[...] = np.frombuffer(
        lpir.ir.packing.pack(codes, types.parse_type(etype)), np.uint8).reshape(-1)
    compiled = ovmodels.core().compile_model(read, "CPU", ovmodels.F32_HINT)
    expected = np.array(compiled([ov_input])[compiled.outputs[0]])
    lpir_input = x.astype(types.ML_DTYPES[types.parse_type(etype)]) if etype != "f4e2m1" else x
    np.testing.assert_array_equal(lpir.compile_model(model)([lpir_input])[0], expected)


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
def test_cast_to_float8e8m0_rounds_as_onnx_reference(round_mode):
    rng = np.random.default_rng(len(round_mode))
    x = (rng.uniform(0.5, 2, 200) * np.float32(2.0) ** rng.integers(-126, 127, 200)).astype(np.float32)
    ties = np.float32(1.5) * np.float32(2.0) ** np.arange(-20, 20, dtype=np.float32)
    edges = np.array([1, 2, 0.25, 2.0 ** 127, 2.0 ** 126 * 1.5, 1e-20, np.nan], np.float32)
    x = np.concatenate([x, ties, edges])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E8M0, round_mode=round_mode)],
                          "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [x.size])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT8E8M0, [x.size])]),
        opset_imports=[helper.make_opsetid("", 24)])
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    (y,) = LpirBackend.prepare(model).run([x])
    assert y.dtype == ml_dtypes.float8_e8m0fnu
    np.testing.assert_array_equal(y.view(np.uint8), expected.view(np.uint8))
