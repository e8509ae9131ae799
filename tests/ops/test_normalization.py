"""Softmax, MVN, NormalizeL2, BatchNormInference, GroupNormalization, LRN and
ScaledDotProductAttention against OpenVINO (core reference where it has one, else the CPU
plugin with the f32 hint), plus property tests of softmax.

OpenVINO's Python ``node.evaluate`` covers Softmax only among these ops; the others are compared
with the CPU plugin. Tolerances: 1e-5 relative/absolute against the reference; 1e-4 against the
CPU plugin, whose vectorised exp/rsqrt and summation order differ from numpy's; 2e-3 for f16
outputs (one f16 rounding step is about 1e-3 relative).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from openvino import opset1, opset2, opset5, opset6, opset8, opset12, opset13
from oracle import lpir_op, openvino_op

from lpir.errors import ValidationError

RNG = np.random.default_rng(0)


def _rand(*shape, dtype=np.float32, low=-3.0, high=3.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def _close(ours, theirs, tol=1e-5):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32), rtol=tol, atol=tol)


SOFTMAX_CASES = [  # (op, opset, factory, shape, axis)
    ("Softmax", 1, opset1.softmax, (2, 5), 1),
    ("Softmax", 1, opset1.softmax, (2, 3, 4), 0),
    ("Softmax", 8, opset8.softmax, (2, 3, 4), -1),
    ("Softmax", 8, opset8.softmax, (2, 3, 4), -3),
    ("LogSoftmax", 5, opset5.log_softmax, (3, 7), 1),
    ("LogSoftmax", 5, opset5.log_softmax, (2, 3, 4), -2),
]


@pytest.mark.parametrize("op,opset,factory,shape,axis", SOFTMAX_CASES)
def test_softmax_family_matches_reference(op, opset, factory, shape, axis):
    x = _rand(*shape, low=-20, high=20)
    ours = lpir_op(op, [x], {"axis": axis}, opset=opset)[0]
    theirs = openvino_op(lambda a: factory(a, axis), [x], reference=op == "Softmax")[0]
    _close(ours, theirs, 1e-5 if op == "Softmax" else 1e-4)


@pytest.mark.parametrize("op,factory", [("Softmax", opset8.softmax), ("LogSoftmax", opset5.log_softmax)])
def test_softmax_f16_matches_cpu(op, factory):
    x = _rand(4, 33, dtype=np.float16, low=-8, high=8)
    ours = lpir_op(op, [x], {"axis": -1}, opset=8)[0]
    theirs = openvino_op(lambda a: factory(a, -1), [x])[0]
    _close(ours, theirs, 2e-3)


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1e30, 1e30 - 1e24, -1e30], [3e38, 0.0, -3e38]], np.float32)
    ours = lpir_op("Softmax", [x], {"axis": 1}, opset=8)[0]
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_softmax_matches_reference(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-50, 50, width=32)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    ours = lpir_op("Softmax", [x], {"axis": axis}, opset=8)[0]
    theirs = openvino_op(lambda a: opset8.softmax(a, axis), [x], reference=True)[0]
    _close(ours, theirs)
    np.testing.assert_allclose(ours.sum(axis=axis), 1.0, rtol=1e-5)


@pytest.mark.parametrize("op,opset,axis", [("Softmax", 1, -1), ("Softmax", 8, 3), ("LogSoftmax", 5, -4)])
def test_softmax_rejects_bad_axis(op, opset, axis):
    with pytest.raises(ValidationError, match="axis"):
        lpir_op(op, [_rand(2, 3, 4)], {"axis": axis}, opset=opset)


@pytest.mark.parametrize("across_channels", [False, True])
@pytest.mark.parametrize("normalize_variance", [False, True])
def test_mvn1_matches_reference(across_channels, normalize_variance):
    x = _rand(2, 3, 4, 5)
    attrs = {"across_channels": across_channels, "normalize_variance": normalize_variance, "eps": 1e-3}
    ours = lpir_op("MVN", [x], attrs, opset=1)[0]
    theirs = openvino_op(lambda a: opset2.mvn(a, across_channels, normalize_variance, 1e-3), [x])[0]
    _close(ours, theirs, 1e-4)


MVN6_CASES = [  # (shape, axes, normalize_variance, eps_mode)
    ((2, 3, 8), [-1], True, "inside_sqrt"),
    ((2, 3, 8), [-1], True, "outside_sqrt"),
    ((2, 3, 4, 5), [2, 3], True, "inside_sqrt"),
    ((2, 3, 4, 5), [1, 2, 3], False, "outside_sqrt"),
    ((4, 6), [0], True, "outside_sqrt"),
]


@pytest.mark.parametrize("shape,axes,normalize_variance,eps_mode", MVN6_CASES)
def test_mvn6_matches_reference(shape, axes, normalize_variance, eps_mode):
    x = _rand(*shape)
    axes = np.asarray(axes, np.int64)
    attrs = {"normalize_variance": normalize_variance, "eps": 1e-2, "eps_mode": eps_mode}
    ours = lpir_op("MVN", [x, axes], attrs, opset=6, constant_inputs=[1])[0]
    theirs = openvino_op(lambda a, b: opset6.mvn(a, b, normalize_variance, 1e-2, eps_mode), [x, axes],
                         constant_inputs=[1])[0]
    _close(ours, theirs, 1e-4)


def test_mvn6_accepts_upper_case_eps_mode_and_rejects_others():
    x, axes = _rand(2, 4), np.array([1], np.int64)
    lpir_op("MVN", [x, axes], {"normalize_variance": True, "eps": 1e-5, "eps_mode": "INSIDE_SQRT"}, opset=6)
    with pytest.raises(ValidationError, match="eps_mode"):
        lpir_op("MVN", [x, axes], {"normalize_variance": True, "eps": 1e-5, "eps_mode": "nowhere"}, opset=6)
    with pytest.raises(ValidationError, match="out of range"):
        lpir_op("MVN", [x, np.array([2], np.int64)], {"normalize_variance": True, "eps": 1e-5,
                                                       "eps_mode": "inside_sqrt"}, opset=6, constant_inputs=[1])


@pytest.mark.parametrize("axes", [[1], [-1], [1, 2], [0, 1, 2]])
def test_normalize_l2_add_matches_cpu(axes):
    x = _rand(2, 3, 4)
    axes = np.asarray(axes, np.int64)
    ours = lpir_op("NormalizeL2", [x, axes], {"eps": 1e-2, "eps_mode": "add"}, constant_inputs=[1])[0]
    theirs = openvino_op(lambda a, b: opset1.normalize_l2(a, b, 1e-2, "add"), [x, axes], constant_inputs=[1])[0]
    _close(ours, theirs, 1e-4)


@pytest.mark.parametrize("eps", [1e-6, 20.0])
def test_normalize_l2_max_follows_the_reference_formula(eps):
    # OpenVINO's CPU plugin adds eps in both modes; its core reference takes max(Σx², eps).
    x = _rand(2, 3, 4)
    ours = lpir_op("NormalizeL2", [x, np.array([1], np.int64)], {"eps": eps, "eps_mode": "max"})[0]
    expected = x.astype(np.float64) / np.sqrt(np.maximum((x.astype(np.float64) ** 2).sum(1, keepdims=True), eps))
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_normalize_l2_over_no_axes_gives_ones_for_nonzero():
    x = np.array([[-2.0, 0.0, 3.0]], np.float32)
    ours = lpir_op("NormalizeL2", [x, np.zeros(0, np.int64)], {"eps": 1e-6, "eps_mode": "add"})[0]
    theirs = openvino_op(lambda a, b: opset1.normalize_l2(a, b, 1e-6, "add"), [x, np.zeros(0, np.int64)],
                         constant_inputs=[1])[0]
    np.testing.assert_array_equal(ours, [[1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(theirs[x != 0], ours[x != 0])


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 4, 3, 3)])
@pytest.mark.parametrize("opset,factory", [(1, opset1.batch_norm_inference), (5, opset5.batch_norm_inference)])
def test_batch_norm_matches_reference(shape, opset, factory):
    c = shape[1]
    x = _rand(*shape)
    gamma, beta, mean = _rand(c), _rand(c), _rand(c)
    variance = _rand(c, low=0.1, high=2.0)
    theirs = openvino_op(lambda *a: factory(*a, 1e-3), [x, gamma, beta, mean, variance],
                         constant_inputs=[1, 2, 3, 4])[0]
    order = [gamma, beta, x, mean, variance] if opset == 1 else [x, gamma, beta, mean, variance]
    ours = lpir_op("BatchNormInference", order, {"epsilon": 1e-3}, opset=opset)[0]
    _close(ours, theirs, 1e-4)


def test_batch_norm_rejects_wrong_channel_count():
    x, p = _rand(2, 3, 4), _rand(4)
    with pytest.raises(ValidationError, match="4 values for 3 channels"):
        lpir_op("BatchNormInference", [x, p, p, p, p], {"epsilon": 1e-3}, opset=5)
    with pytest.raises(ValidationError, match="1-D"):
        lpir_op("BatchNormInference", [_rand(2, 4, 2), _rand(4, 1), p, p, p], {"epsilon": 1e-3}, opset=5)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4), 3), ((1, 4, 3, 3), 2), ((2, 4, 5), 4), ((1, 4, 2, 2, 2), 1)])
def test_group_normalization_matches_reference(shape, groups):
    x, scale, bias = _rand(*shape), _rand(shape[1]), _rand(shape[1])
    ours = lpir_op("GroupNormalization", [x, scale, bias], {"num_groups": groups, "epsilon": 1e-4}, opset=12)[0]
    theirs = openvino_op(lambda *a: opset12.group_normalization(*a, groups, 1e-4), [x, scale, bias],
                         constant_inputs=[1, 2])[0]
    _close(ours, theirs, 1e-4)


def test_group_normalization_rejects_indivisible_groups():
    with pytest.raises(ValidationError, match="num_groups=4"):
        lpir_op("GroupNormalization", [_rand(1, 6, 3), _rand(6), _rand(6)], {"num_groups": 4, "epsilon": 1e-5},
                opset=12)


@pytest.mark.parametrize("axes,size,bias", [([1], 3, 1.0), ([1], 5, 2.0), ([2, 3], 3, 1.0), ([1], 2, 2.0),
                                            ([1], 4, 1.0)])
def test_lrn_matches_cpu(axes, size, bias):
    # Integral biases only: OpenVINO's CPU plugin truncates a bias of 1.5 to 1.
    x = _rand(2, 6, 5, 4)
    axes = np.asarray(axes, np.int64)
    attrs = {"alpha": 1e-2, "beta": 0.75, "bias": bias, "size": size}
    ours = lpir_op("LRN", [x, axes], attrs, constant_inputs=[1])[0]
    theirs = openvino_op(lambda a, b: opset1.lrn(a, b, 1e-2, 0.75, bias, size), [x, axes], constant_inputs=[1])[0]
    _close(ours, theirs, 1e-4)


def _sdpa_factory(num_inputs, causal):
    def factory(q, k, v, *rest):
        mask = rest[0] if num_inputs > 3 else None
        scale = rest[1] if num_inputs > 4 else None
        return opset13.scaled_dot_product_attention(q, k, v, mask, scale, causal)
    return factory


SDPA_CASES = [  # (q shape, k shape, v shape, mask, scale, causal)
    ((1, 5, 8), (1, 7, 8), (1, 7, 4), None, None, False),
    ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), None, None, True),
    ((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8), None, 0.3, True),
    ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 5), "float", None, False),
    ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 5), "bool", 0.5, False),
    ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 5), "zero", 0.5, False),
    ((1, 2, 4, 8), (2, 2, 6, 8), (2, 1, 6, 8), "row", None, False),
    ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 5), "float", None, True),
]


def _mask(kind, q, k):
    lead = (q[0], 1, q[-2], k[-2])
    if kind == "float":
        return _rand(*lead)
    if kind == "bool":
        mask = RNG.random(lead) > 0.4
        mask[..., 0] = True  # no fully masked row: that is 0/0 in every implementation
        return mask
    if kind == "zero":
        return np.array(0.0, np.float32)
    return _rand(1, 1, 1, k[-2])  # "row": one mask row broadcast to every query position


@pytest.mark.parametrize("q,k,v,mask,scale,causal", SDPA_CASES)
def test_scaled_dot_product_attention_matches_cpu(q, k, v, mask, scale, causal):
    inputs = [_rand(*q), _rand(*k), _rand(*v)]
    if mask is not None or scale is not None:
        inputs.append(_mask(mask, q, k) if mask is not None else np.array(0.0, np.float32))
    if scale is not None:
        inputs.append(np.array(scale, np.float32))
    ours = lpir_op("ScaledDotProductAttention", inputs, {"causal": causal}, opset=13)[0]
    theirs = openvino_op(_sdpa_factory(len(inputs), causal), inputs)[0]
    _close(ours, theirs, 1e-4)


def test_scaled_dot_product_attention_f16_matches_cpu():
    inputs = [_rand(1, 2, 4, 16, dtype=np.float16), _rand(1, 2, 6, 16, dtype=np.float16),
              _rand(1, 2, 6, 16, dtype=np.float16)]
    ours = lpir_op("ScaledDotProductAttention", inputs, {"causal": False}, opset=13)[0]
    theirs = openvino_op(_sdpa_factory(3, False), inputs)[0]
    _close(ours, theirs, 2e-3)


@pytest.mark.parametrize("q,k,v,message", [
    ((4, 8), (4, 8), (4, 8), "rank"),
    ((1, 4, 8), (1, 4, 6), (1, 4, 8), "embedding"),
    ((1, 4, 8), (1, 5, 8), (1, 4, 8), "length"),
])
def test_scaled_dot_product_attention_rejects_bad_shapes(q, k, v, message):
    with pytest.raises(ValidationError, match=message):
        lpir_op("ScaledDotProductAttention", [_rand(*q), _rand(*k), _rand(*v)], {"causal": False}, opset=13)


def test_scaled_dot_product_attention_rejects_integer_mask():
    q = _rand(1, 4, 8)
    with pytest.raises(ValidationError, match="attention_mask must be boolean or f32, got i32"):
        lpir_op("ScaledDotProductAttention", [q, q, q, np.zeros((1, 4, 4), np.int32)], {"causal": False}, opset=13)


def test_float_ops_reject_integer_data():
    with pytest.raises(ValidationError, match="floating-point"):
        lpir_op("Softmax", [np.ones((2, 3), np.int32)], {"axis": 1}, opset=8)


def test_attention_with_dynamic_lengths_keeps_static_dims():
    """MiniLM's attention: q, k, v ``[?, 12, ?, 32]`` and a mask ``[?, 1, 1, ?]``."""
    from lpir.ir import Dim, make_parameter, types
    from lpir.ops import build

    qkv = [make_parameter(types.f32, (Dim(), 12, Dim(), 32)).outputs[0] for _ in range(3)]
    mask = make_parameter(types.f32, (Dim(), 1, 1, Dim())).outputs[0]
    node = build("ScaledDotProductAttention", qkv + [mask], {"causal": False}, opset=13)
    shape = node.outputs[0].shape
    assert len(shape) == 4 and shape[1] == 12 and shape[3] == 32
