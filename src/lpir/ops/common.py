"""Helpers shared by op definitions: broadcasting of partial shapes, axes, dimension arithmetic."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from lpir.errors import ValidationError
from lpir.ir.shape import DYNAMIC, Dim, Dimension, Shape, is_static


def broadcast_dims(a: Dimension, b: Dimension) -> Dimension:
    """Numpy broadcasting of two (possibly dynamic) dimensions."""
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int):
        if a != b:
            raise ValidationError(f"dimensions {a} and {b} do not broadcast")
        return a
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return DYNAMIC


def broadcast_shapes(shapes: Iterable[Shape | None], auto_broadcast: str = "numpy",
                     axis: int = -1) -> Shape | None:
    """The result shape of an elementwise op with ``auto_broadcast`` = numpy | none | pdpd.

    For pdpd every later shape is checked against the first (see :func:`pdpd_aligned_shape`),
    ``axis`` being the op's ``auto_broadcast.auto_broadcast_axis``.
    """
    shapes = list(shapes)
    if any(s is None for s in shapes):
        return None
    mode = str(auto_broadcast).lower()
    if mode == "none":
        first = shapes[0]
        for other in shapes[1:]:
            if len(other) != len(first) or any(
                    isinstance(x, int) and isinstance(y, int) and x != y for x, y in zip(first, other)):
                raise ValidationError(f"auto_broadcast=none needs equal shapes, got {list(first)} and {list(other)}")
        return first
    if mode == "pdpd":
        for other in shapes[1:]:
            pdpd_aligned_shape(shapes[0], other, axis)
        return shapes[0]
    if mode != "numpy":
        raise ValidationError(f"auto_broadcast={auto_broadcast!r} is not one of numpy, none, pdpd")
    rank = max(len(s) for s in shapes)
    result: list[Dimension] = [1] * rank
    for shape in shapes:
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        try:
            result = [broadcast_dims(x, y) for x, y in zip(result, padded)]
        except ValidationError as exc:
            raise ValidationError(f"shapes {[list(s) for s in shapes]} do not broadcast") from exc
    return tuple(result)


def pdpd_aligned_shape(target: Shape, shape: Shape, axis: int = -1) -> Shape:
    """``shape`` padded with 1s to the rank of ``target`` as PDPD broadcasting places it.

    PDPD rules: ``shape`` (trailing 1s ignored) must equal the dims of ``target`` starting at
    ``axis``; ``axis=-1`` means ``rank(target) - rank(shape)``. Dynamic dims match anything.
    """
    if len(shape) > len(target) or axis < -1:
        raise ValidationError(f"shape {list(shape)} does not pdpd-broadcast to {list(target)} (axis {axis})")
    start = len(target) - len(shape) if axis == -1 else axis
    kept = len(shape)
    while kept and shape[kept - 1] == 1:
        kept -= 1
    if start + kept > len(target) or any(
            isinstance(s, int) and isinstance(t, int) and s != t
            for s, t in zip(shape[:kept], target[start:start + kept])):
        raise ValidationError(f"shape {list(shape)} does not pdpd-broadcast to {list(target)} (axis {axis})")
    return (1,) * start + tuple(shape[:kept]) + (1,) * (len(target) - start - kept)


def broadcast_arrays(arrays: list[np.ndarray], auto_broadcast: str = "numpy", axis: int = -1) -> list[np.ndarray]:
    """Arrays ready for numpy broadcasting under ``auto_broadcast`` (pdpd ones reshaped).

    Raises ValidationError when the shapes do not broadcast in that mode.
    """
    broadcast_shapes([a.shape for a in arrays], auto_broadcast, axis)
    if str(auto_broadcast).lower() != "pdpd":
        return arrays
    first = arrays[0]
    return [first] + [a.reshape(pdpd_aligned_shape(first.shape, a.shape, axis)) for a in arrays[1:]]


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """``axis`` in ``[-rank, rank)`` mapped to ``[0, rank)``."""
    if not -rank <= axis < rank:
        raise ValidationError(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def dims_product(dims: Iterable[Dimension]) -> Dimension:
    """Product of dimensions; dynamic if any is dynamic."""
    total = 1
    for d in dims:
        if not isinstance(d, int):
            return DYNAMIC
        total *= d
    return total


def integer_values(values) -> list[int]:
    """A known shape, axes or repeats input as a flat list of ints.

    OpenVINO's specs give these inputs integer types; a float input is accepted only when every
    value is a whole number (as OpenVINO's shape inference casts them), never NaN or infinite.
    """
    array = np.asarray(values).reshape(-1)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise ValidationError(f"expected integers, got {array.tolist()[:8]}")
    if array.dtype.kind not in "iubf":
        raise ValidationError(f"expected integers, got {array.dtype} values")
    return [int(v) for v in array]


def as_shape(values: np.ndarray) -> Shape:
    """A static shape from a 1-D integer array."""
    return tuple(integer_values(values))


__all__ = ["DYNAMIC", "Dim", "Dimension", "Shape", "as_shape", "integer_values", "broadcast_arrays", "broadcast_dims",
           "broadcast_shapes", "dims_product", "is_static", "normalize_axis", "pdpd_aligned_shape"]
