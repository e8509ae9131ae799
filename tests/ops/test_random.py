"""RandomUniform and Multinomial against OpenVINO: bit for bit with the core reference (``node.evaluate``) for
every output type, and with the CPU plugin's f32 kernel to one rounding (it fuses ``u * (max -
min) + min`` into one FMA); seeds up to 64 bits, shapes with an empty axis, odd element counts. Multinomial bit for bit with
the CPU plugin, whose generator it follows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset8, opset13
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError
from lpir.ir import make_constant, make_node, make_parameter
from lpir.ops import infer_node

RANGES = {"f32": (np.float32, -2.5, 7.0), "f16": (np.float16, -1.0, 3.0), "f64": (np.float64, 0.25, 1e6),
          "i32": (np.int32, -5, 100), "i64": (np.int64, -7, 3_000_000_000)}
SEEDS = [(150, 10), (1, 0), (0, 7), (2**40 + 3, 2**35 + 1)]
SHAPES = [[1], [3, 5], [2, 3, 7], [0, 4]]


def _run_both(output_type, shape, global_seed, op_seed, *, reference=True):
    dtype, low, high = RANGES[output_type]
    inputs = [np.array(shape, np.int64), np.array(low, dtype), np.array(high, dtype)]
    attrs = {"output_type": output_type, "global_seed": global_seed, "op_seed": op_seed}
    ours = lpir_op("RandomUniform", inputs, attrs, opset=8, constant_inputs=(0,))[0]
    theirs = openvino_op(lambda s, lo, hi: opset8.random_uniform(s, lo, hi, output_type, global_seed, op_seed),
                         inputs, reference=reference, constant_inputs=(0,))[0]
    return ours, theirs


@pytest.mark.parametrize("output_type", sorted(RANGES))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("seeds", SEEDS, ids=str)
def test_random_uniform_equals_openvino_reference(output_type, shape, seeds):
    ours, theirs = _run_both(output_type, shape, *seeds)
    assert ours.dtype == theirs.dtype and ours.shape == tuple(shape)
    np.testing.assert_array_equal(ours, theirs)
    _, low, high = RANGES[output_type]
    assert np.all((ours >= low) & (ours <= high))


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       global_seed=st.integers(1, 2**63 - 1), op_seed=st.integers(0, 2**63 - 1),
       output_type=st.sampled_from(sorted(RANGES)))
def test_random_uniform_equals_openvino_reference_for_any_seed(shape, global_seed, op_seed, output_type):
    ours, theirs = _run_both(output_type, shape, global_seed, op_seed)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("seeds", SEEDS, ids=str)
def test_random_uniform_f32_matches_cpu_plugin_to_one_rounding(seeds):
    ours, theirs = _run_both("f32", [4, 33], *seeds, reference=False)
    _, low, high = RANGES["f32"]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=float(np.spacing(np.float32(high - low))))
    assert np.mean(ours == theirs) > 0.5


def test_zero_seeds_draw_a_fresh_sequence_each_run():
    inputs = [np.array([64], np.int64), np.float32(0).reshape(()), np.float32(1).reshape(())]
    attrs = {"output_type": "f32", "global_seed": 0, "op_seed": 0}
    first, second = (lpir_op("RandomUniform", inputs, attrs, opset=8, constant_inputs=(0,))[0] for _ in range(2))
    assert not np.array_equal(first, second)
    assert np.all((first >= 0) & (first < 1))


def test_shape_from_a_runtime_input_is_dynamic_of_its_length():
    shape = make_parameter("i64", (3,))
    low, high = (make_constant(np.float32(v)) for v in (0, 1))
    node = make_node("RandomUniform", [shape.outputs[0], low.outputs[0], high.outputs[0]],
                     {"output_type": "f32", "global_seed": 1}, version="opset8")
    infer_node(node)
    assert len(node.outputs[0].shape) == 3 and not any(isinstance(d, int) for d in node.outputs[0].shape)


@pytest.mark.parametrize("attrs, message", [
    ({"output_type": "u8", "global_seed": 1}, "output_type"),
    ({"output_type": "f32", "global_seed": 1, "alignment": "pytorch"}, "alignment"),
])
def test_unsupported_attributes_are_refused(attrs, message):
    inputs = [np.array([2], np.int64), np.float32(0).reshape(()), np.float32(1).reshape(())]
    with pytest.raises(ValidationError, match=message):
        lpir_op("RandomUniform", inputs, attrs, opset=8, constant_inputs=(0,))


def test_bounds_of_another_type_are_refused():
    inputs = [np.array([2], np.int64), np.float64(0).reshape(()), np.float64(1).reshape(())]
    with pytest.raises(ValidationError, match="output_type"):
        lpir_op("RandomUniform", inputs, {"output_type": "f32", "global_seed": 1}, opset=8, constant_inputs=(0,))


# (batch, classes, samples, with_replacement): without replacement a row has at most `classes` draws
MULTINOMIAL_CASES = [(b, c, n, r) for b, c, n in [(1, 3, 4), (3, 5, 5), (2, 10, 7), (4, 6, 20)]
                     for r in (True, False) if r or n <= c]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("batch, classes, samples, with_replacement", MULTINOMIAL_CASES)
@pytest.mark.parametrize("log_probs", [False, True])
@pytest.mark.parametrize("seeds", [(3, 5), (1080033280, 0), (0, 9)], ids=str)
def test_multinomial_equals_openvino_cpu(dtype, batch, classes, samples, with_replacement, log_probs, seeds):
    """Bit for bit with the CPU plugin (the core reference cannot be called from Python)."""
    rng = np.random.default_rng(batch * 100 + classes)
    probs = rng.uniform(0.05, 1, (batch, classes)).astype(dtype)
    if log_probs:
        probs = np.log(probs).astype(dtype)
    inputs = [probs, np.array([samples], np.int64)]
    attrs = {"convert_type": "i32", "with_replacement": with_replacement, "log_probs": log_probs,
             "global_seed": seeds[0], "op_seed": seeds[1]}
    ours = lpir_op("Multinomial", inputs, attrs, opset=13, constant_inputs=(1,))[0]
    theirs = openvino_op(lambda p, n: opset13.multinomial(p, n, "i32", with_replacement, log_probs, *seeds),
                         inputs, constant_inputs=(1,))[0]
    np.testing.assert_array_equal(ours, theirs)
    if not with_replacement:
        assert all(len(set(row)) == samples for row in ours.tolist())


def test_multinomial_draws_classes_at_their_probabilities():
    probs = np.float32([[0.1, 0.6, 0.3]])
    attrs = {"convert_type": "i64", "with_replacement": True, "log_probs": False, "global_seed": 7}
    drawn = lpir_op("Multinomial", [probs, np.array([20000], np.int64)], attrs, opset=13, constant_inputs=(1,))[0]
    assert drawn.dtype == np.int64
    np.testing.assert_allclose(np.bincount(drawn[0], minlength=3) / drawn.size, probs[0], atol=0.015)
