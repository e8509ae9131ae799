"""Reshape, Squeeze, Unsqueeze, Transpose, Concat, Split, VariadicSplit, ShapeOf and Broadcast: ops that change a shape or join/split along an axis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dimension, Shape
from lpir.ops.common import broadcast_shapes, dims_product, normalize_axis
from lpir.ops.movement.base import (
    AGNOSTIC,
    MovementOp,
    _add,
    _axes,
    _check,
    _dynamic,
    _index_type,
    _ints,
    _length,
    _merge,
    _same_value,
    _scalar,
    _target,
)
from lpir.ops.registry import Attr, Traits, register


def _minus_one(shape: Shape | None, target: Sequence[Dimension], out: list[Dimension], special_zero: bool) -> Dimension:
    """The dimension a -1 in Reshape's target stands for."""
    if shape is None:
        return DYNAMIC
    at = out.index(-1)
    # dims copied by special_zero are the same on both sides: they cancel even when dynamic
    copied = {i for i, t in enumerate(target) if t == 0 and special_zero}
    known = dims_product(d for j, d in enumerate(out) if j != at and j not in copied)
    total = dims_product(d for j, d in enumerate(shape) if j not in copied)
    if not isinstance(known, int) or not isinstance(total, int):
        return DYNAMIC
    _check(known != 0 and total % known == 0 or known == 0 and total == 0,
           f"cannot infer -1 in target shape {list(target)} for input {list(shape)}")
    return total // known if known else 0


def reshape_dims(shape: Shape | None, target: Sequence[Dimension], special_zero: bool) -> Shape:
    """Reshape's output shape for ``target`` (0 copies a dim if ``special_zero``, -1 is inferred)."""
    _check(sum(1 for t in target if t == -1) <= 1, f"target shape {list(target)} has more than one -1")
    out: list[Dimension] = []
    for i, t in enumerate(target):
        if isinstance(t, int) and t < -1:
            raise ValidationError(f"target shape {list(target)} has a negative dimension {t}")
        if t == 0 and special_zero:
            _check(shape is None or i < len(shape),
                   f"target shape {list(target)} copies dimension {i} (special_zero) of a rank-{len(shape or ())} input")
            out.append(DYNAMIC if shape is None else shape[i])
        else:
            out.append(t)
    if -1 in out:
        out[out.index(-1)] = _minus_one(shape, target, out, special_zero)
    total = DYNAMIC if shape is None else dims_product(shape)
    product = dims_product(out)
    if isinstance(product, int) and isinstance(total, int):
        _check(product == total, f"target shape {list(target)} has {product} elements, input {list(shape)} has {total}")
    return tuple(out)


@register("Reshape", opset=1)
class Reshape(MovementOp):
    attrs = {"special_zero": Attr("bool")}
    traits = AGNOSTIC

    partial_value = staticmethod(_same_value)

    def infer_outputs(self, ctx):
        target = _target(ctx, 1)
        if target is None:
            return [(ctx.etype(0), _dynamic(_length(ctx.shape(1))))]
        return [(ctx.etype(0), reshape_dims(ctx.shape(0), target, ctx.attrs["special_zero"]))]

    def evaluate(self, data, shape, *, special_zero):
        return (data.reshape(reshape_dims(data.shape, _ints(shape), special_zero)),)


def squeeze_dims(shape: Shape, axes: Sequence[int] | None) -> Shape:
    """Squeeze's output: the listed axes (or every dim equal to 1) removed.

    As in OpenVINO, a listed axis whose dimension is static and not 1 is kept, and a listed
    dynamic dimension is taken to be 1.
    """
    if axes is None:
        return tuple(d for d in shape if d != 1)
    drop = set(_axes(axes, len(shape), "Squeeze axis")) if shape else set()
    return tuple(d for i, d in enumerate(shape) if i not in drop or (isinstance(d, int) and d != 1))


@register("Squeeze", opset=1)
class Squeeze(MovementOp):
    traits = AGNOSTIC
    partial_value = staticmethod(_same_value)

    def infer_outputs(self, ctx):
        shape = ctx.shape(0)
        if ctx.num_inputs < 2:
            if shape is None or any(not isinstance(d, int) for d in shape):
                return [(ctx.etype(0), None)]
            return [(ctx.etype(0), squeeze_dims(shape, None))]
        axes = _ints(ctx.value(1))
        if shape is None:
            return [(ctx.etype(0), None)]
        if axes is None:
            count = _length(ctx.shape(1))
            return [(ctx.etype(0), None if count is None else _dynamic(len(shape) - count))]
        return [(ctx.etype(0), squeeze_dims(shape, axes))]

    def evaluate(self, data, axes=None):
        return (data.reshape(squeeze_dims(data.shape, None if axes is None else _ints(axes))),)


def unsqueeze_dims(shape: Shape, axes: Sequence[int]) -> Shape:
    """Unsqueeze's output: a 1 inserted at each axis of the output rank."""
    rank = len(shape) + len(axes)
    inserted = set(_axes(axes, rank, "Unsqueeze axis"))
    rest = iter(shape)
    return tuple(1 if i in inserted else next(rest) for i in range(rank))


@register("Unsqueeze", opset=1)
class Unsqueeze(MovementOp):
    traits = AGNOSTIC
    partial_value = staticmethod(_same_value)

    def infer_outputs(self, ctx):
        shape, axes = ctx.shape(0), _ints(ctx.value(1))
        if shape is None:
            return [(ctx.etype(0), None)]
        if axes is None:
            count = _length(ctx.shape(1))
            return [(ctx.etype(0), None if count is None else _dynamic(len(shape) + count))]
        return [(ctx.etype(0), unsqueeze_dims(shape, axes))]

    def evaluate(self, data, axes):
        return (data.reshape(unsqueeze_dims(data.shape, _ints(axes))),)


def transpose_order(order: Sequence[int], rank: int) -> list[int]:
    """The permutation (empty order = reverse the axes); as in OpenVINO, no negative entries."""
    if len(order) == 0:
        return list(range(rank))[::-1]
    _check(sorted(order) == list(range(rank)), f"Transpose order {list(order)} is not a permutation of the {rank} axes")
    return list(order)


@register("Transpose", opset=1)
class Transpose(MovementOp):
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        shape, order = ctx.shape(0), _ints(ctx.value(1))
        if shape is None:
            return [(ctx.etype(0), None if order is None or not order else _dynamic(len(order)))]
        if order is None:
            return [(ctx.etype(0), _dynamic(len(shape)))]
        return [(ctx.etype(0), tuple(shape[a] for a in transpose_order(order, len(shape))))]

    def evaluate(self, data, order):
        return (np.transpose(data, transpose_order(_ints(order), data.ndim)),)


def concat_dims(shapes: Sequence[Shape | None], axis: int) -> Shape | None:
    known = [s for s in shapes if s is not None]
    if not known:
        return None
    rank = len(known[0])
    _check(all(len(s) == rank for s in known), f"Concat inputs have different ranks: {[list(s) for s in known]}")
    axis = normalize_axis(axis, rank, "Concat axis")
    out = list(known[0])
    out[axis] = 0
    for s in known:
        for i, d in enumerate(s):
            out[i] = _add(out[i], d) if i == axis else _merge(out[i], d, f"Concat inputs {[list(s) for s in known]} axis {i}")
    if len(known) < len(shapes):
        out[axis] = DYNAMIC
    return tuple(out)


@register("Concat", opset=1)
class Concat(MovementOp):
    attrs = {"axis": Attr("int")}
    traits = Traits(quantization_agnostic=True, unified_input_scales=True)

    def infer_outputs(self, ctx):
        _check(ctx.num_inputs > 0, "Concat needs at least one input")
        shapes = [ctx.shape(i) for i in range(ctx.num_inputs)]
        return [(ctx.etype(0), concat_dims(shapes, ctx.attrs["axis"]))]

    def partial_value(self, ctx):
        parts = [ctx.partial_value(i) for i in range(ctx.num_inputs)]
        return None if any(p is None for p in parts) else sum(parts, ())

    def evaluate(self, *inputs, axis):
        concat_dims([x.shape for x in inputs], axis)
        return (np.concatenate(inputs, axis=axis),)


def split_lengths(dim: Dimension, lengths: Sequence[int]) -> list[Dimension]:
    """VariadicSplit's output lengths along the axis (one -1 takes the rest)."""
    _check(sum(1 for n in lengths if n == -1) <= 1, f"split_lengths {list(lengths)} has more than one -1")
    _check(all(n >= -1 for n in lengths), f"split_lengths {list(lengths)} has a negative length")
    out: list[Dimension] = list(lengths)
    rest = sum(n for n in lengths if n != -1)
    if -1 in lengths:
        out[lengths.index(-1)] = dim - rest if isinstance(dim, int) else DYNAMIC
        _check(not isinstance(dim, int) or dim >= rest, f"split_lengths {list(lengths)} exceed dimension {dim}")
    else:
        _check(not isinstance(dim, int) or dim == rest, f"split_lengths {list(lengths)} do not add up to dimension {dim}")
    return out


def _split_shapes(shape: Shape | None, axis: int | None, lengths: Sequence[Dimension] | None, count: int) -> list:
    if shape is None:
        return [None] * count
    if axis is None:
        return [_dynamic(len(shape))] * count
    axis = normalize_axis(axis, len(shape), "split axis")
    if lengths is None:
        lengths = [DYNAMIC] * count
    outs = []
    for n in lengths:
        dims = list(shape)
        dims[axis] = n
        outs.append(tuple(dims))
    return outs


def _split(data: np.ndarray, axis: int, lengths: Sequence[int]) -> tuple[np.ndarray, ...]:
    bounds = np.cumsum(lengths)[:-1]
    return tuple(np.split(data, bounds, axis=axis))


@register("Split", opset=1)
class Split(MovementOp):
    attrs = {"num_splits": Attr("int")}
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        count = ctx.attrs["num_splits"]
        _check(count > 0, f"num_splits must be positive, got {count}")
        _check(ctx.shape(1) is None or len(ctx.shape(1)) == 0, f"Split axis must be a scalar, got shape {ctx.shape(1)}")
        shape, axis = ctx.shape(0), _scalar(ctx.value(1))
        lengths = None
        if shape is not None and axis is not None:
            dim = shape[normalize_axis(axis, len(shape), "Split axis")]
            lengths = [self._part(dim, count)] * count
        return [(ctx.etype(0), s) for s in _split_shapes(shape, axis, lengths, count)]

    @staticmethod
    def _part(dim: Dimension, count: int) -> Dimension:
        if not isinstance(dim, int):
            return DYNAMIC
        _check(dim % count == 0, f"dimension {dim} does not split into num_splits={count} equal parts")
        return dim // count

    def evaluate(self, data, axis, *, num_splits):
        axis = normalize_axis(_scalar(axis), data.ndim, "Split axis")
        return _split(data, axis, [self._part(data.shape[axis], num_splits)] * num_splits)


@register("VariadicSplit", opset=1)
class VariadicSplit(MovementOp):
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        shape, axis, lengths = ctx.shape(0), _scalar(ctx.value(1)), _ints(ctx.value(2))
        count = len(lengths) if lengths is not None else _length(ctx.shape(2))
        _check(count is not None, "VariadicSplit needs split_lengths of known length")
        dims = None
        if shape is not None and axis is not None and lengths is not None:
            dims = split_lengths(shape[normalize_axis(axis, len(shape), "VariadicSplit axis")], lengths)
        return [(ctx.etype(0), s) for s in _split_shapes(shape, axis, dims, count)]

    def evaluate(self, data, axis, lengths):
        axis = normalize_axis(_scalar(axis), data.ndim, "VariadicSplit axis")
        return _split(data, axis, split_lengths(data.shape[axis], _ints(lengths)))


@register("ShapeOf", opset=1)
class ShapeOf(MovementOp):
    def infer_outputs(self, ctx):
        shape = ctx.shape(0)
        return [(ctx.attrs.get("output_type", types.i64), None if shape is None else (len(shape),))]

    def partial_value(self, ctx):
        shape = ctx.shape(0)
        return None if shape is None else tuple(shape)

    def evaluate(self, data, *, output_type=types.i64):
        return (np.array(data.shape, dtype=types.parse_type(output_type).dtype),)


@register("ShapeOf", opset=3)
class ShapeOf3(ShapeOf):
    attrs = {"output_type": Attr("etype", default=types.i64)}

    def infer_outputs(self, ctx):
        _index_type(ctx.attrs["output_type"], "ShapeOf output_type")
        return super().infer_outputs(ctx)


def broadcast_dims(data: Shape, target: Sequence[Dimension], mode: str, axes_mapping: Sequence[int] | None) -> Shape:
    """Broadcast's output shape for modes numpy, bidirectional and explicit."""
    target = tuple(target)
    if mode == "bidirectional":
        return broadcast_shapes([data, target])
    if mode == "numpy":
        _check(len(target) >= len(data), f"numpy Broadcast of {list(data)} to the lower rank {list(target)}")
        for d, t in zip(data[::-1], target[::-1]):
            _check(not (isinstance(d, int) and isinstance(t, int)) or d in (1, t),
                   f"shape {list(data)} does not broadcast to {list(target)}")
        return target
    if mode == "explicit":
        _check(axes_mapping is not None, "explicit Broadcast needs axes_mapping")
        _check(len(axes_mapping) == len(data), f"axes_mapping {list(axes_mapping)} must have one axis per data dimension {list(data)}")
        _check(list(axes_mapping) == sorted(set(axes_mapping)), f"axes_mapping {list(axes_mapping)} must be increasing")
        for d, a in zip(data, axes_mapping):
            _check(0 <= a < len(target), f"axes_mapping {list(axes_mapping)} out of range for target {list(target)}")
            _check(not (isinstance(d, int) and isinstance(target[a], int)) or d in (1, target[a]),
                   f"dimension {d} does not broadcast to {target[a]} (axes_mapping {list(axes_mapping)})")
        return target
    raise ValidationError(f"Broadcast mode {mode!r} is not supported (numpy, explicit, bidirectional)")


class _Broadcast(MovementOp):
    traits = AGNOSTIC
    modes: tuple[str, ...] = ("numpy", "explicit", "bidirectional")

    def infer_outputs(self, ctx):
        data, mode = ctx.shape(0), ctx.attrs["mode"].lower()
        _check(mode in self.modes, f"Broadcast-{self.opset} mode {mode!r} is not one of {self.modes}")
        target = _target(ctx, 1)
        mapping = _ints(ctx.value(2)) if ctx.num_inputs > 2 else None
        if data is None:
            return [(ctx.etype(0), None if target is None or mode == "bidirectional" else tuple(target))]
        if target is None:
            count = _length(ctx.shape(1))
            if mode == "bidirectional" and count is not None:
                count = max(count, len(data))
            return [(ctx.etype(0), _dynamic(count))]
        if mode == "explicit" and mapping is None:
            return [(ctx.etype(0), tuple(target))]
        return [(ctx.etype(0), broadcast_dims(data, target, mode, mapping))]

    def evaluate(self, data, target_shape, axes_mapping=None, *, mode):
        mode = mode.lower()
        mapping = _ints(axes_mapping)
        out = broadcast_dims(data.shape, _ints(target_shape), mode, mapping)
        if mode == "explicit":
            placed = [1] * len(out)
            for d, a in zip(data.shape, mapping):
                placed[a] = d
            data = data.reshape(placed)
        return (np.broadcast_to(data, out),)


@register("Broadcast", opset=1)
class Broadcast1(_Broadcast):
    attrs = {"mode": Attr("str", default="numpy")}
    modes = ("numpy", "explicit")


@register("Broadcast", opset=3)
class Broadcast3(_Broadcast):
    attrs = {"mode": Attr("str", default="numpy")}
