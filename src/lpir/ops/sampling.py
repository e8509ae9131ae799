"""GridSample-9: each output pixel reads the input at a point given by a grid of normalized
(x, y) coordinates in [-1, 1].

The point is mapped to pixel coordinates (corner pixel centres at -1 and 1 with
``align_corners``, else the outer edges of the corner pixels), brought back into the image by
``padding_mode`` when it lies outside (border: clamped; reflection: mirrored at the edges;
zeros: left outside, where pixels read 0), then interpolated from its 1, 4 or 16 neighbours
(nearest rounds half to even; bicubic uses Keys' kernel with a = -0.75, each tap padded like
the point). Bicubic with border padding clamps the taps only, not the point first, as OpenVINO,
ONNX Runtime and PyTorch do (ONNX's Python reference clamps the point too). Coordinates are
computed in the grid's type (f16/bf16 in f32), as OpenVINO does.
"""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ops.elementwise import as_compute
from lpir.ops.registry import Attr, InferContext, Op, register

_MODES = ("bilinear", "bicubic", "nearest")
_PADDING = ("zeros", "border", "reflection")
_CUBIC_A = -0.75


def _reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``x`` mirrored at ``low`` and ``high`` (repeatedly) until it lies between them."""
    span = high - low
    if span <= 0:
        return np.full_like(x, low)
    below = low - x
    folds = np.trunc(below / span)
    rest = below - folds * span
    from_low = np.where(folds % 2 == 0, low + rest, high - rest)
    above = x - high
    folds = np.trunc(above / span)
    rest = above - folds * span
    from_high = np.where(folds % 2 == 0, high - rest, low + rest)
    return np.where(x < low, from_low, np.where(x > high, from_high, x))


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Keys' cubic kernel at the distances of taps -1, 0, 1, 2 from a point ``t`` past tap 0."""
    a = _CUBIC_A
    far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # noqa: E731  1 <= d < 2
    near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # noqa: E731  d < 1
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


class _Image:
    """Reads pixels of data [N, C, H, W] at integer positions, padded as the op says."""

    def __init__(self, data: np.ndarray, padding_mode: str, align_corners: bool):
        self.data, self.padding_mode = data, padding_mode
        height, width = data.shape[2:]
        self.bounds = [(0.0, height - 1.0), (0.0, width - 1.0)] if align_corners else \
            [(-0.5, height - 0.5), (-0.5, width - 0.5)]

    def pixels(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """[N, C, Ho, Wo] values at integer ``rows``/``cols`` of shape [N, Ho, Wo]."""
        height, width = self.data.shape[2:]
        inside = None
        if self.padding_mode == "zeros":
            inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            rows, cols = np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)
        elif self.padding_mode == "border":
            rows, cols = np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)
        else:
            rows = _reflect(rows.astype(np.float64), *self.bounds[0]).astype(np.int64)
            cols = _reflect(cols.astype(np.float64), *self.bounds[1]).astype(np.int64)
        batch = np.arange(self.data.shape[0]).reshape(-1, 1, 1)
        values = self.data[batch, :, rows, cols]  # [N, Ho, Wo, C]
        if inside is not None:
            values = np.where(inside[..., None], values, values.dtype.type(0))
        return np.moveaxis(values, -1, 1)

    def place(self, coordinate: np.ndarray, axis: int) -> np.ndarray:
        """A point outside the image brought back in (border, reflection) or left (zeros)."""
        low, high = self.bounds[axis]
        if self.padding_mode == "border":
            size = self.data.shape[2 + axis]
            return np.where((coordinate < low) | (coordinate > high), np.clip(coordinate, 0, size - 1), coordinate)
        if self.padding_mode == "reflection":
            return _reflect(coordinate, low, high).astype(coordinate.dtype)
        return coordinate


@register("GridSample", opset=9)
class GridSample(Op):
    attrs = {"align_corners": Attr("bool", default=False), "mode": Attr("str", default="bilinear"),
             "padding_mode": Attr("str", default="zeros")}

    def infer(self, ctx: InferContext):
        if ctx.attrs["mode"] not in _MODES:
            raise ctx.fail(f"mode={ctx.attrs['mode']!r} is not one of {', '.join(_MODES)}")
        if ctx.attrs["padding_mode"] not in _PADDING:
            raise ctx.fail(f"padding_mode={ctx.attrs['padding_mode']!r} is not one of {', '.join(_PADDING)}")
        if not (ctx.etype(1).is_float or ctx.etype(1) is types.dynamic):
            raise ctx.fail(f"grid is {ctx.etype(1)}: it must be floating-point")
        data, grid = ctx.shape(0), ctx.shape(1)
        if data is not None and len(data) != 4:
            raise ctx.fail(f"data must be 4-D [N, C, H, W], got shape {list(data)}")
        if grid is not None and (len(grid) != 4 or grid[3] not in (2,) and isinstance(grid[3], int)):
            raise ctx.fail(f"grid must be [N, H_out, W_out, 2], got shape {list(grid)}")
        if data is None or grid is None:
            return [(ctx.etype(0), None)]
        return [(ctx.etype(0), (data[0], data[1], grid[1], grid[2]))]

    def evaluate(self, data, grid, *, align_corners, mode, padding_mode):
        data, grid = np.asarray(data), as_compute(np.asarray(grid))
        compute = as_compute(data)
        image = _Image(compute, padding_mode, align_corners)
        height, width = data.shape[2:]
        one, half = grid.dtype.type(1), grid.dtype.type(0.5)

        def pixel_coordinate(normalized, size):
            if align_corners:
                return (normalized + one) * half * grid.dtype.type(size - 1)
            return ((normalized + one) * grid.dtype.type(size) - one) * half

        x = pixel_coordinate(grid[..., 0], width)
        y = pixel_coordinate(grid[..., 1], height)
        if mode == "nearest":
            x, y = image.place(np.rint(x), 1), image.place(np.rint(y), 0)
            out = image.pixels(y.astype(np.int64), x.astype(np.int64))
            return (out.astype(data.dtype, copy=False),)
        if not (mode == "bicubic" and padding_mode == "border"):
            x, y = image.place(x, 1), image.place(y, 0)
        col0, row0 = np.floor(x), np.floor(y)
        tx, ty = (x - col0)[:, None], (y - row0)[:, None]
        col0, row0 = col0.astype(np.int64), row0.astype(np.int64)
        if mode == "bilinear":
            taps, wx, wy = (0, 1), [1 - tx, tx], [1 - ty, ty]
        else:
            taps, wx, wy = (-1, 0, 1, 2), _cubic_weights(tx), _cubic_weights(ty)
        out = 0
        for i, dy in enumerate(taps):
            row = 0
            for j, dx in enumerate(taps):
                row = row + wx[j] * image.pixels(row0 + dy, col0 + dx)
            out = out + wy[i] * row
        return (np.asarray(out).astype(data.dtype, copy=False),)
