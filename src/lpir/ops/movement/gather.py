"""Gather, GatherElements, GatherND and the Scatter*Update ops: reading and writing by index."""

from __future__ import annotations

import dataclasses

import numpy as np

from lpir.ir.shape import DYNAMIC, Shape
from lpir.ops.common import normalize_axis
from lpir.ops.movement.base import (
    AGNOSTIC,
    MovementOp,
    _check,
    _dynamic,
    _ints,
    _merge,
    _scalar,
    _wrap_indices,
)
from lpir.ops.registry import Attr, Traits, register


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
    traits = dataclasses.replace(AGNOSTIC, table_inputs=(0,))

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


def _scatter_check(data: Shape | None, indices: Shape | None, updates: Shape | None, expected) -> None:
    if data is None or indices is None or updates is None:
        return
    want = expected(data, indices)
    _check(len(want) == len(updates) and all(
        not (isinstance(w, int) and isinstance(u, int)) or w == u for w, u in zip(want, updates)),
        f"updates shape {list(updates)} must be {list(want)} for data {list(data)} and indices {list(indices)}")


class _Scatter(MovementOp):
    traits = Traits(quantization_agnostic=True, activation_inputs=(0, 2))  # data and updates

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

    def evaluate(self, data, indices, updates, *, reduction="none"):
        self.updates_shape(None, data.shape, indices.shape)
        _scatter_check(data.shape, indices.shape, updates.shape, lambda d, i: self.updates_shape(None, d, i))
        depth = indices.shape[-1]
        idx = indices.reshape(-1, depth).astype(np.int64)
        sizes = np.array(data.shape[:depth], np.int64)
        idx = np.where(idx < 0, idx + sizes, idx)
        _check(bool(((idx >= 0) & (idx < sizes)).all()), f"ScatterNDUpdate indices out of range for data {list(data.shape)}")
        out = data.copy()
        rows = updates.reshape((idx.shape[0],) + data.shape[depth:])
        if reduction == "none":
            out[tuple(idx.T)] = rows
        else:
            _ND_REDUCE[reduction].at(out, tuple(idx.T), rows)  # repeated indices combine in order
        return (out,)


_ND_REDUCE = {"sum": np.add, "sub": np.subtract, "prod": np.multiply, "min": np.minimum, "max": np.maximum}


@register("ScatterNDUpdate", opset=15)
class ScatterNDUpdate15(ScatterNDUpdate):
    """ScatterNDUpdate whose updates combine with the data (and each other) by ``reduction``."""

    attrs = {"reduction": Attr("str", default="none")}

    def infer_outputs(self, ctx):
        reduction = ctx.attrs["reduction"]
        _check(reduction in ("none", *_ND_REDUCE), f"reduction {reduction!r} is not one of none, {', '.join(_ND_REDUCE)}")
        return super().infer_outputs(ctx)