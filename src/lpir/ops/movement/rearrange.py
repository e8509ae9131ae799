"""DepthToSpace, SpaceToDepth, ShuffleChannels, TopK, NonZero, Reverse, Roll, ReverseSequence and OneHot."""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dim, Shape
from lpir.ops.common import dims_product, normalize_axis
from lpir.ops.movement.base import (
    AGNOSTIC,
    MovementOp,
    _axes,
    _check,
    _index_type,
    _ints,
    _merge,
    _scalar,
)
from lpir.ops.registry import Attr, register


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
    traits = AGNOSTIC
    attrs = {"block_size": Attr("int", default=1), "mode": Attr("str")}
    to_space = True

    def infer_outputs(self, ctx):
        _check_mode(ctx.attrs["mode"])
        shape = ctx.shape(0)
        return [(ctx.etype(0), None if shape is None else _block_dims(shape, ctx.attrs["block_size"], self.to_space))]


@register("DepthToSpace", opset=1)
class DepthToSpace(_BlockOp):

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
