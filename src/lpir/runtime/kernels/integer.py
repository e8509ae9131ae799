"""Exact integer Convolution, GroupConvolution, ConvolutionBackpropData and MatMul.

The integer interpretation (:mod:`lpir.runtime.lowering`) feeds these layers integer tensors
(quantized activations minus their zero point, i8 weights) and reads an i32 accumulator. The
accumulator must be the exact integer dot product, yet numpy's integer matrix products do not
use BLAS and are 10-50x slower. So the products run in BLAS on integer-valued floats, with the
contraction (K) split into chunks small enough that *every* partial sum of a chunk is an
integer below 2**24 in magnitude (exact in f32, whatever the summation order or FMA), or below
2**53 (f64) when a single f32 chunk would be too short to pay off; the chunk results are then
added exactly in f64 (their total stays below 2**53) or i64. The bound uses the operands'
actual largest magnitudes: ``max|x| * max|w| * taps * chunk``.

An accumulator outside the i32 range is an error naming the layer (OpenVINO would wrap it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lpir.errors import EvaluationError
from lpir.ops import lookup
from lpir.runtime.kernels import Kernel, kernels_for, register_kernel
from lpir.runtime.program import Step

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
# A chunk shorter than this runs faster in one f64 product than in many f32 ones.
MIN_F32_CHUNK = 16


def magnitude(a: np.ndarray) -> int:
    """The largest absolute value in ``a`` (0 for an empty array), as a Python int."""
    if a.size == 0:
        return 0
    return max(abs(int(a.min())), abs(int(a.max())))


def chunk_plan(term_bound: int, depth: int) -> tuple[np.dtype, int]:
    """(work type, chunk length) for summing ``depth`` terms each at most ``term_bound`` in
    magnitude so that every partial sum of a chunk is exact in the work type."""
    if term_bound == 0 or depth == 0:
        return np.dtype(np.float32), max(depth, 1)
    in_f32 = (F32_EXACT - 1) // term_bound
    if in_f32 >= min(depth, MIN_F32_CHUNK):
        return np.dtype(np.float32), min(depth, in_f32)
    in_f64 = (F64_EXACT - 1) // term_bound
    if in_f64 >= 1:
        return np.dtype(np.float64), min(depth, in_f64)
    return np.dtype(np.int64), depth


Product = Callable[[np.ndarray, np.ndarray], np.ndarray]


def exact_contraction(product: Product, x: np.ndarray, w: np.ndarray, x_axis: int, w_axis: int, *,
                      taps: int = 1, groups: int = 1) -> np.ndarray:
    """``product(x, w)`` for integer ``x`` and ``w`` as an exact i32 accumulator.

    ``product`` is a float layer (a convolution or matrix product) that sums over axis
    ``x_axis`` of ``x`` (holding ``groups`` groups of channels) paired with axis ``w_axis`` of
    ``w``, and over ``taps`` kernel positions. It is called on chunks of that axis cast to a
    float type in which the chunk's sums are exact (:func:`chunk_plan`).
    """
    depth = w.shape[w_axis]
    term = magnitude(x) * magnitude(w) * taps
    work, chunk = chunk_plan(term, depth)
    total_type = np.float64 if term * depth < F64_EXACT else np.int64
    total = None
    for start in range(0, depth, chunk):
        stop = min(start + chunk, depth)
        part = product(_channels(x, x_axis, groups, start, stop).astype(work),
                       _channels(w, w_axis, 1, start, stop).astype(work))
        if total is None:
            total = part if stop == depth else part.astype(total_type)
        else:
            total += part.astype(total_type, copy=False)
    return to_i32(total, term * depth)


def _channels(a: np.ndarray, axis: int, groups: int, start: int, stop: int) -> np.ndarray:
    """Channels ``start:stop`` of every group along ``axis`` of ``a`` (all of them: ``a`` itself)."""
    axis %= a.ndim
    per_group = a.shape[axis] // groups
    if start == 0 and stop == per_group:
        return a
    split = a.reshape(a.shape[:axis] + (groups, per_group) + a.shape[axis + 1:])
    index = (slice(None),) * (axis + 1) + (slice(start, stop),)
    return split[index].reshape(a.shape[:axis] + (groups * (stop - start),) + a.shape[axis + 1:])


def to_i32(total: np.ndarray, bound: int) -> np.ndarray:
    """The accumulator as i32; raises when a value falls outside the i32 range."""
    if bound > I32_MAX and total.size:
        low, high = int(total.min()), int(total.max())
        if low < I32_MIN or high > I32_MAX:
            worst = low if -low > high else high
            raise EvaluationError(f"the i32 accumulator overflows: a dot product reaches {worst} "
                                  f"(i32 holds {I32_MIN} to {I32_MAX}); quantize with fewer levels or split the layer")
    return total.astype(np.int32)


def _is_integer(*arrays: np.ndarray) -> bool:
    return all(a.dtype.kind in "iu" for a in arrays)


@register_kernel("MatMul", "integer")
def integer_matmul(a: np.ndarray, b: np.ndarray, *, transpose_a: bool, transpose_b: bool):
    if not _is_integer(a, b):
        return None
    op = lookup("MatMul", 1)
    a_axis = -2 if transpose_a and a.ndim > 1 else -1
    b_axis = -1 if transpose_b and b.ndim > 1 else (-2 if b.ndim > 1 else 0)
    product = lambda x, w: op.evaluate(x, w, transpose_a=transpose_a, transpose_b=transpose_b)[0]  # noqa: E731
    return (exact_contraction(product, a, b, a_axis, b_axis),)


def _convolution_kernel(op_type: str, grouped: bool, backprop: bool):
    """The exact kernel of one convolution op: chunks over the input channels of each group."""
    def run(x: np.ndarray, w: np.ndarray, *rest: np.ndarray, **attrs):
        if not _is_integer(x, w):
            return None
        op = lookup(op_type, 1)
        float_kernels = kernels_for(op_type)

        def product(xs: np.ndarray, ws: np.ndarray) -> np.ndarray:
            for kernel in float_kernels:  # the compiled depthwise kernel where it applies
                result = kernel.run(xs, ws, *rest, **attrs)
                if result is not None:
                    return result[0]
            return op.evaluate(xs, ws, *rest, **attrs)[0]

        lead = 1 if grouped else 0
        w_axis = lead + (0 if backprop else 1)   # weights [G?, C_IN, C_OUT, k] or [G?, C_OUT, C_IN, k]
        taps = int(np.prod(w.shape[lead + 2:]))
        groups = w.shape[0] if grouped else 1
        return (exact_contraction(product, x, w, 1, w_axis, taps=taps, groups=groups),)
    register_kernel(op_type, "integer")(run)


for _type, _grouped, _backprop in (("Convolution", False, False), ("GroupConvolution", True, False),
                                   ("ConvolutionBackpropData", False, True),
                                   ("GroupConvolutionBackpropData", True, True)):
    _convolution_kernel(_type, _grouped, _backprop)


# ---------------------------------------------------------------- kernels bound to constant weights

# Per op type: (is grouped, weight axis summed over); MatMul's depends on transpose_b.
LAYOUTS = {"Convolution": (False, 1), "GroupConvolution": (True, 2), "ConvolutionBackpropData": (False, 0),
           "GroupConvolutionBackpropData": (True, 1)}


def weight_chunks(weights: np.ndarray, w_axis: int, out_axes: tuple[int, ...], x_bound: int) -> tuple[np.dtype, list[tuple[int, int]]]:
    """Chunks of the contraction axis in which every partial sum is exact in f32, from the
    weights themselves: a partial sum of output ``o`` is at most ``x_bound · Σ_chunk |w_o|``,
    which for real weights allows chunks several times longer than ``max|w| · length`` does."""
    w_axis %= weights.ndim
    out_axes = tuple(a % weights.ndim for a in out_axes)
    other = tuple(a for a in range(weights.ndim) if a != w_axis and a not in out_axes)
    per = np.abs(weights.astype(np.int64)).sum(axis=other, keepdims=True)
    per = np.moveaxis(per, w_axis, 0).reshape(weights.shape[w_axis], -1)  # [channels, outputs]
    limit = (F32_EXACT - 1) // max(x_bound, 1)
    if per.size and per.max() > limit:
        return np.dtype(np.float64), [(0, weights.shape[w_axis])]
    chunks, start = [], 0
    running = np.zeros(per.shape[1], np.int64)
    for c in range(per.shape[0]):
        if c > start and np.any(running + per[c] > limit):
            chunks.append((start, c))
            start, running = c, np.zeros_like(running)
        running += per[c]
    chunks.append((start, per.shape[0]))
    return np.dtype(np.float32), chunks


def bound_kernel(op_type: str, weights: np.ndarray, attrs: dict, x_bound: int) -> Kernel:
    """The exact kernel of one layer whose input 1 is always ``weights`` and whose input 0 never
    exceeds ``x_bound`` in magnitude (known from its quantization): weight chunks are cast and
    split once, and no call scans its operands for their range."""
    op = lookup(op_type, 1)
    if op_type == "MatMul":
        grouped, w_axis = False, (-1 if attrs["transpose_b"] else -2)
        x_axis = -2 if attrs["transpose_a"] else -1
    else:
        (grouped, w_axis), x_axis = LAYOUTS[op_type], 1
    out_axes = op.weight_channel_axes(attrs)
    work, chunks = weight_chunks(weights, w_axis, out_axes, x_bound)
    pieces = [np.ascontiguousarray(_channels(weights, w_axis, 1, a, b).astype(work)) for a, b in chunks]
    groups = weights.shape[0] if grouped else 1
    kept = {a % weights.ndim for a in out_axes}
    summed = tuple(a for a in range(weights.ndim) if a not in kept)
    bound = x_bound * int(np.abs(weights.astype(np.int64)).sum(axis=summed).max()) if weights.size else 0
    float_kernels = kernels_for(op_type)
    fixed = weights

    def product(xs: np.ndarray, ws: np.ndarray, rest, attrs) -> np.ndarray:
        for kernel in float_kernels:
            result = kernel.run(xs, ws, *rest, **attrs)
            if result is not None:
                return result[0]
        return op.evaluate(xs, ws, *rest, **attrs)[0]

    def run(x: np.ndarray, w: np.ndarray, *rest: np.ndarray, **attrs):
        if w is not fixed or x.dtype.kind not in "iu":
            return None
        xf = x.astype(work)
        total = None
        for (start, stop), piece in zip(chunks, pieces):
            part = product(_channels(xf, x_axis, groups, start, stop), piece, rest, attrs)
            if total is None:
                total = part if len(chunks) == 1 else part.astype(np.float64)
            else:
                total += part
        return (to_i32(total, bound),)
    return Kernel(op_type, "integer", run)


def bind_integer_kernels(program, input_bounds: dict[str, int]) -> None:
    """Give each integer layer of ``program`` with constant weights and a known input bound its
    :func:`bound_kernel` (the others keep the generic exact kernels)."""
    for step in program.steps:
        bound = input_bounds.get(step.node.name)
        weights = program.constants.get(step.inputs[1]) if len(step.inputs) > 1 else None
        if bound is None or weights is None or weights.dtype.kind not in "iu":
            continue
        if step.node.type != "MatMul" and step.node.type not in LAYOUTS:
            continue
        step.kernels = [bound_kernel(step.node.type, weights, step.attrs, bound)] + step.kernels


# ---------------------------------------------------------------- dequantization in one pass

def fuse_dequantization(program) -> None:
    """Run each integer layer's dequantization ``Convert(f64) → [Subtract c] → Multiply s →
    Convert`` (constants ``c``, ``s``) as one step: one numpy pass that reads the i32
    accumulator, computes ``(acc - c) · s`` in f64 and writes it rounded once to the output
    type (the same bits as the four steps, without their three tensor-sized temporaries).
    The fused steps go to ``program.fused_steps``, which calls without taps run; a call with
    taps runs ``program.steps``, where every tensor is computed."""
    readers: dict[int, list[int]] = {}
    for index, step in enumerate(program.steps):
        for slot in step.inputs:
            readers.setdefault(slot, []).append(index)
    kept = set(program.result_slots)
    fused_at: dict[int, Step] = {}
    removed: set[int] = set()
    for index, step in enumerate(program.steps):
        chain = _dequantization_chain(program, index, readers, kept)
        if chain is None:
            continue
        steps = [program.steps[i] for i in chain]
        constants = {s.node.type: program.constants[s.inputs[1]] for s in steps[1:-1]}
        last = steps[-1]
        fused = Step(last.node, last.op, {}, [step.inputs[0]], list(last.outputs))
        fused.kernels = [Kernel("Convert", "integer", _dequantize(constants.get("Subtract"), constants["Multiply"],
                                                                   last.node.outputs[0].etype.dtype))]
        intermediate = {s.outputs[0] for s in steps[:-1]}
        fused.release = [s for part in steps for s in part.release if s not in intermediate]
        fused_at[chain[-1]] = fused
        removed.update(chain[:-1])
    if fused_at:
        program.fused_steps = [fused_at.get(i, step) for i, step in enumerate(program.steps) if i not in removed]


def _dequantization_chain(program, index: int, readers: dict[int, list[int]], kept: set[int]) -> list[int] | None:
    """Indices of the steps ``Convert(i32 → f64) → [Subtract] → Multiply → Convert`` starting at
    ``index``, each the only reader of the previous one's output, or None."""
    steps = program.steps
    step = steps[index]
    if (step.node.type != "Convert" or step.node.outputs[0].etype.name != "f64"
            or step.node.inputs[0].source.etype.name != "i32"):
        return None
    chain = [index]

    def follow(kinds: tuple[str, ...]) -> str | None:
        """Extend the chain by the only reader of its last output if it is one of ``kinds``
        (a Subtract/Multiply by a constant)."""
        out = steps[chain[-1]].outputs[0]
        after = readers.get(out, [])
        if out in kept or len(after) != 1 or steps[after[0]].node.type not in kinds:
            return None
        following = steps[after[0]]
        if following.node.type != "Convert" and (following.inputs[0] != out or following.inputs[1] not in program.constants):
            return None
        chain.append(after[0])
        return following.node.type

    kind = follow(("Subtract", "Multiply"))
    if kind == "Subtract":
        kind = follow(("Multiply",))
    if kind != "Multiply" or follow(("Convert",)) is None:
        return None
    return chain


def _dequantize(shift: np.ndarray | None, scale: np.ndarray, dtype: np.dtype):
    def run(accumulator: np.ndarray, **_) -> tuple[np.ndarray]:
        shape = np.broadcast_shapes(accumulator.shape, scale.shape, *([] if shift is None else [shift.shape]))
        out = np.empty(shape, dtype)
        if shift is None:
            np.multiply(accumulator, scale, out=out, dtype=np.float64, casting="unsafe")
        else:
            shifted = np.subtract(accumulator, shift, dtype=np.float64)
            np.multiply(shifted, scale, out=out, dtype=np.float64, casting="unsafe")
        return (out,)
    return run
