"""ONNX RNN, GRU and LSTM as OpenVINO's RNNSequence, GRUSequence and LSTMSequence.

ONNX lays the sequence out [seq, batch, ...] (or, with ``layout`` 1, batch first), the states
[dirs, batch, hidden], its LSTM gates i, o, f, c (OpenVINO: f, i, c, o), and gives the input and
recurrent biases separately; absent initial states are zeros and absent sequence lengths the
whole sequence. LSTM peepholes have no OpenVINO equivalent and are refused unless all zero.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_I64 = np.int64
_OV_OP = {"RNN": "RNNSequence", "GRU": "GRUSequence", "LSTM": "LSTMSequence"}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
# OpenVINO's gate k is ONNX's gate _ORDER[k]: LSTM f, i, c, o from i, o, f, c.
_ORDER = {"RNN": [0], "GRU": [0, 1, 2], "LSTM": [2, 0, 3, 1]}
_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu"}


def _reorder(ctx: NodeContext, value: Output, hidden: int, name: str) -> Output:
    """The gate blocks of axis 1 in OpenVINO's order."""
    order = _ORDER[ctx.op_type]
    if order == sorted(order):
        return value
    index = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in order]).astype(_I64)
    return ctx.op("Gather", value, ctx.const(index, f"{name}_gate_order"), ctx.const(_I64(1), f"{name}_gate_axis"),
                  opset=8, suffix=f"{name}_gates")


def _transpose(ctx: NodeContext, value: Output, perm: list[int], suffix: str | None) -> Output:
    return ctx.op("Transpose", value, ctx.const(np.asarray(perm, _I64), f"{suffix or 'out'}_perm"), suffix=suffix)


def _dim(ctx: NodeContext, shape: Output, axis: int, name: str) -> Output:
    return ctx.op("Gather", shape, ctx.const(np.asarray([axis], _I64), f"{name}_axis"),
                  ctx.const(_I64(0), f"{name}_gather_axis"), opset=8, suffix=name)


@converter("RNN", "GRU", "LSTM", emits=("Transpose", "Gather", "Split", "VariadicSplit", "Add", "Concat",
                                        "Broadcast", "ShapeOf", "RNNSequence", "GRUSequence", "LSTMSequence"))
def _recurrent(ctx: NodeContext) -> list[Output]:
    gates = _GATES[ctx.op_type]
    hidden = ctx.attr("hidden_size")
    direction = ctx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    batch_first = bool(ctx.attr("layout", 0))
    names = ctx.attr("activations")
    if names is not None:
        unknown = [a for a in names if a not in _ACTIVATIONS]
        if unknown:
            raise ctx.fail(f"activations {unknown} are not supported ({', '.join(_ACTIVATIONS)})")
        per_direction = len(names) // dirs
        if names[:per_direction] != names[per_direction:] and dirs == 2:
            raise ctx.fail(f"different activations per direction ({names}) are not supported")
        names = [_ACTIVATIONS[a] for a in names[:per_direction]]
    if ctx.op_type == "LSTM" and ctx.attr("input_forget", 0):
        raise ctx.fail("input_forget=1 is not supported")
    if ctx.op_type == "LSTM" and ctx.optional_input(7) is not None:
        peepholes = ctx.value(7)
        if peepholes is None or np.any(peepholes):
            raise ctx.fail("LSTM peepholes (input P) are not supported")
    x = ctx.input(0) if batch_first else _transpose(ctx, ctx.input(0), [1, 0, 2], "x_batch_first")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="x_shape")
    batch = _dim(ctx, shape, 0, "batch")
    w = _reorder(ctx, ctx.input(1), hidden, "w")
    r = _reorder(ctx, ctx.input(2), hidden, "r")
    linear = ctx.op_type == "GRU" and bool(ctx.attr("linear_before_reset", 0))
    bias = _bias(ctx, ctx.optional_input(3), gates, hidden, dirs, linear, x)
    lengths = ctx.optional_input(4)
    if lengths is None:
        lengths = ctx.op("Broadcast", _dim(ctx, shape, 1, "steps"), batch, opset=3, mode="numpy", suffix="lengths")
    states = [_state(ctx, ctx.optional_input(i), batch, dirs, hidden, batch_first, x, name)
              for i, name in ((5, "initial_h"), (6, "initial_c"))[: 2 if ctx.op_type == "LSTM" else 1]]
    attrs = {"hidden_size": hidden, "direction": direction, "clip": float(ctx.attr("clip", 0.0))}
    if names is not None:
        attrs["activations"] = names
    if ctx.op_type == "GRU":
        attrs["linear_before_reset"] = linear
    inputs = [x] + states + [lengths, w, r, bias]
    outputs = ctx.build(_OV_OP[ctx.op_type], inputs, attrs, opset=5, suffix="sequence").outputs
    y = _transpose(ctx, outputs[0], [0, 2, 1, 3] if batch_first else [2, 1, 0, 3], None)
    last = [s if batch_first else _transpose(ctx, s, [1, 0, 2], f"{name}_out")
            for s, name in zip(outputs[1:], ("y_h", "y_c"))]
    return [y] + last


def _bias(ctx: NodeContext, bias: Output | None, gates: int, hidden: int, dirs: int, linear: bool,
          like: Output) -> Output:
    """ONNX [dirs, 2*gates*hidden] (input biases, then recurrent) → OpenVINO's sum per gate; GRU
    with linear_before_reset keeps the candidate's recurrent bias apart, as a last block."""
    if bias is None:
        return ctx.const_like(np.zeros((dirs, (gates + linear) * hidden)), like, "bias")
    halves = ctx.build("Split", [bias, ctx.const(_I64(1), "bias_axis")], {"num_splits": 2}, suffix="bias_parts").outputs
    w_bias, r_bias = (_reorder(ctx, h, hidden, name) for h, name in zip(halves, ("w_bias", "r_bias")))
    if not linear:
        return ctx.op("Add", w_bias, r_bias, suffix="bias")
    sizes = ctx.const(np.asarray([2 * hidden, hidden], _I64), "bias_sizes")
    axis = ctx.const(_I64(1), "bias_block_axis")
    w_zr, w_h = ctx.build("VariadicSplit", [w_bias, axis, sizes], suffix="w_bias_blocks").outputs
    r_zr, r_h = ctx.build("VariadicSplit", [r_bias, axis, sizes], suffix="r_bias_blocks").outputs
    zr = ctx.op("Add", w_zr, r_zr, suffix="bias_zr")
    return ctx.build("Concat", [zr, w_h, r_h], {"axis": 1}, suffix="bias").outputs[0]


def _state(ctx: NodeContext, state: Output | None, batch: Output, dirs: int, hidden: int, batch_first: bool,
           like: Output, name: str) -> Output:
    """An initial state as [batch, dirs, hidden]; zeros when absent."""
    if state is not None:
        return state if batch_first else _transpose(ctx, state, [1, 0, 2], name)
    target = ctx.build("Concat", [batch, ctx.const(np.asarray([dirs, hidden], _I64), f"{name}_dims")], {"axis": 0},
                       suffix=f"{name}_shape").outputs[0]
    return ctx.op("Broadcast", ctx.const_like(0, like, f"{name}_zero"), target, opset=3, mode="numpy", suffix=name)
