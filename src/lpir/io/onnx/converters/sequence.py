"""ONNX sequence ops, resolved while the model is read.

A sequence whose length is known at conversion time (built by SequenceConstruct, SequenceEmpty,
SplitToSequence and edited at constant positions) is kept as a :class:`TensorSequence`, a list of
lpir outputs; SequenceAt picks one, ConcatFromSequence joins them and SequenceLength becomes a
constant. OpenVINO's frontend resolves the same ops the same way. A position computed at run
time would need a sequence type lpir's graphs do not have, so it is refused.
"""

from __future__ import annotations

import numpy as np

import onnx
from lpir.errors import UnsupportedOpError
from lpir.io.onnx.context import NodeContext, TensorSequence, converter, element_type
from lpir.ir import types
from lpir.ir.graph import Output

_I64 = np.int64


def _position(ctx: NodeContext, index: int, default: int, length: int, *, end_allowed: bool) -> int:
    """The constant position at input ``index`` (``default`` when absent) as an index in
    ``0..length`` (``end_allowed``) or ``0..length-1``; negative positions count from the end."""
    if ctx.optional_input(index) is None:
        return default
    value = ctx.value(index)
    if value is None:
        raise UnsupportedOpError(f"ONNX node '{ctx.name}' ({ctx.op_type}): the position is computed at run time "
                                 "(lpir needs it constant)")
    position = int(np.asarray(value).reshape(-1)[0])
    limit = length if end_allowed else length - 1
    if not -length <= position <= limit:
        raise ctx.fail(f"position {position} is outside the sequence of length {length}")
    return position + length if position < 0 else position


def _same_type(ctx: NodeContext, sequence: TensorSequence, tensor: Output) -> None:
    if tensor.etype is not types.dynamic and tensor.etype != sequence.etype:
        raise ctx.fail(f"a {tensor.etype.name} tensor cannot join a sequence of {sequence.etype.name}")


@converter("SequenceConstruct", reads_sequences=True)
def _sequence_construct(ctx: NodeContext) -> TensorSequence:
    items = tuple(ctx.input(i) for i in range(ctx.num_inputs))
    if not items:
        raise ctx.fail("SequenceConstruct needs at least one tensor")
    sequence = TensorSequence(items, items[0].etype)
    for item in items[1:]:
        _same_type(ctx, sequence, item)
    return sequence


@converter("SequenceEmpty", reads_sequences=True)
def _sequence_empty(ctx: NodeContext) -> TensorSequence:
    return TensorSequence((), element_type(ctx.attr("dtype", onnx.TensorProto.FLOAT), f"ONNX node '{ctx.name}'"))


@converter("SequenceInsert", reads_sequences=True)
def _sequence_insert(ctx: NodeContext) -> TensorSequence:
    sequence, tensor = ctx.sequence(0), ctx.input(1)
    _same_type(ctx, sequence, tensor)
    position = _position(ctx, 2, len(sequence), len(sequence), end_allowed=True)
    items = sequence.items
    return TensorSequence(items[:position] + (tensor,) + items[position:], sequence.etype)


@converter("SequenceErase", reads_sequences=True)
def _sequence_erase(ctx: NodeContext) -> TensorSequence:
    sequence = ctx.sequence(0)
    if not len(sequence):
        raise ctx.fail("cannot erase from an empty sequence")
    position = _position(ctx, 1, len(sequence) - 1, len(sequence), end_allowed=False)
    return TensorSequence(sequence.items[:position] + sequence.items[position + 1:], sequence.etype)


@converter("SequenceAt", reads_sequences=True)
def _sequence_at(ctx: NodeContext) -> Output:
    sequence = ctx.sequence(0)
    if ctx.optional_input(1) is None:
        raise ctx.fail("input 1 (position) is required but missing")
    return sequence.items[_position(ctx, 1, 0, len(sequence), end_allowed=False)]


@converter("SequenceLength", reads_sequences=True)
def _sequence_length(ctx: NodeContext) -> Output:
    return ctx.const(np.asarray(len(ctx.sequence(0)), dtype=_I64), "length")


@converter("ConcatFromSequence", emits=("Concat", "Unsqueeze"), reads_sequences=True)
def _concat_from_sequence(ctx: NodeContext) -> Output:
    """Concat along ``axis``; with ``new_axis`` each tensor first gets a dimension of 1 there."""
    sequence = ctx.sequence(0)
    if not len(sequence):
        raise ctx.fail("cannot concatenate an empty sequence")
    axis, new_axis = ctx.attr("axis", required=True), ctx.attr("new_axis", 0)
    rank = ctx.rank(sequence.items[0]) + (1 if new_axis else 0)
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is outside the rank {rank}")
    axis = axis + rank if axis < 0 else axis
    items = list(sequence.items)
    if new_axis:
        where = ctx.const(np.asarray([axis], dtype=_I64), "new_axis")
        items = [ctx.op("Unsqueeze", item, where, suffix=f"unsqueeze{i}") for i, item in enumerate(items)]
    return ctx.build("Concat", items, {"axis": axis}).outputs[0]


@converter("SplitToSequence", emits=("VariadicSplit", "Squeeze"), reads_sequences=True)
def _split_to_sequence(ctx: NodeContext) -> TensorSequence:
    """Parts of the sizes in ``split`` (a list), or of ``split`` elements each with a shorter last
    part (a scalar); without ``split`` parts of 1 whose axis ``keepdims=0`` removes."""
    x = ctx.input(0)
    rank = ctx.rank(x)
    axis = ctx.attr("axis", 0)
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is outside the rank {rank}")
    axis = axis + rank if axis < 0 else axis
    length = x.shape[axis]
    given = ctx.optional_input(1)
    split = None if given is None else ctx.value(1)
    if given is not None and split is None:  # sizes known at run time only: their count must be static
        if given.shape is None or len(given.shape) != 1 or not isinstance(given.shape[0], int):
            raise UnsupportedOpError(f"ONNX node '{ctx.name}' ({ctx.op_type}): the number of parts is known "
                                     "at run time only (lpir needs a constant split or one of static length)")
        count = given.shape[0]
        parts = ctx.build("VariadicSplit", [x, ctx.const(np.int64(axis), "axis"), given]).outputs if count else []
        return TensorSequence(tuple(parts), x.etype)
    split = None if split is None else split.astype(_I64)
    if split is not None and split.ndim == 1:
        sizes = [int(s) for s in split]
    else:
        if not isinstance(length, int):
            raise ctx.fail(f"splitting axis {axis} of shape {list(x.shape)} into parts needs its length")
        part = 1 if split is None else int(split)
        if part <= 0:
            raise ctx.fail(f"split {part} is not positive")
        sizes = [part] * (length // part) + ([length % part] if length % part else [])
    if not sizes:
        return TensorSequence((), x.etype)
    parts = ctx.build("VariadicSplit", [x, ctx.const(np.int64(axis), "axis"),
                                        ctx.const(np.asarray(sizes, dtype=_I64), "split")]).outputs
    if split is None and not ctx.attr("keepdims", 1):
        where = ctx.const(np.asarray([axis], dtype=_I64), "squeeze_axis")
        parts = [ctx.op("Squeeze", part, where, suffix=f"squeeze{i}") for i, part in enumerate(parts)]
    return TensorSequence(tuple(parts), x.etype)
