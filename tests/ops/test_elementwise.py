"""Binary arithmetic, comparison, logical ops and Select against OpenVINO.

Oracle: the core reference (node.evaluate), exactly for integers and comparisons, within
1 ulp for float arithmetic; the CPU plugin (f32 hint) for the few ops the reference cannot
evaluate (Mod on floats, SquaredDifference on integers), with the tolerance stated there.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13
from ops.oracle import lpir_op, openvino_op

from lpir.errors import EvaluationError, ValidationError
from lpir.ir import DYNAMIC, make_node, make_parameter, types
from lpir.ops import infer_node
from lpir.ops.elementwise import PDPD_AXIS

ARITHMETIC = {
    "Add": opset13.add, "Subtract": opset13.subtract, "Multiply": opset13.multiply, "Divide": opset13.divide,
    "Power": opset13.power, "Maximum": opset13.maximum, "Minimum": opset13.minimum,
    "SquaredDifference": opset13.squared_difference, "FloorMod": opset13.floor_mod, "Mod": opset13.mod,
}
COMPARISON = {
    "Equal": opset13.equal, "NotEqual": opset13.not_equal, "Less": opset13.less, "LessEqual": opset13.less_equal,
    "Greater": opset13.greater, "GreaterEqual": opset13.greater_equal,
}
LOGICAL = {"LogicalAnd": opset13.logical_and, "LogicalOr": opset13.logical_or, "LogicalXor": opset13.logical_xor}
_NO_REFERENCE = {("Mod", "float32"), ("Mod", "float16"), ("SquaredDifference", "int32"),
                 ("SquaredDifference", "float16")}


def _operands(op: str, dtype, shapes=((2, 3, 4), (3, 1)), seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "i":
        a, b = (rng.integers(-20, 20, s).astype(dtype) for s in shapes)
        if op in ("Divide", "FloorMod", "Mod"):
            b[b == 0] = 3
        if op == "Power":
            a, b = np.clip(a, -6, 6), np.clip(b, -3, 5)
        return a, b
    a, b = (rng.uniform(-8, 8, s).astype(dtype) for s in shapes)
    if op == "Power":
        a = np.abs(a) + dtype(0.5)
    a.flat[:3] = b.flat[:3]  # some equal pairs for comparisons
    return a, b


def _openvino(factory, inputs, *, reference=True, **node_attrs):
    if reference and node_attrs:
        node = factory(*[opset13.constant(v) for v in inputs])
        for key, value in node_attrs.items():
            node.set_attribute(key, value)
        out = ov.Tensor(node.get_output_element_type(0), node.get_output_shape(0))
        assert node.evaluate([out], [ov.Tensor(v) for v in inputs])
        return np.array(out.data)
    return openvino_op(factory, inputs, reference=reference)[0]


def _assert_close_ulp(result, expected):
    assert result.dtype == expected.dtype and result.shape == expected.shape
    if result.dtype.kind == "f":
        np.testing.assert_array_max_ulp(result, expected, maxulp=1)
    else:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
@pytest.mark.parametrize("op", ARITHMETIC)
def test_arithmetic_matches_openvino(op, dtype):
    a, b = _operands(op, dtype)
    result = lpir_op(op, [a, b])[0]
    if (op, np.dtype(dtype).name) in _NO_REFERENCE:
        expected = _openvino(ARITHMETIC[op], [a, b], reference=False)  # computes in f32, rounds once
        np.testing.assert_allclose(result.astype(np.float64), expected.astype(np.float64), rtol=1e-6, atol=1e-6)
    else:
        _assert_close_ulp(result, _openvino(ARITHMETIC[op], [a, b]))


@pytest.mark.parametrize("pythondiv", [True, False])
def test_integer_divide_floors_or_truncates(pythondiv):
    a = np.array([-7, 7, -7, 7, -8, 9, 0], dtype=np.int32)
    b = np.array([2, -2, -2, 2, 3, 3, -5], dtype=np.int32)
    result = lpir_op("Divide", [a, b], {"m_pythondiv": pythondiv})[0]
    np.testing.assert_array_equal(result, _openvino(opset13.divide, [a, b], m_pythondiv=pythondiv))
    np.testing.assert_array_equal(result, np.floor_divide(a, b) if pythondiv else np.trunc(a / b).astype(np.int32))


@pytest.mark.parametrize("op", ["Divide", "FloorMod", "Mod"])
def test_integer_division_by_zero_is_an_error(op):
    with pytest.raises(EvaluationError, match="division by zero"):
        lpir_op(op, [np.array([1, 2], np.int32), np.array([1, 0], np.int32)])


def test_overflow_gives_ieee_results_without_warnings():
    big = np.array([3e38, -3e38], np.float32)
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(lpir_op("Multiply", [big, big])[0], [np.inf, np.inf])
        np.testing.assert_array_equal(lpir_op("Power", [big, np.float32(2)])[0], [np.inf, np.inf])


def test_float_division_by_zero_gives_ieee_results_without_warnings():
    a, b = np.array([1, -1, 0], np.float32), np.zeros(3, np.float32)
    with np.errstate(all="raise"):
        result = lpir_op("Divide", [a, b])[0]
    np.testing.assert_array_equal(result, [np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("op", ["Maximum", "Minimum", "Add", "Less", "Equal", "NotEqual"])
def test_nan_operands_as_reference(op):
    a = np.array([np.nan, -1, 1, np.inf, np.nan, -np.inf], np.float32)
    b = np.array([1, np.nan, np.nan, 0, np.nan, np.inf], np.float32)
    result = lpir_op(op, [a, b])[0]
    np.testing.assert_array_equal(result, _openvino({**ARITHMETIC, **COMPARISON}[op], [a, b]))


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("op", COMPARISON)
def test_comparisons_match_openvino(op, dtype):
    a, b = _operands(op, dtype)
    result = lpir_op(op, [a, b])[0]
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result, _openvino(COMPARISON[op], [a, b]))


@pytest.mark.parametrize("op", [*LOGICAL, "LogicalNot"])
def test_logical_ops_match_openvino(op):
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 3, 4)) < 0.5, rng.random((3, 1)) < 0.5
    if op == "LogicalNot":
        np.testing.assert_array_equal(lpir_op(op, [a])[0], _openvino(opset13.logical_not, [a]))
    else:
        np.testing.assert_array_equal(lpir_op(op, [a, b])[0], _openvino(LOGICAL[op], [a, b]))


@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((3, 1), (2, 1, 4), ()), ((4,), (), (3, 4))])
def test_select_numpy_broadcasting(shapes):
    rng = np.random.default_rng(4)
    cond = rng.random(shapes[0]) < 0.5
    then, other = rng.normal(size=shapes[1]).astype(np.float32), rng.normal(size=shapes[2]).astype(np.float32)
    np.testing.assert_array_equal(lpir_op("Select", [cond, then, other])[0],
                                  _openvino(opset13.select, [cond, then, other]))


# ---------------------------------------------------------------- pdpd broadcasting

@pytest.mark.parametrize("b_shape, axis", [((3, 1), 1), ((3, 4), 1), ((4, 5), -1), ((2, 3, 1, 1), -1), ((5,), 3),
                                           ((1,), -1), ((2, 3, 4, 5), -1)])
def test_pdpd_broadcast_with_axis_matches_openvino(b_shape, axis):
    a = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    b = np.random.default_rng(5).normal(size=b_shape).astype(np.float32)
    result = lpir_op("Add", [a, b], {"auto_broadcast": "pdpd", PDPD_AXIS: axis})[0]
    node = opset13.add(opset13.constant(a), opset13.constant(np.ones((1,), np.float32)), auto_broadcast="pdpd")
    node.set_attribute(PDPD_AXIS, axis)
    node.set_argument(1, opset13.constant(b).output(0))
    node.validate_and_infer_types()
    out = ov.Tensor(node.get_output_element_type(0), node.get_output_shape(0))
    assert node.evaluate([out], [ov.Tensor(a), ov.Tensor(b)])
    np.testing.assert_array_equal(result, np.array(out.data))


@pytest.mark.parametrize("b_shape, axis", [((3, 1), -1), ((4,), 1), ((2, 3, 4, 5, 1), -1), ((3,), -2)])
def test_pdpd_rejects_misaligned_shapes(b_shape, axis):
    with pytest.raises(ValidationError, match="pdpd"):
        _infer("Add", [(types.f32, (2, 3, 4, 5)), (types.f32, b_shape)], {"auto_broadcast": "pdpd", PDPD_AXIS: axis})


def test_select_pdpd_aligns_condition_and_else_to_then():
    cond = np.array([True, False, True])
    then = np.arange(6, dtype=np.float32).reshape(2, 3)
    other = np.full((3,), -1, np.float32)
    result = lpir_op("Select", [cond, then, other], {"auto_broadcast": "pdpd"})[0]
    np.testing.assert_array_equal(result, np.where(cond, then, other))


# ---------------------------------------------------------------- property test

@st.composite
def broadcast_pair(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    other = [d if draw(st.booleans()) else 1 for d in shape[len(shape) - draw(st.integers(0, len(shape))):]]
    return (tuple(shape), tuple(other)) if draw(st.booleans()) else (tuple(other), tuple(shape))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "FloorMod", "Power",
                        "Less", "Equal"]),
       st.sampled_from([np.float32, np.int32]), broadcast_pair(), st.integers(0, 2**16))
def test_random_broadcasting_matches_reference(op, dtype, shapes, seed):
    a, b = _operands(op, dtype, shapes, seed)
    factory = {**ARITHMETIC, **COMPARISON}[op]
    _assert_close_ulp(lpir_op(op, [a, b])[0], _openvino(factory, [a, b]))


# ---------------------------------------------------------------- inference and validation

def _infer(op, inputs, attrs=None):
    node = make_node(op, [make_parameter(t, s).outputs[0] for t, s in inputs], attrs or {}, name="elt")
    infer_node(node)
    return node.outputs[0]


def test_inference_with_dynamic_dims():
    out = _infer("Multiply", [(types.f32, (DYNAMIC, 3, 1)), (types.f32, (4,))])
    assert out.shape == (DYNAMIC, 3, 4) and out.etype is types.f32
    out = _infer("Less", [(types.i64, (DYNAMIC,)), (types.i64, (5,))])
    assert out.shape == (5,) and out.etype is types.boolean


@pytest.mark.parametrize("op, inputs, attrs, message", [
    ("Add", [(types.f32, (2, 3)), (types.f16, (2, 3))], {}, "element types must be equal"),
    ("Add", [(types.f32, (2, 3)), (types.f32, (4,))], {}, "do not broadcast"),
    ("Add", [(types.f32, (2, 3)), (types.f32, (3,))], {"auto_broadcast": "none"}, "equal shapes"),
    ("Add", [(types.f32, (2, 3)), (types.f32, (3,))], {"auto_broadcast": "explicit"}, "explicit"),
    ("LogicalAnd", [(types.f32, (2,)), (types.f32, (2,))], {}, "boolean inputs"),
    ("LogicalNot", [(types.i32, (2,))], {}, "boolean input"),
    ("Select", [(types.f32, (2,)), (types.f32, (2,)), (types.f32, (2,))], {}, "boolean condition"),
    ("Select", [(types.boolean, (2,)), (types.f32, (2,)), (types.i32, (2,))], {}, "element types must be equal"),
])
def test_invalid_inputs_name_the_node(op, inputs, attrs, message):
    with pytest.raises(ValidationError, match=message) as info:
        _infer(op, inputs, attrs)
    assert "'elt'" in str(info.value)


def test_partial_values_flow_through_equal_select_multiply():
    """ONNX Expand's target, ``Select(Equal(ShapeOf(x), -1), ones, ShapeOf(x))``, keeps the known
    hidden size of ``x [?, ?, 384]``, as OpenVINO infers it (MiniLM's attention mask path)."""
    import openvino as ov
    from openvino import opset13 as o

    from lpir.ir import DYNAMIC, make_constant
    from lpir.ops import build

    def lpir_chain():
        x = make_parameter("f32", (DYNAMIC, DYNAMIC, 384))
        shape = build("ShapeOf", [x.output], {"output_type": types.i64}, opset=3).output
        is_minus_one = build("Equal", [shape, make_constant(np.int64(-1)).output]).output
        ones = make_constant(np.ones(3, np.int64)).output
        target = build("Select", [is_minus_one, ones, shape]).output
        doubled = build("Multiply", [target, make_constant(np.array([1, 2, 1], np.int64)).output]).output
        y = make_parameter("f32", (1, 1, 1))
        return build("Broadcast", [y.output, doubled], {"mode": "bidirectional"}, opset=3).output.shape

    x = o.parameter(ov.PartialShape([-1, -1, 384]), np.float32)
    shape = o.shape_of(x, "i64")
    target = o.select(o.equal(shape, o.constant(np.int64(-1))), o.constant(np.ones(3, np.int64)), shape)
    doubled = o.multiply(target, o.constant(np.array([1, 2, 1], np.int64)))
    expected = o.broadcast(o.parameter([1, 1, 1], np.float32), doubled, "bidirectional").get_output_partial_shape(0)
    assert expected[2].get_length() == 384
    assert lpir_chain() == (DYNAMIC, DYNAMIC, 384)
