"""Ops that move, select or reshape data without arithmetic (Reshape, Transpose, Concat, Gather, Slice, ...).

Shape inference here works on partial shapes: a dimension is an ``int`` or a dynamic
:class:`~lpir.ir.shape.Dim`. Where an output shape depends on an input *value* (Reshape's
target, Slice's bounds, Gather's axis ...) the value is taken from ``ctx.value`` when it is
known before running; otherwise the rank is kept when it can be and the dimensions become
dynamic. The same shape functions serve inference and evaluation, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lpir.errors import ValidationError, describe_node
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dim, Dimension, Shape
from lpir.ops.common import broadcast_shapes, dims_product, normalize_axis
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

AGNOSTIC = Traits(quantization_agnostic=True)
Outputs = list[tuple[types.ElementType, Shape | None]]


class MovementOp(Op):
    """Base of the ops below: shape errors raised as plain ValidationError get the node's name."""

    def infer(self, ctx: InferContext) -> Outputs:
        try:
            return self.infer_outputs(ctx)
        except ValidationError as exc:
            label = describe_node(ctx.node)
            if str(exc).startswith(label):
                raise
            raise ctx.fail(str(exc)) from None

    def infer_outputs(self, ctx: InferContext) -> Outputs:
        raise NotImplementedError


# --------------------------------------------------------------------------- helpers


def _ints(value: np.ndarray | Sequence[int] | None) -> list[int] | None:
    """A known integer input as a flat list (None stays None)."""
    if value is None:
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _scalar(value: np.ndarray | None) -> int | None:
    ints = _ints(value)
    if ints is None:
        return None
    if len(ints) != 1:
        raise ValidationError(f"expected a single value, got {ints}")
    return ints[0]


def _length(shape: Shape | None) -> int | None:
    """Number of elements of a 0-D or 1-D input of static length (None if not known)."""
    if shape is None:
        return None
    if len(shape) == 0:
        return 1
    if len(shape) == 1 and isinstance(shape[0], int):
        return shape[0]
    return None


def _dynamic(rank: int | None) -> Shape | None:
    return None if rank is None else (DYNAMIC,) * rank


def _axes(values: Sequence[int], rank: int, what: str = "axis") -> list[int]:
    """Axes normalised to ``[0, rank)``; duplicates are an error."""
    axes = [normalize_axis(int(a), rank, what) for a in values]
    if len(set(axes)) != len(axes):
        raise ValidationError(f"{what} values {list(values)} repeat an axis")
    return axes


def _add(a: Dimension, b: Dimension) -> Dimension:
    return a + b if isinstance(a, int) and isinstance(b, int) else DYNAMIC


def _merge(a: Dimension, b: Dimension, what: str) -> Dimension:
    """Two dimensions that must be equal: the static one wins, static mismatch is an error."""
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise ValidationError(f"{what}: dimensions {a} and {b} differ")
    return a if isinstance(a, int) else b


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationError(message)


def _index_type(etype: types.ElementType, what: str) -> types.ElementType:
    if etype not in (types.i32, types.i64):
        raise ValidationError(f"{what} must be i32 or i64, got {etype}")
    return etype


def _wrap_indices(indices: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Negative indices counted from the end; returns (indices clipped into range, in-range mask)."""
    indices = np.asarray(indices, dtype=np.int64)
    wrapped = np.where(indices < 0, indices + size, indices)
    valid = (wrapped >= 0) & (wrapped < size)
    return np.where(valid, wrapped, 0), valid


def _same_value(ctx: InferContext) -> Shape | None:
    """The partial value of input 0, for ops that keep a flat value's elements in order."""
    return ctx.partial_value(0)


def _target(ctx: InferContext, i: int) -> Sequence[Dimension] | None:
    """A shape-like input: its known value, else its partially known value (None if neither)."""
    value = _ints(ctx.value(i))
    return value if value is not None else ctx.partial_value(i)


# --------------------------------------------------------------------------- Reshape family


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


# --------------------------------------------------------------------------- Concat and splits


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
    traits = AGNOSTIC

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


# --------------------------------------------------------------------------- Gather family


def gather_dims(data: Shape, indices: Shape, axis: int, batch_dims: int) -> Shape:
    axis = normalize_axis(axis, len(data), "Gather axis")
    batch = batch_dims + len(indices) if batch_dims < 0 else batch_dims
    _check(0 <= batch <= min(axis, len(indices)),
           f"batch_dims {batch_dims} must be in [-{len(indices)}, min(axis={axis}, indices rank={len(indices)})]")
    for i in range(batch):
        _merge(data[i], indices[i], f"Gather batch dimension {i} of data {list(data)} and indices {list(indices)}")
    return tuple(data[:axis]) + tuple(indices[batch:]) + tuple(data[axis + 1:])


def _gather(data: np.ndarray, indices: np.ndarray, axis: int, batch_dims: int) -> np.ndarray:
    """Gather along ``axis`` with leading batch dims shared; out-of-range indices give zeros."""
    out_shape = gather_dims(data.shape, indices.shape, axis, batch_dims)
    axis = normalize_axis(axis, data.ndim)
    batch = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    nb = int(np.prod(data.shape[:batch], dtype=np.int64))
    pre = int(np.prod(data.shape[batch:axis], dtype=np.int64))
    flat = data.reshape(nb, pre, data.shape[axis], -1)
    idx, valid = _wrap_indices(indices.reshape(nb, -1), data.shape[axis])
    picked = flat[np.arange(nb)[:, None, None], np.arange(pre)[None, :, None], idx[:, None, :]]
    if not valid.all():
        picked = np.where(valid[:, None, :, None], picked, np.zeros((), data.dtype))
    return picked.reshape(out_shape)


class _Gather(MovementOp):
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        data, indices, axis = ctx.shape(0), ctx.shape(1), _scalar(ctx.value(2))
        batch = ctx.attrs.get("batch_dims", 0)
        if data is None or indices is None:
            return [(ctx.etype(0), None)]
        if axis is None:
            batch = batch + len(indices) if batch < 0 else batch
            return [(ctx.etype(0), _dynamic(len(data) - 1 + len(indices) - batch))]
        return [(ctx.etype(0), gather_dims(data, indices, axis, batch))]

    def partial_value(self, ctx):
        values, indices, axis = ctx.partial_value(0), _ints(ctx.value(1)), _scalar(ctx.value(2))
        if values is None or indices is None or axis not in (0, -1) or ctx.attrs.get("batch_dims", 0) != 0:
            return None
        wrapped = [i + len(values) if i < 0 else i for i in indices]
        return tuple(values[i] for i in wrapped) if all(0 <= i < len(values) for i in wrapped) else None

    def evaluate(self, data, indices, axis, *, batch_dims=0):
        return (_gather(data, indices, _scalar(axis), batch_dims),)


@register("Gather", opset=1)
class Gather1(_Gather):
    pass


@register("Gather", opset=7)
class Gather7(_Gather):
    attrs = {"batch_dims": Attr("int", default=0)}


@register("Gather", opset=8)
class Gather8(_Gather):
    attrs = {"batch_dims": Attr("int", default=0)}


@register("GatherElements", opset=6)
class GatherElements(MovementOp):
    attrs = {"axis": Attr("int")}
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        data, indices = ctx.shape(0), ctx.shape(1)
        if data is not None and indices is not None:
            _check(len(data) == len(indices), f"GatherElements data {list(data)} and indices {list(indices)} ranks differ")
            axis = normalize_axis(ctx.attrs["axis"], len(data), "GatherElements axis")
            indices = tuple(_merge(d, i, "GatherElements data and indices") if a != axis else i
                            for a, (d, i) in enumerate(zip(data, indices)))
        return [(ctx.etype(0), indices)]

    def evaluate(self, data, indices, *, axis):
        axis = normalize_axis(axis, data.ndim, "GatherElements axis")
        idx, valid = _wrap_indices(indices, data.shape[axis])
        _check(valid.all(), f"GatherElements indices out of range for dimension {data.shape[axis]}")
        return (np.take_along_axis(data, idx, axis=axis),)


def gather_nd_dims(data: Shape, indices: Shape, batch_dims: int) -> Shape:
    _check(len(indices) >= 1 and isinstance(indices[-1], int), f"GatherND indices shape {list(indices)} needs a static last dimension")
    depth = indices[-1]
    _check(batch_dims + depth <= len(data), f"GatherND indices of depth {depth} with batch_dims {batch_dims} exceed data rank {len(data)}")
    _check(0 <= batch_dims < len(indices), f"GatherND batch_dims {batch_dims} out of range for indices rank {len(indices)}")
    return tuple(indices[:-1]) + tuple(data[batch_dims + depth:])


@register("GatherND", opset=8)
class GatherND(MovementOp):
    attrs = {"batch_dims": Attr("int", default=0)}
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        data, indices = ctx.shape(0), ctx.shape(1)
        if data is None or indices is None:
            return [(ctx.etype(0), None)]
        return [(ctx.etype(0), gather_nd_dims(data, indices, ctx.attrs["batch_dims"]))]

    def evaluate(self, data, indices, *, batch_dims):
        out_shape = gather_nd_dims(data.shape, indices.shape, batch_dims)
        nb = int(np.prod(data.shape[:batch_dims], dtype=np.int64))
        depth = indices.shape[-1]
        flat = data.reshape((nb,) + data.shape[batch_dims:])
        idx = indices.reshape(nb, -1, depth).astype(np.int64)
        sizes = np.array(flat.shape[1:1 + depth], dtype=np.int64)
        idx = np.where(idx < 0, idx + sizes, idx)
        _check(bool(((idx >= 0) & (idx < sizes)).all()), f"GatherND indices out of range for data {list(data.shape)}")
        picked = flat[(np.arange(nb)[:, None],) + tuple(np.moveaxis(idx, -1, 0))]
        return (picked.reshape(out_shape),)


# --------------------------------------------------------------------------- ShapeOf, Broadcast


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
    def infer_outputs(self, ctx):
        data, mode = ctx.shape(0), ctx.attrs["mode"].lower()
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


@register("Broadcast", opset=3)
class Broadcast3(_Broadcast):
    attrs = {"mode": Attr("str", default="numpy")}


# --------------------------------------------------------------------------- Slice, StridedSlice

# An index item per data axis, applied as numpy basic indexing: a slice, an int (the axis is
# removed), None (a new axis of 1), or UNKNOWN (a slice whose bounds are not known yet).
UNKNOWN = "unknown"


def _bounded(item: slice, dim: int) -> slice:
    """``item`` with bounds clamped as OpenVINO does for ``dim`` elements.

    Unlike Python, a start before the first element with a negative step is clamped to the
    first element (so ``[-10:-20:-1]`` of one element keeps it).
    """
    start, stop, step = item.start, item.stop, item.step or 1
    _check(step != 0, "slice step must not be 0")
    if dim == 0:
        return slice(0, 0, step)

    def place(value: int | None, default: int, low: int, high: int) -> int:
        if value is None:
            return default
        return min(max(value + dim if value < 0 else value, low), high)

    if step > 0:
        return slice(place(start, 0, 0, dim), place(stop, dim, 0, dim), step)
    begin, end = place(start, dim - 1, 0, dim - 1), place(stop, -1, -1, dim - 1)
    return slice(begin, None if end < 0 else end, step)


def _apply_items(data: np.ndarray, items: Sequence) -> np.ndarray:
    """Basic indexing of ``data`` by index items, with OpenVINO's clamping of slice bounds."""
    index_dims(data.shape, items)
    concrete, axis = [], 0
    for item in items:
        if item is not None:
            item = _bounded(item, data.shape[axis]) if isinstance(item, slice) else item
            axis += 1
        concrete.append(item)
    return data[tuple(concrete)]


def index_dims(shape: Shape, items: Sequence) -> Shape:
    """The shape that numpy basic indexing with ``items`` (one per data axis plus Nones) gives."""
    _check(sum(1 for it in items if it is not None) == len(shape),
           f"{len(shape)} axes of {list(shape)} indexed by {len(items)} items")
    out: list[Dimension] = []
    axes = iter(shape)
    for item in items:
        if item is None:
            out.append(1)
            continue
        dim = next(axes)
        if isinstance(item, int):
            _check(not isinstance(dim, int) or -dim <= item < dim, f"index {item} out of range for dimension {dim}")
        elif item is UNKNOWN or not isinstance(dim, int):
            out.append(DYNAMIC)
        else:
            out.append(len(range(*_bounded(item, dim).indices(dim))))
    return tuple(out)


def slice_items(rank: int, start, stop, step, axes) -> list:
    """Slice-8's index items; any of the bound lists may be None (not known)."""
    known = [v for v in (start, stop, step) if v is not None]
    _check(all(len(v) == len(known[0]) for v in known), f"start, stop and step lengths differ: {known}")
    if axes is None and any(v is None for v in (start, stop, step)):
        count = len(known[0]) if known else 0
        _check(count <= rank, f"{count} slices for rank {rank}")
        return [UNKNOWN] * rank if count else [slice(None)] * rank
    count = len(known[0]) if known else len(axes)
    axes = _axes(axes if axes is not None else range(count), rank, "Slice axis")
    _check(len(axes) == count, f"Slice axes {axes} do not match {count} bounds")
    items: list = [slice(None)] * rank
    for i, a in enumerate(axes):
        if step is not None:
            _check(step[i] != 0, f"Slice step must not be 0, got {step}")
        items[a] = UNKNOWN if len(known) < 3 else slice(start[i], stop[i], step[i])
    return items


@register("Slice", opset=8)
class Slice(MovementOp):
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        shape = ctx.shape(0)
        if shape is None:
            return [(ctx.etype(0), None)]
        bounds = [_ints(ctx.value(i)) for i in (1, 2, 3)]
        axes = _ints(ctx.value(4)) if ctx.num_inputs > 4 else None
        if ctx.num_inputs > 4 and axes is None:
            return [(ctx.etype(0), _dynamic(len(shape)))]
        return [(ctx.etype(0), index_dims(shape, slice_items(len(shape), *bounds, axes)))]

    def partial_value(self, ctx):
        if ctx.shape(0) is None or len(ctx.shape(0)) != 1:
            return None
        bounds = [_ints(ctx.value(i)) for i in range(1, ctx.num_inputs)]
        if any(b is None for b in bounds):
            return None
        return _index_values(ctx.partial_value(0), slice_items(1, *bounds[:3], bounds[3] if len(bounds) > 3 else None))

    def evaluate(self, data, start, stop, step, axes=None):
        items = slice_items(data.ndim, _ints(start), _ints(stop), _ints(step), _ints(axes))
        return (_apply_items(data, items),)


def _index_values(values: Shape | None, items: Sequence) -> Shape | None:
    """A flat partial value indexed by the items of its single axis (None if not computable)."""
    if values is None:
        return None
    out: list[Dimension] = []
    for item in items:
        if item is UNKNOWN:
            return None
        if isinstance(item, int):
            out.append(values[item])
        elif isinstance(item, slice):
            out.extend(values[item])
    return tuple(out)


def _mask(bits: Sequence[int], i: int) -> bool:
    return i < len(bits) and bits[i] == 1


def strided_items(rank: int, count: int, begin, end, stride, masks: dict) -> list:
    """StridedSlice's index items from its masks; ``count`` bounds, values None when unknown."""
    sizes = {len(m) for m in masks.values() if len(m)}
    _check(len(sizes) <= 1, f"the non-empty masks must have one length, got {masks}")
    _check(sum(1 for i in range(count) if _mask(masks["ellipsis_mask"], i)) <= 1, "more than one ellipsis in ellipsis_mask")
    consumed = sum(1 for i in range(count) if not _mask(masks["new_axis_mask"], i) and not _mask(masks["ellipsis_mask"], i))
    _check(consumed <= rank, f"StridedSlice bounds of length {count} address more axes than the rank {rank}")
    items: list = []
    for i in range(count):
        if _mask(masks["ellipsis_mask"], i):
            items.extend([slice(None)] * (rank - consumed))
        elif _mask(masks["new_axis_mask"], i):
            items.append(None)
        elif _mask(masks["shrink_axis_mask"], i):
            items.append(0 if _mask(masks["begin_mask"], i) or begin is None else begin[i])
        elif begin is None or end is None or stride is None:
            items.append(UNKNOWN)
        else:
            _check(stride[i] != 0, f"StridedSlice stride must not be 0, got {stride}")
            b = None if _mask(masks["begin_mask"], i) else begin[i]
            e = None if _mask(masks["end_mask"], i) else end[i]
            items.append(slice(b, e, stride[i]))
    given = sum(1 for it in items if it is not None)
    return items + [slice(None)] * (rank - given)


@register("StridedSlice", opset=1)
class StridedSlice(MovementOp):
    attrs = {"begin_mask": Attr("ints"), "end_mask": Attr("ints"), "new_axis_mask": Attr("ints", default=[]),
             "shrink_axis_mask": Attr("ints", default=[]), "ellipsis_mask": Attr("ints", default=[])}
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        shape = ctx.shape(0)
        count = _length(ctx.shape(1))
        if shape is None or count is None:
            return [(ctx.etype(0), None)]
        begin, end = _ints(ctx.value(1)), _ints(ctx.value(2))
        stride = _ints(ctx.value(3)) if ctx.num_inputs > 3 else [1] * count
        items = strided_items(len(shape), count, begin, end, stride, ctx.attrs)
        return [(ctx.etype(0), index_dims(shape, items))]

    def partial_value(self, ctx):
        values = [_ints(ctx.value(i)) for i in range(1, ctx.num_inputs)]
        if ctx.shape(0) is None or len(ctx.shape(0)) != 1 or any(v is None for v in values):
            return None
        stride = values[2] if len(values) > 2 else [1] * len(values[0])
        items = strided_items(1, len(values[0]), values[0], values[1], stride, ctx.attrs)
        return _index_values(ctx.partial_value(0), items)

    def evaluate(self, data, begin, end, stride=None, **masks):
        begin, end = _ints(begin), _ints(end)
        stride = _ints(stride) if stride is not None else [1] * len(begin)
        _check(len(begin) == len(end) == len(stride), f"begin {begin}, end {end} and stride {stride} lengths differ")
        items = strided_items(data.ndim, len(begin), begin, end, stride, masks)
        return (_apply_items(data, items),)


# --------------------------------------------------------------------------- Tile, Pad, Range


def tile_dims(shape: Shape, repeats: Sequence[int]) -> Shape:
    _check(all(r >= 0 for r in repeats), f"Tile repeats {list(repeats)} must not be negative")
    rank = max(len(shape), len(repeats))
    shape = (1,) * (rank - len(shape)) + tuple(shape)
    repeats = [1] * (rank - len(repeats)) + list(repeats)
    return tuple(d * r if isinstance(d, int) else (0 if r == 0 else (d if r == 1 else DYNAMIC)) for d, r in zip(shape, repeats))


@register("Tile", opset=1)
class Tile(MovementOp):
    traits = AGNOSTIC

    def infer_outputs(self, ctx):
        shape, repeats = ctx.shape(0), _ints(ctx.value(1))
        if shape is None:
            return [(ctx.etype(0), None)]
        if repeats is None:
            count = _length(ctx.shape(1))
            return [(ctx.etype(0), None if count is None else _dynamic(max(count, len(shape))))]
        return [(ctx.etype(0), tile_dims(shape, repeats))]

    def evaluate(self, data, repeats):
        repeats = _ints(repeats)
        tile_dims(data.shape, repeats)
        return (np.tile(data, repeats),)


PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def pad_dims(shape: Shape, begin: Sequence[int], end: Sequence[int], mode: str, allow_negative: bool) -> Shape:
    _check(mode in PAD_MODES, f"pad_mode {mode!r} is not one of {PAD_MODES}")
    _check(len(begin) == len(end) == len(shape),
           f"pads_begin {list(begin)} and pads_end {list(end)} need one entry per axis of {list(shape)}")
    _check(allow_negative or min([0, *begin, *end]) >= 0, f"negative pads {list(begin)}, {list(end)} need Pad-12")
    out = []
    for d, b, e in zip(shape, begin, end):
        if isinstance(d, int):
            limit = d - 1 if mode == "reflect" else d
            _check(mode in ("constant", "edge") or max(b, e) <= limit,
                   f"{mode} pads {b}, {e} exceed {limit} for dimension {d}")
            _check(mode != "edge" or d > 0 or max(b, e) <= 0, "edge padding of an empty dimension")
            _check(d + b + e >= 0, f"pads {b}, {e} remove more than dimension {d}")
        out.append(d + b + e if isinstance(d, int) else DYNAMIC)
    return tuple(out)


def _pad(data, pads_begin, pads_end, pad_value, mode: str, allow_negative: bool) -> np.ndarray:
    """Pad with the positive pads, then crop the negative ones (as OpenVINO's Pad-12 does)."""
    begin, end = _ints(pads_begin), _ints(pads_end)
    pad_dims(data.shape, begin, end, mode, allow_negative)
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if mode == "constant":
        value = np.zeros((), data.dtype) if pad_value is None else np.asarray(pad_value).astype(data.dtype)
        padded = np.pad(data, widths, mode="constant", constant_values=value)
    else:
        padded = np.pad(data, widths, mode=mode)
    crop = tuple(slice(-min(b, 0), n + min(e, 0)) for b, e, n in zip(begin, end, padded.shape))
    return padded[crop]


class _Pad(MovementOp):
    attrs = {"pad_mode": Attr("str")}
    traits = AGNOSTIC
    allow_negative = False

    def infer_outputs(self, ctx):
        shape, begin, end = ctx.shape(0), _ints(ctx.value(1)), _ints(ctx.value(2))
        if shape is None:
            return [(ctx.etype(0), None)]
        if begin is None or end is None:
            _check(ctx.attrs["pad_mode"] in PAD_MODES, f"pad_mode {ctx.attrs['pad_mode']!r} is not one of {PAD_MODES}")
            return [(ctx.etype(0), _dynamic(len(shape)))]
        return [(ctx.etype(0), pad_dims(shape, begin, end, ctx.attrs["pad_mode"], self.allow_negative))]

    def evaluate(self, data, pads_begin, pads_end, pad_value=None, *, pad_mode):
        return (_pad(data, pads_begin, pads_end, pad_value, pad_mode, self.allow_negative),)


@register("Pad", opset=1)
class Pad1(_Pad):
    pass


@register("Pad", opset=12)
class Pad12(_Pad):
    allow_negative = True


def _range_bounds(start, stop, step, dtype: np.dtype) -> tuple[np.float64, np.float64, np.float64, int]:
    """Range's start, stop, step (truncated for an integer output, as OpenVINO casts them) and length."""
    start, stop, step = (np.asarray(v).reshape(()).astype(np.float64) for v in (start, stop, step))
    if np.issubdtype(dtype, np.integer):
        start, stop, step = np.trunc(start), np.trunc(stop), np.trunc(step)
    count = 0 if step == 0 else max(int(np.ceil((stop - start) / step)), 0)
    return start, stop, step, count


def range_values(start, stop, step, dtype: np.dtype) -> np.ndarray:
    """``start + i * step`` while before ``stop``, computed in ``dtype`` (a 0 step gives nothing)."""
    start, stop, step, count = _range_bounds(start, stop, step, dtype)
    index = np.arange(count, dtype=np.float64 if np.issubdtype(dtype, np.integer) else np.float32)
    if np.issubdtype(dtype, np.integer):
        return (start + index * step).astype(dtype)
    start32, step32 = np.float32(start), np.float32(step)
    return (start32 + index * step32).astype(dtype)


class _Range(MovementOp):
    def output_type(self, ctx) -> types.ElementType:
        return ctx.attrs.get("output_type") or ctx.etype(0)

    def infer_outputs(self, ctx):
        etype = self.output_type(ctx)
        values = [ctx.value(i) for i in range(3)]
        for i in range(3):
            _check(ctx.shape(i) is None or _length(ctx.shape(i)) == 1, f"Range input {i} must be a scalar, got {ctx.shape(i)}")
        if any(v is None for v in values):
            return [(etype, (DYNAMIC,))]
        return [(etype, (_range_bounds(*values, etype.dtype)[3],))]


@register("Range", opset=1)
class Range1(_Range):
    def evaluate(self, start, stop, step):
        return (range_values(start, stop, step, np.asarray(start).dtype),)


@register("Range", opset=4)
class Range4(_Range):
    attrs = {"output_type": Attr("etype")}

    def evaluate(self, start, stop, step, *, output_type):
        return (range_values(start, stop, step, types.parse_type(output_type).dtype),)


# --------------------------------------------------------------------------- space/depth, channels


def _block_dims(shape: Shape, block: int, to_space: bool) -> Shape:
    """DepthToSpace (``to_space``) or SpaceToDepth output shape of an ``[N, C, D1, ...]`` input."""
    _check(len(shape) >= 3, f"input shape {list(shape)} must be [N, C, D1, ...]")
    _check(block > 0, f"block_size must be positive, got {block}")
    n, c, spatial = shape[0], shape[1], shape[2:]
    factor = block ** len(spatial)
    if to_space:
        _check(not isinstance(c, int) or c % factor == 0, f"channels {c} not divisible by block_size^{len(spatial)} = {factor}")
        return (n, c // factor if isinstance(c, int) else DYNAMIC) + tuple(
            d * block if isinstance(d, int) else DYNAMIC for d in spatial)
    for d in spatial:
        _check(not isinstance(d, int) or d % block == 0, f"spatial dimension {d} not divisible by block_size {block}")
    return (n, c * factor if isinstance(c, int) else DYNAMIC) + tuple(
        d // block if isinstance(d, int) else DYNAMIC for d in spatial)


def _check_mode(mode: str) -> None:
    _check(mode in ("blocks_first", "depth_first"), f"mode {mode!r} is not blocks_first or depth_first")


class _BlockOp(MovementOp):
    attrs = {"block_size": Attr("int", default=1), "mode": Attr("str")}
    to_space = True

    def infer_outputs(self, ctx):
        _check_mode(ctx.attrs["mode"])
        shape = ctx.shape(0)
        return [(ctx.etype(0), None if shape is None else _block_dims(shape, ctx.attrs["block_size"], self.to_space))]


@register("DepthToSpace", opset=1)
class DepthToSpace(_BlockOp):
    traits = AGNOSTIC

    def evaluate(self, data, *, block_size, mode):
        _check_mode(mode)
        out = _block_dims(data.shape, block_size, True)
        k = data.ndim - 2
        blocks, c = (block_size,) * k, out[1]
        split = (blocks + (c,)) if mode == "blocks_first" else ((c,) + blocks)
        x = data.reshape((data.shape[0],) + split + data.shape[2:])
        first_block = 1 if mode == "blocks_first" else 2
        channel = k + 1 if mode == "blocks_first" else 1
        order = [0, channel] + [a for i in range(k) for a in (k + 2 + i, first_block + i)]
        return (x.transpose(order).reshape(out),)


@register("SpaceToDepth", opset=1)
class SpaceToDepth(_BlockOp):
    to_space = False

    def evaluate(self, data, *, block_size, mode):
        _check_mode(mode)
        out = _block_dims(data.shape, block_size, False)
        k = data.ndim - 2
        split = [d for s in data.shape[2:] for d in (s // block_size, block_size)]
        x = data.reshape(data.shape[:2] + tuple(split))
        blocks = [3 + 2 * i for i in range(k)]
        spatial = [2 + 2 * i for i in range(k)]
        order = [0] + (blocks + [1] if mode == "blocks_first" else [1] + blocks) + spatial
        return (x.transpose(order).reshape(out),)


@register("ShuffleChannels", opset=1)
class ShuffleChannels(MovementOp):
    attrs = {"axis": Attr("int", default=1), "group": Attr("int", default=1)}
    traits = AGNOSTIC

    @staticmethod
    def _check(shape: Shape, axis: int, group: int) -> int:
        _check(group >= 1, f"group must be positive, got {group}")
        axis = normalize_axis(axis, len(shape), "ShuffleChannels axis")
        dim = shape[axis]
        _check(not isinstance(dim, int) or dim % group == 0, f"dimension {dim} at axis {axis} not divisible by group {group}")
        return axis

    def infer_outputs(self, ctx):
        shape = ctx.shape(0)
        if shape is not None:
            self._check(shape, ctx.attrs["axis"], ctx.attrs["group"])
        return [(ctx.etype(0), shape)]

    def evaluate(self, data, *, axis, group):
        axis = self._check(data.shape, axis, group)
        pre = int(np.prod(data.shape[:axis], dtype=np.int64))
        x = data.reshape(pre, group, data.shape[axis] // group, -1)
        return (x.transpose(0, 2, 1, 3).reshape(data.shape),)


# --------------------------------------------------------------------------- scatter


def _scatter_check(data: Shape | None, indices: Shape | None, updates: Shape | None, expected) -> None:
    if data is None or indices is None or updates is None:
        return
    want = expected(data, indices)
    _check(len(want) == len(updates) and all(
        not (isinstance(w, int) and isinstance(u, int)) or w == u for w, u in zip(want, updates)),
        f"updates shape {list(updates)} must be {list(want)} for data {list(data)} and indices {list(indices)}")


class _Scatter(MovementOp):
    traits = AGNOSTIC

    def updates_shape(self, ctx, data: Shape, indices: Shape) -> Shape:
        raise NotImplementedError

    def infer_outputs(self, ctx):
        _scatter_check(ctx.shape(0), ctx.shape(1), ctx.shape(2), lambda d, i: self.updates_shape(ctx, d, i))
        return [(ctx.etype(0), ctx.shape(0))]


@register("ScatterUpdate", opset=3)
class ScatterUpdate(_Scatter):
    def updates_shape(self, ctx, data, indices):
        axis = _scalar(ctx.value(3))
        if axis is None:
            return tuple([DYNAMIC] * (len(data) - 1 + len(indices)))
        axis = normalize_axis(axis, len(data), "ScatterUpdate axis")
        return tuple(data[:axis]) + tuple(indices) + tuple(data[axis + 1:])

    def evaluate(self, data, indices, updates, axis):
        axis = normalize_axis(_scalar(axis), data.ndim, "ScatterUpdate axis")
        want = data.shape[:axis] + indices.shape + data.shape[axis + 1:]
        _check(updates.shape == want, f"updates shape {list(updates.shape)} must be {list(want)}")
        idx = indices.reshape(-1).astype(np.int64)
        _check(bool(((idx >= 0) & (idx < data.shape[axis])).all()),
               f"ScatterUpdate indices {indices.tolist()} out of range [0, {data.shape[axis]})")
        out = data.copy()
        moved = np.moveaxis(out, axis, 0)
        moved[idx] = np.moveaxis(updates.reshape(data.shape[:axis] + (idx.size,) + data.shape[axis + 1:]), axis, 0)
        return (out,)


_REDUCE = {"sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum, "mean": np.add}


def _identity(reduction: str, dtype: np.dtype):
    if reduction in ("sum", "mean"):
        return 0
    if reduction == "prod":
        return 1
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else np.iinfo(dtype)
    return info.max if reduction == "min" else info.min


def scatter_elements(data, indices, updates, axis: int, reduction: str = "none", use_init_val: bool = True):
    """ScatterElementsUpdate: ``out[..., indices[i], ...] (reduction)= updates[i]`` along ``axis``.

    An integer ``mean`` is floored, as OpenVINO's reference does (its CPU plugin truncates).
    """
    _check(reduction in ("none", *_REDUCE), f"reduction {reduction!r} is not one of none, {', '.join(_REDUCE)}")
    axis = normalize_axis(axis, data.ndim, "ScatterElementsUpdate axis")
    _check(indices.shape == updates.shape and indices.ndim == data.ndim,
           f"indices {list(indices.shape)} and updates {list(updates.shape)} must have one shape of rank {data.ndim}")
    idx, valid = _wrap_indices(indices, data.shape[axis])
    _check(bool(valid.all()), f"ScatterElementsUpdate indices out of range for dimension {data.shape[axis]}")
    coords = list(np.indices(indices.shape, sparse=True))
    coords[axis] = idx
    where = tuple(np.broadcast_arrays(*coords))
    out = data.copy()
    if reduction == "none":
        out[where] = updates
        return out
    if not use_init_val:
        out[where] = _identity(reduction, data.dtype)
    if reduction != "mean":
        _REDUCE[reduction].at(out, where, updates)
        return out
    total = out.astype(np.float64)
    np.add.at(total, where, updates.astype(np.float64))
    count = np.full(data.shape, 1 if use_init_val else 0, np.int64)
    np.add.at(count, where, 1)
    mean = total / np.maximum(count, 1)
    mean = np.floor(mean) if np.issubdtype(data.dtype, np.integer) else mean
    touched = np.zeros(data.shape, bool)
    touched[where] = True
    return np.where(touched, mean.astype(data.dtype), data)


class _ScatterElements(_Scatter):
    def updates_shape(self, ctx, data, indices):
        return indices

    def evaluate(self, data, indices, updates, axis, **attrs):
        return (scatter_elements(data, indices, updates, _scalar(axis), **attrs),)


@register("ScatterElementsUpdate", opset=3)
class ScatterElementsUpdate3(_ScatterElements):
    pass


@register("ScatterElementsUpdate", opset=12)
class ScatterElementsUpdate12(_ScatterElements):
    attrs = {"reduction": Attr("str", default="none"), "use_init_val": Attr("bool", default=True)}


@register("ScatterNDUpdate", opset=3)
class ScatterNDUpdate(_Scatter):
    def updates_shape(self, ctx, data, indices):
        _check(len(indices) >= 1 and isinstance(indices[-1], int), f"indices shape {list(indices)} needs a static last dimension")
        _check(indices[-1] <= len(data), f"indices of depth {indices[-1]} exceed data rank {len(data)}")
        return tuple(indices[:-1]) + tuple(data[indices[-1]:])

    def evaluate(self, data, indices, updates):
        self.updates_shape(None, data.shape, indices.shape)
        _scatter_check(data.shape, indices.shape, updates.shape, lambda d, i: self.updates_shape(None, d, i))
        depth = indices.shape[-1]
        idx = indices.reshape(-1, depth).astype(np.int64)
        sizes = np.array(data.shape[:depth], np.int64)
        idx = np.where(idx < 0, idx + sizes, idx)
        _check(bool(((idx >= 0) & (idx < sizes)).all()), f"ScatterNDUpdate indices out of range for data {list(data.shape)}")
        out = data.copy()
        out[tuple(idx.T)] = updates.reshape((idx.shape[0],) + data.shape[depth:])
        return (out,)


# --------------------------------------------------------------------------- TopK, NonZero


def _descending_order(x: np.ndarray, axis: int) -> np.ndarray:
    """Indices sorting ``x`` from largest to smallest along ``axis``; ties keep index order."""
    n = x.shape[axis]
    return n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)


def topk_dims(shape: Shape, axis: int, k: int | None) -> Shape:
    axis = normalize_axis(axis, len(shape), "TopK axis")
    dim = shape[axis]
    out = list(shape)
    if k is None:
        out[axis] = DYNAMIC
    else:
        _check(k >= 0, f"TopK k must not be negative, got {k}")
        out[axis] = min(k, dim) if isinstance(dim, int) else (k if dim == DYNAMIC else Dim(min(dim.lo, k), k))
    return tuple(out)


class _TopK(MovementOp):
    attrs = {"axis": Attr("int"), "mode": Attr("str"), "sort": Attr("str")}

    def index_type(self, ctx) -> types.ElementType:
        return _index_type(ctx.attrs.get("index_element_type", types.i32), "index_element_type")

    def infer_outputs(self, ctx):
        _check(ctx.attrs["mode"] in ("max", "min"), f"TopK mode {ctx.attrs['mode']!r} is not max or min")
        _check(ctx.attrs["sort"] in ("value", "index", "none"), f"TopK sort {ctx.attrs['sort']!r} is not value, index or none")
        _check(ctx.shape(1) is None or len(ctx.shape(1)) == 0, f"TopK k must be a scalar, got shape {ctx.shape(1)}")
        shape = ctx.shape(0)
        out = None if shape is None else topk_dims(shape, ctx.attrs["axis"], _scalar(ctx.value(1)))
        return [(ctx.etype(0), out), (self.index_type(ctx), out)]

    def evaluate(self, data, k, *, axis, mode, sort, index_element_type=types.i32, stable=False):
        out = topk_dims(data.shape, axis, _scalar(k))
        axis = normalize_axis(axis, data.ndim)
        order = np.argsort(data, axis=axis, kind="stable") if mode == "min" else _descending_order(data, axis)
        chosen = np.take(order, np.arange(out[axis]), axis=axis)
        if sort == "index":
            chosen = np.sort(chosen, axis=axis)
        values = np.take_along_axis(data, chosen, axis=axis)
        return values, chosen.astype(types.parse_type(index_element_type).dtype)


@register("TopK", opset=1)
class TopK1(_TopK):
    pass


@register("TopK", opset=3)
class TopK3(_TopK):
    attrs = {**_TopK.attrs, "index_element_type": Attr("etype", default=types.i32)}


@register("TopK", opset=11)
class TopK11(_TopK):
    attrs = {**TopK3.attrs, "stable": Attr("bool", default=False)}


@register("NonZero", opset=3)
class NonZero(MovementOp):
    attrs = {"output_type": Attr("etype", default=types.i64)}

    def infer_outputs(self, ctx):
        etype = _index_type(ctx.attrs["output_type"], "NonZero output_type")
        shape = ctx.shape(0)
        if shape is None:
            return [(etype, (DYNAMIC, DYNAMIC))]
        if not shape:  # OpenVINO gives [[0]] for a non-zero scalar and an empty [0, 0] for zero
            return [(etype, (Dim(0, 1), Dim(0, 1)))]
        size = dims_product(shape)
        return [(etype, (len(shape), Dim(0, size) if isinstance(size, int) else DYNAMIC))]

    def evaluate(self, data, *, output_type):
        dtype = types.parse_type(output_type).dtype
        if data.ndim == 0:
            return (np.zeros((1, 1) if data else (0, 0), dtype),)
        return (np.stack(np.nonzero(data)).astype(dtype).reshape(data.ndim, -1),)


# --------------------------------------------------------------------------- Reverse, Roll, ReverseSequence, OneHot


def _reverse_axes(axes: np.ndarray, rank: int, mode: str) -> list[int]:
    if mode == "mask":
        mask = np.asarray(axes).reshape(-1)
        _check(mask.size == rank, f"Reverse mask {mask.tolist()} needs one entry per axis of rank {rank}")
        return [int(a) for a in np.flatnonzero(mask)]
    _check(mode == "index", f"Reverse mode {mode!r} is not index or mask")
    return _axes(_ints(axes), rank, "Reverse axis")


@register("Reverse", opset=1)
class Reverse(MovementOp):
    attrs = {"mode": Attr("str")}

    def infer_outputs(self, ctx):
        value, shape = ctx.value(1), ctx.shape(0)
        if value is not None and shape is not None:
            _reverse_axes(value, len(shape), ctx.attrs["mode"])
        return [(ctx.etype(0), shape)]

    def evaluate(self, data, axes, *, mode):
        return (np.flip(data, _reverse_axes(axes, data.ndim, mode)),)


@register("Roll", opset=7)
class Roll(MovementOp):
    def infer_outputs(self, ctx):
        return [(ctx.etype(0), ctx.shape(0))]

    def evaluate(self, data, shift, axes):
        shift, axes = _ints(shift), [normalize_axis(a, data.ndim, "Roll axis") for a in _ints(axes)]
        if len(shift) == 1:
            shift = shift * len(axes)
        _check(len(shift) == len(axes), f"Roll shift {shift} and axes {axes} lengths differ")
        return (np.roll(data, shift, axes),)


@register("ReverseSequence", opset=1)
class ReverseSequence(MovementOp):
    attrs = {"batch_axis": Attr("int", default=0), "seq_axis": Attr("int", default=1)}

    @staticmethod
    def _axes(shape: Shape, batch_axis: int, seq_axis: int) -> tuple[int, int]:
        batch = normalize_axis(batch_axis, len(shape), "batch_axis")
        seq = normalize_axis(seq_axis, len(shape), "seq_axis")
        _check(batch != seq, f"batch_axis {batch_axis} and seq_axis {seq_axis} are the same axis")
        return batch, seq

    def infer_outputs(self, ctx):
        shape, lengths = ctx.shape(0), ctx.shape(1)
        if shape is not None:
            batch, _ = self._axes(shape, ctx.attrs["batch_axis"], ctx.attrs["seq_axis"])
            if lengths is not None:
                _check(len(lengths) == 1, f"seq_lengths must be 1-D, got shape {list(lengths)}")
                _merge(shape[batch], lengths[0], "batch dimension and seq_lengths")
        return [(ctx.etype(0), shape)]

    def evaluate(self, data, seq_lengths, *, batch_axis, seq_axis):
        batch, seq = self._axes(data.shape, batch_axis, seq_axis)
        moved = np.moveaxis(data, (batch, seq), (0, 1))
        lengths = np.asarray(seq_lengths).astype(np.int64).reshape(-1, 1)
        _check(lengths.shape[0] == moved.shape[0], f"seq_lengths has {lengths.shape[0]} entries for batch {moved.shape[0]}")
        _check(bool(((lengths >= 0) & (lengths <= moved.shape[1])).all()),
               f"seq_lengths {lengths.ravel().tolist()} exceed sequence length {moved.shape[1]}")
        pos = np.arange(moved.shape[1])[None, :]
        index = np.where(pos < lengths, lengths - 1 - pos, pos)
        index = index.reshape(index.shape + (1,) * (moved.ndim - 2))
        out = np.take_along_axis(moved, np.broadcast_to(index, moved.shape), axis=1)
        return (np.moveaxis(out, (0, 1), (batch, seq)),)


@register("OneHot", opset=1)
class OneHot(MovementOp):
    attrs = {"axis": Attr("int")}

    def infer_outputs(self, ctx):
        shape, depth = ctx.shape(0), _scalar(ctx.value(1))
        if shape is None:
            return [(ctx.etype(2), None)]
        _check(depth is None or depth >= 0, f"OneHot depth must not be negative, got {depth}")
        axis = normalize_axis(ctx.attrs["axis"], len(shape) + 1, "OneHot axis")
        dims = list(shape)
        dims.insert(axis, DYNAMIC if depth is None else depth)
        return [(ctx.etype(2), tuple(dims))]

    def evaluate(self, indices, depth, on_value, off_value, *, axis):
        depth = _scalar(depth)
        axis = normalize_axis(axis, indices.ndim + 1, "OneHot axis")
        classes = np.arange(depth).reshape((-1,) + (1,) * (indices.ndim - axis))
        hot = np.expand_dims(indices, axis).astype(np.int64) == classes
        on, off = np.asarray(on_value).reshape(()), np.asarray(off_value).reshape(())
        return (np.where(hot, on, off.astype(on.dtype)),)
