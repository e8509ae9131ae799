"""Recurrent sequence layers: RNNSequence-5, GRUSequence-5, LSTMSequence-5.

Layouts as OpenVINO's: X [batch, seq, input], initial states [batch, dirs, hidden],
sequence_lengths [batch], weights W [dirs, gates*hidden, input], R [dirs, gates*hidden, hidden],
B [dirs, gates*hidden] (GRU with ``linear_before_reset``: one more block, the recurrent bias of
the candidate gate); outputs Y [batch, dirs, seq, hidden] and the last states [batch, dirs, hidden].
Gate order: LSTM f, i, c, o; GRU z, r, h. A batch element stops at its sequence length: later
outputs are 0 and its state stays; the reverse direction starts at the last valid step. ``clip``
(> 0) bounds the gates' pre-activations. Activations: sigmoid, tanh, relu.

Traits as NNCF places quantizers: GRU and LSTM run quantized on their data and states, W and R
are weights with the output channels (gates x hidden) on axis 1.
"""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ops.activations import _sigmoid
from lpir.ops.elementwise import as_compute
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

_ACTIVATIONS = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0)}
_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}


class _Sequence(Op):
    """What the three layers share: shapes, the time loop, sequence lengths, directions."""

    gates: int
    default_activations: list[str]
    states: int = 1  # LSTM carries a cell state too
    attrs = {"hidden_size": Attr("int"), "direction": Attr("str"),
             "activations": Attr("strs", default=None), "activations_alpha": Attr("floats", default=[]),
             "activations_beta": Attr("floats", default=[]), "clip": Attr("float", default=0.0)}

    def weight_channel_axes(self, attrs) -> tuple[int, ...]:
        return (1,) if self.traits.weight_inputs else ()

    def infer(self, ctx: InferContext):
        direction = ctx.attrs["direction"]
        if direction not in _DIRECTIONS:
            raise ctx.fail(f"direction={direction!r} is not forward, reverse or bidirectional")
        names = ctx.attrs.get("activations") or self.default_activations
        unknown = [a for a in names if a not in _ACTIVATIONS]
        if unknown:
            raise ctx.fail(f"activations {unknown} are not supported (sigmoid, tanh, relu)")
        etype = ctx.etype(0)
        if not (etype.is_float or etype is types.dynamic):
            raise ctx.fail(f"X is {etype}: it must be floating-point")
        x, hidden, dirs = ctx.shape(0), ctx.attrs["hidden_size"], _DIRECTIONS[direction]
        batch, steps = (x[0], x[1]) if x is not None and len(x) == 3 else (None, None)
        if x is not None and len(x) != 3:
            raise ctx.fail(f"X must be [batch, seq, input], got shape {list(x)}")
        state = (batch, dirs, hidden)
        return [(etype, (batch, dirs, steps, hidden))] + [(etype, state)] * self.states

    def run(self, cell, x, initial: list[np.ndarray], lengths, w, r, b, *, hidden_size, direction, activations,
            clip, **_):
        """Runs ``cell(x_t, states, w, r, b, activations, clip) -> new states`` over the sequence."""
        dtype = np.asarray(x).dtype
        x = as_compute(np.asarray(x))
        initial = [as_compute(np.asarray(s)) for s in initial]
        w, r, b = (as_compute(np.asarray(v)) for v in (w, r, b))
        lengths = np.asarray(lengths).reshape(-1).astype(np.int64)
        act = [_ACTIVATIONS[a] for a in (activations or self.default_activations)]
        batch, steps, _ = x.shape
        dirs = _DIRECTIONS[direction]
        y = np.zeros((batch, dirs, steps, hidden_size), x.dtype)
        finals = [np.zeros_like(s) for s in initial]
        for d in range(dirs):
            backward = direction == "reverse" or d == 1
            states = [s[:, d] for s in initial]
            for t in (range(steps - 1, -1, -1) if backward else range(steps)):
                active = (t < lengths)[:, None]
                new = cell(x[:, t], states, w[d], r[d], b[d], act, clip)
                states = [np.where(active, n, s) for n, s in zip(new, states)]
                y[:, d, t] = np.where(active, new[0], 0)
            for final, s in zip(finals, states):
                final[:, d] = s
        return tuple(v.astype(dtype, copy=False) for v in [y] + finals)


def _clipped(gates: np.ndarray, clip: float) -> np.ndarray:
    return np.clip(gates, -clip, clip) if clip > 0 else gates


@register("RNNSequence", opset=5)
class RNNSequence(_Sequence):
    gates, default_activations = 1, ["tanh"]

    @staticmethod
    def cell(x, states, w, r, b, act, clip):
        return [act[0](_clipped(x @ w.T + states[0] @ r.T + b, clip))]

    def evaluate(self, x, initial_hidden_state, sequence_lengths, w, r, b, **attrs):
        return self.run(self.cell, x, [initial_hidden_state], sequence_lengths, w, r, b, **attrs)


@register("GRUSequence", opset=5)
class GRUSequence(_Sequence):
    gates, default_activations = 3, ["sigmoid", "tanh"]
    traits = Traits(quantizable=True, activation_inputs=(0, 1, 3, 4, 5), weight_inputs=(3, 4))  # not the lengths
    attrs = {**_Sequence.attrs, "linear_before_reset": Attr("bool", default=False)}

    @staticmethod
    def cell(x, states, w, r, b, act, clip, linear_before_reset=False):
        h = states[0]
        size = h.shape[1]
        xw = x @ w.T
        zr = act[0](_clipped(xw[:, :2 * size] + h @ r[:2 * size].T + b[:2 * size], clip))
        z, reset = zr[:, :size], zr[:, size:]
        if linear_before_reset:
            candidate = xw[:, 2 * size:] + b[2 * size:3 * size] + reset * (h @ r[2 * size:].T + b[3 * size:])
        else:
            candidate = xw[:, 2 * size:] + (reset * h) @ r[2 * size:].T + b[2 * size:3 * size]
        candidate = act[1](_clipped(candidate, clip))
        return [(1 - z) * candidate + z * h]

    def evaluate(self, x, initial_hidden_state, sequence_lengths, w, r, b, *, linear_before_reset=False, **attrs):
        def cell(*args):
            return self.cell(*args, linear_before_reset=linear_before_reset)
        return self.run(cell, x, [initial_hidden_state], sequence_lengths, w, r, b, **attrs)


@register("LSTMSequence", opset=5)
class LSTMSequence(_Sequence):
    gates, default_activations, states = 4, ["sigmoid", "tanh", "tanh"], 2
    traits = Traits(quantizable=True, activation_inputs=(0, 1, 2, 4, 5, 6), weight_inputs=(4, 5))

    @staticmethod
    def cell(x, states, w, r, b, act, clip):
        h, c = states
        size = h.shape[1]
        gates = _clipped(x @ w.T + h @ r.T + b, clip)
        forget, inp = act[0](gates[:, :size]), act[0](gates[:, size:2 * size])
        candidate, out = act[1](gates[:, 2 * size:3 * size]), act[0](gates[:, 3 * size:])
        c = forget * c + inp * candidate
        return [out * act[2](c), c]

    def evaluate(self, x, initial_hidden_state, initial_cell_state, sequence_lengths, w, r, b, **attrs):
        return self.run(self.cell, x, [initial_hidden_state, initial_cell_state], sequence_lengths, w, r, b, **attrs)
