"""What the movement ops share: their base class (errors named after the node) and small value helpers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lpir.errors import ValidationError, describe_node
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dimension, Shape
from lpir.ops.common import integer_values, normalize_axis
from lpir.ops.registry import InferContext, Op, Traits

AGNOSTIC = Traits(quantization_agnostic=True, activation_inputs=(0,))
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
            raise ctx.fail(str(exc)) from exc

    def infer_outputs(self, ctx: InferContext) -> Outputs:
        raise NotImplementedError


def _ints(value: np.ndarray | Sequence[int] | None) -> list[int] | None:
    """A known integer input (a shape, axes, repeats ...) as a flat list (None stays None)."""
    return None if value is None else integer_values(value)


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
