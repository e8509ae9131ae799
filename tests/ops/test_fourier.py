"""DFT, IDFT, RDFT, IRDFT and STFT against OpenVINO's CPU plugin (f32; its core has no
reference evaluation of them), on random shapes, axes and signal sizes (the ONNX forms are
checked against ONNX Runtime in tests/io/test_onnx_signal.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset9, opset15
from ops.oracle import lpir_op, openvino_op

import lpir
from lpir.errors import ValidationError
from lpir.ir import make_node, make_parameter
from lpir.ops import infer_node

FACTORIES = {"DFT": opset9.dft, "IDFT": opset9.idft, "RDFT": opset9.rdft, "IRDFT": opset9.irdft}
OPSETS = {"DFT": 7, "IDFT": 7, "RDFT": 9, "IRDFT": 9}


@st.composite
def transforms(draw):
    """An op, a signal shape, distinct axes (some negative) and signal sizes.

    Sizes stay within the input: OpenVINO's CPU plugin does not zero-pad RDFT/IRDFT inputs
    ("not supported yet") nor accept -1 in their signal_size, so padding is checked against
    ONNX Runtime below instead."""
    op_type = draw(st.sampled_from(sorted(FACTORIES)))
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    if op_type == "IRDFT":
        shape = [max(d, 2) for d in shape]
    axes = draw(st.permutations(range(len(shape))).map(lambda p: p[:max(1, len(p) - 1)]))
    axes = [a - len(shape) if draw(st.booleans()) else a for a in axes]
    sizes = None
    if draw(st.booleans()):
        sizes = [draw(st.integers(1, shape[a])) for a in axes]
        if op_type in ("DFT", "IDFT"):
            sizes = [s if draw(st.booleans()) else -1 for s in sizes]
    return op_type, shape, axes, sizes


@settings(max_examples=40, deadline=None)  # each example compiles a model on the CPU plugin
@given(case=transforms(), seed=st.integers(0, 2**32 - 1))
def test_transforms_match_cpu_plugin(case, seed):
    op_type, shape, axes, sizes = case
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape + ([] if op_type == "RDFT" else [2])).astype(np.float32)
    inputs = [data, np.asarray(axes, dtype=np.int64)] + ([] if sizes is None else [np.asarray(sizes, dtype=np.int64)])
    expected = openvino_op(FACTORIES[op_type], inputs, constant_inputs=(1, 2))[0]
    result = lpir_op(op_type, inputs, opset=OPSETS[op_type], constant_inputs=(1, 2))[0]
    assert result.shape == expected.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max())))


@settings(max_examples=25, deadline=None)
@given(batch=st.sampled_from([[], [1], [3]]), length=st.integers(4, 40), frame=st.integers(2, 12),
       window=st.integers(1, 12), step=st.integers(1, 7), transpose=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_stft_matches_cpu_plugin(batch, length, frame, window, step, transpose, seed):
    frame, window = min(frame, length), min(window, frame, length)
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(batch + [length]).astype(np.float32), rng.uniform(0, 1, window).astype(np.float32),
              np.asarray(frame, dtype=np.int64), np.asarray(step, dtype=np.int64)]
    expected = openvino_op(lambda *a: opset15.stft(*a, transpose), inputs, constant_inputs=(2, 3))[0]
    result = lpir_op("STFT", inputs, {"transpose_frames": transpose}, opset=15, constant_inputs=(2, 3))[0]
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max())))


def test_inference_keeps_unknown_axes_and_sizes_dynamic():
    data = make_parameter("f32", [4, -1, 6, 2]).outputs[0]
    axes = make_parameter("i64", [1]).outputs[0]
    node = make_node("DFT", [data, axes], {}, version="opset7")
    infer_node(node)
    assert len(node.outputs[0].shape) == 4 and node.outputs[0].shape[3] == 2
    assert not any(isinstance(d, int) for d in node.outputs[0].shape[:3])
    rdft = make_node("RDFT", [make_parameter("f32", [4, -1, 6]).outputs[0],
                              lpir.ir.make_constant(np.asarray([2], dtype=np.int64)).outputs[0]], {}, version="opset9")
    infer_node(rdft)
    assert rdft.outputs[0].shape[0] == 4 and not isinstance(rdft.outputs[0].shape[1], int)
    assert tuple(rdft.outputs[0].shape[2:]) == (4, 2)


@pytest.mark.parametrize("shape, axes, message", [
    ((3, 5), [0], r"complex \[..., 2\]"),
    ((3, 5, 2), [2], "out of range"),
    ((3, 5, 2), [0, -2], "repeat"),
])
def test_bad_inputs_are_refused(shape, axes, message):
    data = make_parameter("f32", list(shape)).outputs[0]
    node = make_node("DFT", [data, lpir.ir.make_constant(np.asarray(axes, dtype=np.int64)).outputs[0]], {},
                     version="opset7")
    with pytest.raises(ValidationError, match=message):
        infer_node(node)
