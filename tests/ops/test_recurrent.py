"""RNNSequence, GRUSequence and LSTMSequence against OpenVINO's CPU plugin (f32): every
direction, sequence lengths shorter than the sequence, clipping, GRU's linear_before_reset."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset5
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError

GATES = {"RNNSequence": 1, "GRUSequence": 3, "LSTMSequence": 4}


def _inputs(op: str, rng, batch: int, steps: int, size: int, hidden: int, dirs: int, linear: bool):
    gates = GATES[op]
    x = rng.standard_normal((batch, steps, size)).astype(np.float32)
    h0 = rng.standard_normal((batch, dirs, hidden)).astype(np.float32) * 0.5
    lengths = rng.integers(1, steps + 1, batch).astype(np.int32)
    w = rng.standard_normal((dirs, gates * hidden, size)).astype(np.float32) * 0.5
    r = rng.standard_normal((dirs, gates * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((dirs, (gates + linear) * hidden)).astype(np.float32) * 0.5
    if op == "LSTMSequence":
        return [x, h0, h0[..., ::-1].copy(), lengths, w, r, b]
    return [x, h0, lengths, w, r, b]


@settings(max_examples=40, deadline=None)  # each example compiles a model on the CPU plugin
@given(op=st.sampled_from(sorted(GATES)), seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 3),
       steps=st.integers(1, 5), size=st.integers(1, 4), hidden=st.integers(1, 4),
       direction=st.sampled_from(["forward", "reverse", "bidirectional"]), clip=st.sampled_from([0.0, 0.7]),
       linear=st.booleans())
def test_matches_cpu_plugin(op, seed, batch, steps, size, hidden, direction, clip, linear):
    linear = linear and op == "GRUSequence"
    dirs = 2 if direction == "bidirectional" else 1
    inputs = _inputs(op, np.random.default_rng(seed), batch, steps, size, hidden, dirs, linear)
    attrs = {"hidden_size": hidden, "direction": direction, "clip": clip}
    factory = {"RNNSequence": opset5.rnn_sequence, "GRUSequence": opset5.gru_sequence,
               "LSTMSequence": opset5.lstm_sequence}[op]
    extra = {"linear_before_reset": True} if linear else {}

    def build(*nodes):
        return factory(*nodes, hidden, direction, clip=clip, **extra)

    expected = openvino_op(build, inputs, constant_inputs=range(2, len(inputs)))
    result = lpir_op(op, inputs, {**attrs, **extra}, opset=5, constant_inputs=range(2, len(inputs)))
    assert len(result) == len(expected)
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_unknown_activation_is_refused():
    inputs = _inputs("RNNSequence", np.random.default_rng(0), 1, 2, 3, 2, 1, False)
    with pytest.raises(ValidationError, match="softsign"):
        lpir_op("RNNSequence", inputs, {"hidden_size": 2, "direction": "forward", "activations": ["softsign"]},
                opset=5)
