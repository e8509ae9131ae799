"""Slice, StridedSlice, Tile, Pad and Range: ops whose output extent comes from bound inputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dimension, Shape
from lpir.ops.movement.base import (
    AGNOSTIC,
    MovementOp,
    _axes,
    _check,
    _dynamic,
    _ints,
    _length,
)
from lpir.ops.registry import Attr, Traits, register

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
    # Not quantization-agnostic: NNCF stopped moving quantizers through Slice (they stay below it).
    traits = Traits(activation_inputs=(0,))

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
