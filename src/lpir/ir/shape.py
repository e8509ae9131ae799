"""Shapes whose dimensions may be dynamic, as OpenVINO's PartialShape.

A dimension is an ``int`` when static, or a :class:`Dim` interval when not (``Dim(0, None)``
is fully dynamic, written ``?`` or ``-1``; ``Dim(1, 10)`` is written ``1..10``). A shape is a
tuple of dimensions, or ``None`` when even its rank is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from lpir.errors import ValidationError


@dataclass(frozen=True)
class Dim:
    """A dynamic dimension within ``[lo, hi]`` (``hi=None``: unbounded)."""

    lo: int = 0
    hi: int | None = None

    def __str__(self) -> str:
        if self.lo == 0 and self.hi is None:
            return "?"
        return f"{self.lo}..{'' if self.hi is None else self.hi}"


DYNAMIC = Dim()

Dimension = int | Dim
Shape = tuple[Dimension, ...]


def is_static(shape: Shape | None) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def parse_dim(text: str) -> Dimension:
    """Parse ``7``, ``-1``, ``?`` or an interval ``1..10`` / ``..10`` / ``1..``."""
    text = text.strip()
    if text in ("?", "-1"):
        return DYNAMIC
    if ".." in text:
        lo, hi = text.split("..", 1)
        return Dim(int(lo) if lo else 0, int(hi) if hi else None)
    value = int(text)
    if value < 0:
        raise ValidationError(f"dimension {text!r} is negative")
    return value


def as_shape(dims) -> Shape | None:
    """A shape from what a user writes: ints (``-1`` for dynamic), :class:`Dim` s, a shape string."""
    if dims is None or isinstance(dims, str):
        return None if dims is None else parse_shape(dims)
    shape = []
    for d in dims:
        if isinstance(d, Dim):
            shape.append(d)
        elif int(d) == -1:
            shape.append(DYNAMIC)
        elif int(d) < 0:
            raise ValidationError(f"dimension {d} is negative (-1 means dynamic)")
        else:
            shape.append(int(d))
    return tuple(shape)


def parse_shape(text: str) -> Shape | None:
    """Parse a shape attribute: ``"1,3,224,224"``, ``"?,3, 1..8"``, ``""`` (scalar), ``"..."``."""
    text = text.strip().strip("[]")
    if text == "...":
        return None
    if not text:
        return ()
    return tuple(parse_dim(part) for part in text.split(","))


def format_shape(shape: Shape | None, *, sep: str = ",") -> str:
    """Inverse of :func:`parse_shape`."""
    if shape is None:
        return "..."
    return sep.join(str(d) for d in shape)


def dim_for_port(dim: Dimension) -> str:
    """A dimension as written in a port's ``<dim>`` (dynamic ones as ``-1`` or an interval)."""
    if isinstance(dim, int):
        return str(dim)
    return "-1" if dim == DYNAMIC else str(dim)
