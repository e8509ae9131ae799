"""ONNX RNN, GRU and LSTM as OpenVINO's RNNSequence, GRUSequence and LSTMSequence.

ONNX lays the sequence out [seq, batch, ...] (or, with ``layout`` 1, batch first), the states
[dirs, batch, hidden], its LSTM gates i, o, f, c (OpenVINO: f, i, c, o), and gives the input and
recurrent biases separately; absent initial states are zeros and absent sequence lengths the
whole sequence. LSTMSequence has no peepholes, coupled input and forget gates or activations
per direction: an LSTM using them is unrolled over its (static) sequence into the cell's
arithmetic (OpenVINO's CPU plugin runs LSTMCell-1 without its peepholes and weights_format).
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
                                        "Broadcast", "ShapeOf", "RNNSequence", "GRUSequence", "LSTMSequence",
                                        "Less", "Unsqueeze", "Select", "MatMul", "Multiply", "Subtract",
                                        "Sigmoid", "Tanh", "Relu", "Clamp"))
def _recurrent(ctx: NodeContext) -> list[Output]:
    gates = _GATES[ctx.op_type]
    hidden = ctx.attr("hidden_size")
    direction = ctx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    batch_first = bool(ctx.attr("layout", 0))
    names = ctx.attr("activations")
    unknown = [a for a in names or [] if a not in _ACTIVATIONS]
    if unknown:
        raise ctx.fail(f"activations {unknown} are not supported ({', '.join(_ACTIVATIONS)})")
    if ctx.op_type == "LSTM" and _needs_cells(ctx, names, dirs):
        return _unrolled_lstm(ctx, hidden, dirs, batch_first)
    if names is not None:
        per_direction = len(names) // dirs
        if names[:per_direction] != names[per_direction:] and dirs == 2:
            raise ctx.fail(f"different activations per direction ({names}) are not supported")
        names = [_ACTIVATIONS[a] for a in names[:per_direction]]
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


def _needs_cells(ctx: NodeContext, names: list[str] | None, dirs: int) -> bool:
    """True when an LSTM uses what LSTMSequence lacks: peepholes (not all zero), coupled input
    and forget gates, or other activations per direction."""
    peepholes = ctx.value(7) if ctx.optional_input(7) is not None else np.zeros(1)
    different = names is not None and dirs == 2 and names[:len(names) // 2] != names[len(names) // 2:]
    return peepholes is None or bool(np.any(peepholes)) or bool(ctx.attr("input_forget", 0)) or different


def _unrolled_lstm(ctx: NodeContext, hidden: int, dirs: int, batch_first: bool) -> list[Output]:
    """LSTM unrolled per direction and step into the cell's arithmetic (gates in ONNX's order
    i, o, f, c; biases summed; absent peepholes zero); a batch element past its sequence length
    keeps its states and outputs 0."""
    x = _transpose(ctx, ctx.input(0), [1, 0, 2], "x_time_first") if batch_first else ctx.input(0)
    steps = x.shape[0] if x.shape is not None else None
    if not isinstance(steps, int):
        raise ctx.fail(f"an LSTM with peepholes needs a static sequence length, got shape {x.shape}")
    names = ctx.attr("activations") or ["Sigmoid", "Tanh", "Tanh"] * dirs
    clip, coupled = float(ctx.attr("clip", 0.0)), bool(ctx.attr("input_forget", 0))
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="x_shape")
    batch = _dim(ctx, shape, 1, "batch")
    lengths = ctx.optional_input(4)
    zero_axis = ctx.const(_I64(0), "axis0")
    per_direction = []
    for d in range(dirs):
        tag = f"d{d}"
        take = lambda value, name: ctx.op("Gather", value, ctx.const(_I64(d), f"{tag}_{name}_index"),  # noqa: E731
                                          zero_axis, opset=8, suffix=f"{tag}_{name}")
        w, r = take(ctx.input(1), "w"), take(ctx.input(2), "r")
        p = ctx.const_like(np.zeros(3 * hidden), x, f"{tag}_p") if ctx.optional_input(7) is None else \
            take(ctx.input(7), "p")
        p_in, p_out, p_forget = ctx.build("Split", [p, zero_axis], {"num_splits": 3}, suffix=f"{tag}_peepholes").outputs
        if ctx.optional_input(3) is None:
            b = ctx.const_like(np.zeros(4 * hidden), x, f"{tag}_b")
        else:
            halves = ctx.build("Split", [take(ctx.input(3), "biases"), zero_axis], {"num_splits": 2},
                               suffix=f"{tag}_bias_parts").outputs
            b = ctx.op("Add", halves[0], halves[1], suffix=f"{tag}_b")
        states = []
        for i, name in ((5, "initial_h"), (6, "initial_c")):
            given = ctx.optional_input(i)
            if given is not None:
                states.append(take(_transpose(ctx, given, [1, 0, 2], name) if batch_first else given, name))
            else:
                target = ctx.build("Concat", [batch, ctx.const(np.asarray([hidden], _I64), f"{tag}_{name}_dims")],
                                   {"axis": 0}, suffix=f"{tag}_{name}_shape").outputs[0]
                states.append(ctx.op("Broadcast", ctx.const_like(0, x, f"{tag}_{name}_zero"), target, opset=3,
                                     suffix=f"{tag}_{name}"))
        h, c = states
        backward = ctx.attr("direction", "forward") == "reverse" or d == 1
        cell = _Cell(ctx, tag, w, r, b, (p_in, p_out, p_forget), names[3 * d:3 * d + 3], clip, coupled)
        outputs = [None] * steps
        for t in (range(steps - 1, -1, -1) if backward else range(steps)):
            x_t = ctx.op("Gather", x, ctx.const(_I64(t), f"{tag}_t{t}"), zero_axis, opset=8, suffix=f"{tag}_x{t}")
            new_h, new_c = cell.step(x_t, h, c, t)
            if lengths is None:
                h, c, outputs[t] = new_h, new_c, new_h
                continue
            active = ctx.op("Unsqueeze", ctx.op("Less", ctx.const(np.asarray(t, dtype=np.int32), f"{tag}_step{t}"),
                                                ctx.op("Convert", lengths, destination_type=types.i32,
                                                       suffix=f"{tag}_lengths{t}"), suffix=f"{tag}_running{t}"),
                            ctx.const(np.asarray([1], _I64), f"{tag}_column{t}"), suffix=f"{tag}_active{t}")
            h = ctx.op("Select", active, new_h, h, suffix=f"{tag}_h{t}")
            c = ctx.op("Select", active, new_c, c, suffix=f"{tag}_c{t}")
            outputs[t] = ctx.op("Select", active, new_h, ctx.const_like(0, x, f"{tag}_idle{t}"), suffix=f"{tag}_y{t}")
        first = ctx.const(np.asarray([0], _I64), f"{tag}_new_axis")
        sequence = ctx.build("Concat", [ctx.op("Unsqueeze", y, first, suffix=f"{tag}_y{t}_row")
                                        for t, y in enumerate(outputs)], {"axis": 0}, suffix=f"{tag}_y").outputs[0]
        per_direction.append((sequence, h, c))
    stacked = []
    for k, name in enumerate(("y", "y_h", "y_c")):
        axis = 1 if k == 0 else 0
        parts = [ctx.op("Unsqueeze", part[k], ctx.const(np.asarray([axis], _I64), f"{name}{d}_axis"),
                        suffix=f"{name}{d}_dir") for d, part in enumerate(per_direction)]
        stacked.append(ctx.build("Concat", parts, {"axis": axis}, suffix=f"{name}_dirs").outputs[0])
    y, y_h, y_c = stacked
    if batch_first:
        return [_transpose(ctx, y, [2, 0, 1, 3], None), _transpose(ctx, y_h, [1, 0, 2], "y_h_out"),
                _transpose(ctx, y_c, [1, 0, 2], "y_c_out")]
    return [y, y_h, y_c]


_CELL_ACTIVATIONS = {"Sigmoid": "Sigmoid", "Tanh": "Tanh", "Relu": "Relu"}


class _Cell:
    """One direction's LSTM step as arithmetic: gates = x W^T + h R^T + b split as i, o, f, c;
    i = f(. + P_i c), f = f(. + P_f c) (or 1 - i when coupled), C = f c + i g(.),
    o = f(. + P_o C), H = o h(C); ``clip`` bounds every pre-activation."""

    def __init__(self, ctx: NodeContext, tag: str, w: Output, r: Output, b: Output, peepholes, names: list[str],
                 clip: float, coupled: bool):
        self.ctx, self.tag, self.w, self.r, self.b, self.peepholes = ctx, tag, w, r, b, peepholes
        self.names, self.clip, self.coupled = names, clip, coupled

    def _activate(self, value: Output, which: int, name: str) -> Output:
        if self.clip > 0:
            value = self.ctx.op("Clamp", value, min=-self.clip, max=self.clip, suffix=f"{name}_clipped")
        return self.ctx.op(_CELL_ACTIVATIONS[self.names[which]], value, suffix=name)

    def step(self, x_t: Output, h: Output, c: Output, t: int) -> tuple[Output, Output]:
        ctx, tag = self.ctx, f"{self.tag}_{t}"
        product = lambda a, m, name: ctx.op("MatMul", a, m, transpose_a=False, transpose_b=True,  # noqa: E731
                                            suffix=f"{tag}_{name}")
        gates = ctx.op("Add", ctx.op("Add", product(x_t, self.w, "xw"), product(h, self.r, "hr"), suffix=f"{tag}_sum"),
                       self.b, suffix=f"{tag}_gates")
        i, o, f, g = ctx.build("Split", [gates, ctx.const(np.int64(1), f"{tag}_gate_axis")], {"num_splits": 4},
                               suffix=f"{tag}_parts").outputs
        p_in, p_out, p_forget = self.peepholes
        peep = lambda gate, weight, state, name: ctx.op(  # noqa: E731
            "Add", gate, ctx.op("Multiply", weight, state, suffix=f"{tag}_{name}_peep"), suffix=f"{tag}_{name}_pre")
        i = self._activate(peep(i, p_in, c, "i"), 0, f"{tag}_i")
        if self.coupled:
            f = ctx.op("Subtract", ctx.const_like(1, x_t, f"{tag}_one"), i, suffix=f"{tag}_f")
        else:
            f = self._activate(peep(f, p_forget, c, "f"), 0, f"{tag}_f")
        g = self._activate(g, 1, f"{tag}_g")
        c = ctx.op("Add", ctx.op("Multiply", f, c, suffix=f"{tag}_kept"), ctx.op("Multiply", i, g, suffix=f"{tag}_new"),
                   suffix=f"{tag}_c")
        o = self._activate(peep(o, p_out, c, "o"), 0, f"{tag}_o")
        return ctx.op("Multiply", o, self._activate(c, 2, f"{tag}_c_act"), suffix=f"{tag}_h"), c
