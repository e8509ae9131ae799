"""Activations and unary math against OpenVINO.

f32: OpenVINO's CPU plugin with the f32 hint, within rtol 2e-6 / atol 1e-6 (transcendental
functions differ by a few ulp between libm/JIT kernels and numpy). f16: the core reference
(node.evaluate; the CPU plugin where the reference has no f16 kernel), within 1 f16 ulp or
1e-3 (the reference rounds each step in f16, lpir once from f32).
Integer inputs: the core reference, exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError
from lpir.ir import make_node, make_parameter, types
from lpir.ops import infer_node

F32_TOLERANCE = {"rtol": 2e-6, "atol": 1e-6}
# The CPU kernel of SoftPlus is off by up to 2e-6 for very negative inputs (it even goes negative).
_LOOSER = {"SoftPlus": {"rtol": 2e-6, "atol": 3e-6}}

# name: (lpir op, opset, attrs, OpenVINO factory, parameter inputs, input range)
_SCALAR = np.float32
CASES = {
    "Relu": ("Relu", 1, {}, opset13.relu, [], (-5, 5)),
    "Sigmoid": ("Sigmoid", 1, {}, opset13.sigmoid, [], (-20, 20)),
    "Tanh": ("Tanh", 1, {}, opset13.tanh, [], (-10, 10)),
    "Clamp": ("Clamp", 1, {"min": -1.5, "max": 2.25}, lambda x: opset13.clamp(x, -1.5, 2.25), [], (-5, 5)),
    "HSwish": ("HSwish", 4, {}, opset13.hswish, [], (-6, 6)),
    "HSigmoid": ("HSigmoid", 5, {}, opset13.hsigmoid, [], (-6, 6)),
    "HardSigmoid": ("HardSigmoid", 1, {}, opset13.hard_sigmoid, [_SCALAR(0.2), _SCALAR(0.5)], (-6, 6)),
    "Swish": ("Swish", 4, {}, opset13.swish, [], (-10, 10)),
    "Swish_beta": ("Swish", 4, {}, opset13.swish, [_SCALAR(1.7)], (-10, 10)),
    "Gelu2": ("Gelu", 2, {}, lambda x: opset13.gelu(x, "erf"), [], (-6, 6)),
    "Gelu7_erf": ("Gelu", 7, {"approximation_mode": "erf"}, lambda x: opset13.gelu(x, "erf"), [], (-6, 6)),
    "Gelu7_tanh": ("Gelu", 7, {"approximation_mode": "tanh"}, lambda x: opset13.gelu(x, "tanh"), [], (-6, 6)),
    "Erf": ("Erf", 1, {}, opset13.erf, [], (-4, 4)),
    "Exp": ("Exp", 1, {}, opset13.exp, [], (-20, 20)),
    "Log": ("Log", 1, {}, opset13.log, [], (1e-3, 100)),
    "Sqrt": ("Sqrt", 1, {}, opset13.sqrt, [], (0, 100)),
    "Abs": ("Abs", 1, {}, opset13.absolute, [], (-5, 5)),
    "Negative": ("Negative", 1, {}, opset13.negative, [], (-5, 5)),
    "Floor": ("Floor", 1, {}, opset13.floor, [], (-5, 5)),
    "Ceiling": ("Ceiling", 1, {}, opset13.ceiling, [], (-5, 5)),
    "Round_even": ("Round", 5, {"mode": "half_to_even"}, lambda x: opset13.round(x, "half_to_even"), [], (-5, 5)),
    "Round_away": ("Round", 5, {"mode": "half_away_from_zero"}, lambda x: opset13.round(x, "half_away_from_zero"),
                   [], (-5, 5)),
    "Sign": ("Sign", 1, {}, opset13.sign, [], (-5, 5)),
    "Elu": ("Elu", 1, {"alpha": 0.7}, lambda x: opset13.elu(x, 0.7), [], (-8, 5)),
    "PRelu_scalar": ("PRelu", 1, {}, opset13.prelu, [np.array([0.25], np.float32)], (-5, 5)),
    "PRelu_channel": ("PRelu", 1, {}, opset13.prelu, [np.array([0.1, -0.5, 2.0], np.float32)], (-5, 5)),
    "Mish": ("Mish", 4, {}, opset13.mish, [], (-10, 10)),
    "SoftPlus": ("SoftPlus", 4, {}, opset13.softplus, [], (-20, 30)),
    "SoftSign": ("SoftSign", 9, {}, opset13.softsign, [], (-10, 10)),
    "Sin": ("Sin", 1, {}, opset13.sin, [], (-7, 7)),
    "Cos": ("Cos", 1, {}, opset13.cos, [], (-7, 7)),
    "Identity": ("Identity", 16, {}, lambda x: opset13.convert(x, "f32"), [], (-5, 5)),
    "Selu": ("Selu", 1, {}, opset13.selu, [_SCALAR(1.67326), _SCALAR(1.0507)], (-6, 6)),
    "Tan": ("Tan", 1, {}, opset13.tan, [], (-1.4, 1.4)),
    "Asin": ("Asin", 1, {}, opset13.asin, [], (-0.99, 0.99)),
    "Acos": ("Acos", 1, {}, opset13.acos, [], (-0.99, 0.99)),
    "Atan": ("Atan", 1, {}, opset13.atan, [], (-10, 10)),
    "Sinh": ("Sinh", 1, {}, opset13.sinh, [], (-5, 5)),
    "Cosh": ("Cosh", 1, {}, opset13.cosh, [], (-5, 5)),
    "Asinh": ("Asinh", 4, {}, opset13.asinh, [], (-10, 10)),
    "Acosh": ("Acosh", 4, {}, opset13.acosh, [], (1, 10)),
    "Atanh": ("Atanh", 4, {}, opset13.atanh, [], (-0.99, 0.99)),
}


def _inputs(case, dtype, seed=0, shape=(2, 3, 4, 5)):
    _, _, _, _, params, (low, high) = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, shape)
    x.flat[:8] = np.clip([-2.5, -0.5, 0.0, 0.5, 1.5, 2.5, -3.0, 3.0], low, high)  # ties and kinks
    return [x.astype(dtype)] + [np.asarray(p).astype(dtype) for p in params]


def _lpir(case, inputs):
    op, opset, attrs = case[:3]
    return lpir_op(op, inputs, attrs, opset=opset)[0]


@pytest.mark.parametrize("name", CASES)
def test_f32_matches_cpu_plugin(name):
    case = CASES[name]
    inputs = _inputs(case, np.float32)
    expected = openvino_op(case[3], inputs, constant_inputs=range(1, len(inputs)))[0]
    result = _lpir(case, inputs)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, **_LOOSER.get(name, F32_TOLERANCE))


# The core reference has no f16 kernel for these; the CPU plugin runs them in f32 under the hint.
_F16_ON_CPU = {"HardSigmoid", "Elu", "SoftSign", "Selu"}


@pytest.mark.parametrize("name", [n for n in CASES if n not in ("Identity", "Swish")])  # Swish: Swish_beta
def test_f16_matches_openvino_within_one_ulp(name):
    case = CASES[name]
    inputs = _inputs(case, np.float16, seed=1)
    on_cpu = name in _F16_ON_CPU
    expected = openvino_op(case[3], inputs, reference=not on_cpu, constant_inputs=range(1, len(inputs)))[0]
    result = _lpir(case, inputs)
    assert result.dtype == np.float16
    np.testing.assert_array_equal(np.isinf(result), np.isinf(expected))
    finite = np.isfinite(expected)
    ulp = np.spacing(np.abs(expected[finite]).astype(np.float16)).astype(np.float32)
    error = np.abs(result[finite].astype(np.float32) - expected[finite].astype(np.float32))
    assert np.all(error <= np.maximum(ulp, 1e-3)), f"{name}: max error {error.max()}"


@settings(max_examples=30, deadline=None)  # each example compiles a model on the CPU plugin
@given(st.sampled_from(sorted(CASES)), st.integers(0, 2**32 - 1),
       st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple))
def test_random_shapes_and_values(name, seed, shape):
    case = CASES[name]
    if case[0] == "PRelu" and (len(shape) < 2 or shape[1] != 3):
        shape = (1, 3) + shape[2:]
    inputs = _inputs(case, np.float32, seed, shape)
    expected = openvino_op(case[3], inputs, constant_inputs=range(1, len(inputs)))[0]
    np.testing.assert_allclose(_lpir(case, inputs), expected, **_LOOSER.get(name, F32_TOLERANCE))


# ---------------------------------------------------------------- integers, exactly

INTEGER_CASES = {
    "Relu": ("Relu", 1, {}, opset13.relu),
    "Abs": ("Abs", 1, {}, opset13.absolute),
    "Negative": ("Negative", 1, {}, opset13.negative),
    "Sign": ("Sign", 1, {}, opset13.sign),
    "Clamp": ("Clamp", 1, {"min": -2.5, "max": 2.5}, lambda x: opset13.clamp(x, -2.5, 2.5)),
    "Clamp_saturated": ("Clamp", 1, {"min": -300.0, "max": 1000.0}, lambda x: opset13.clamp(x, -300.0, 1000.0)),
    "Floor": ("Floor", 1, {}, opset13.floor),
    "Round": ("Round", 5, {"mode": "half_away_from_zero"}, lambda x: opset13.round(x, "half_away_from_zero")),
}


@pytest.mark.parametrize("dtype", [np.int32, np.int64])  # the reference has no i8 kernels
@pytest.mark.parametrize("name", INTEGER_CASES)
def test_integers_exact_as_reference(name, dtype):
    op, opset, attrs, factory = INTEGER_CASES[name]
    info = np.iinfo(dtype)
    x = np.array([info.min + 1, -5, -3, -2, -1, 0, 1, 2, 3, 5, info.max], dtype=dtype)
    result = lpir_op(op, [x], attrs, opset=opset)[0]
    np.testing.assert_array_equal(result, openvino_op(factory, [x], reference=True)[0])
    assert result.dtype == dtype


def test_clamp_on_unsigned_takes_ceil_of_min_and_floor_of_max():
    x = np.array([0, 1, 2, 3, 200], dtype=np.uint8)
    np.testing.assert_array_equal(lpir_op("Clamp", [x], {"min": -1.5, "max": 2.5})[0], [0, 1, 2, 2, 2])


@pytest.mark.parametrize("op, opset, x, expected", [
    ("Exp", 1, [100.0, -200.0], [np.inf, 0.0]),
    ("Log", 1, [-1.0, 0.0], [np.nan, -np.inf]),
    ("Sigmoid", 1, [-200.0, 200.0], [0.0, 1.0]),
    ("Swish", 4, [-200.0, 200.0], [-0.0, 200.0]),
])
def test_ieee_limits_without_warnings(op, opset, x, expected):
    with np.errstate(all="raise"):
        result = lpir_op(op, [np.array(x, np.float32)], opset=opset)[0]
    np.testing.assert_array_equal(result, np.array(expected, np.float32))


def test_round_ties():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997], dtype=np.float32)
    np.testing.assert_array_equal(lpir_op("Round", [x], {"mode": "half_to_even"}, opset=5)[0],
                                  [-2, -2, -0, 0, 2, 2, 0])
    np.testing.assert_array_equal(lpir_op("Round", [x], {"mode": "half_away_from_zero"}, opset=5)[0],
                                  [-3, -2, -1, 1, 2, 3, 0])


# ---------------------------------------------------------------- validation

def _infer(op, etype=types.f32, shape=(2, 3), attrs=None, opset=1, extra=()):
    sources = [make_parameter(etype, shape).outputs[0]] + [make_parameter(t, s).outputs[0] for t, s in extra]
    node = make_node(op, sources, attrs or {}, name="act", version=f"opset{opset}")
    infer_node(node)
    return node.outputs[0]


@pytest.mark.parametrize("op, kwargs, message", [
    ("Clamp", {"attrs": {"min": 2.0, "max": 1.0}}, "min=2.0 is greater than max=1.0"),
    ("Gelu", {"attrs": {"approximation_mode": "fast"}, "opset": 7}, "approximation_mode='fast'"),
    ("Round", {"attrs": {"mode": "up"}, "opset": 5}, "mode='up'"),
    ("Exp", {"etype": types.i32}, "takes floating-point inputs"),
    ("PRelu", {"extra": [(types.f32, (4,))]}, "does not broadcast"),
    ("PRelu", {"extra": [(types.f16, (3,))]}, "slope is f16"),
    ("HardSigmoid", {"extra": [(types.f32, ())]}, "takes 3 inputs, got 2"),
])
def test_invalid_attributes_and_inputs(op, kwargs, message):
    with pytest.raises(ValidationError, match=message) as info:
        _infer(op, **kwargs)
    assert "'act'" in str(info.value)


def test_dynamic_shapes_pass_through():
    from lpir.ir import DYNAMIC
    out = _infer("HSwish", shape=(DYNAMIC, 8), opset=4)
    assert out.shape == (DYNAMIC, 8) and out.etype is types.f32


@pytest.mark.parametrize("name", ["HSwish", "HSigmoid", "Relu", "Clamp"])
def test_piecewise_activations_match_the_reference_bit_for_bit(name):
    """No transcendental function in these: the core reference's operation order gives its bits
    (HSwish multiplies by x before dividing by 6)."""
    op_type, opset, attrs, factory, extra, (lo, hi) = CASES[name]
    x = np.random.default_rng(3).uniform(lo, hi, 20000).astype(np.float32)
    x[:4] = [-3.0, 3.0, 0.0, -0.0]
    expected = openvino_op(factory, [x, *extra], reference=True)[0]
    np.testing.assert_array_equal(lpir_op(op_type, [x, *extra], attrs, opset=opset)[0], expected)
