"""ONNX Attention (opsets 23-25) as the graph of its definition: heads split from 3-D inputs,
the past key/value concatenated, key/value heads repeated for grouped queries, the scaled
product, soft cap, an additive bias made of the mask, the causal frontier and the sliding
window, softmax (rows with no allowed key give zeros) and the product with the values.
RotaryEmbedding (opset 23) as the rotation of feature pairs by cached angles.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir import types
from lpir.ir.graph import Output

_I64 = np.int64


def _split_heads(ctx: NodeContext, x: Output, heads: int, name: str) -> Output:
    """[B, S, H*D] → [B, H, S, D]."""
    target = ctx.const(np.asarray([0, 0, heads, -1], dtype=_I64), f"{name}_heads_shape")
    split = ctx.op("Reshape", x, target, special_zero=True, suffix=f"{name}_heads")
    return ctx.op("Transpose", split, ctx.const(np.asarray([0, 2, 1, 3], dtype=_I64), f"{name}_perm"),
                  suffix=f"{name}_bhsd")


def _repeat_heads(ctx: NodeContext, x: Output, times: int, name: str) -> Output:
    """[B, H, T, D] → [B, H*times, T, D], each head repeated ``times`` times in place."""
    expanded = ctx.op("Unsqueeze", x, ctx.const(np.asarray([2], dtype=_I64), f"{name}_group_axis"),
                      suffix=f"{name}_grouped")
    tiled = ctx.op("Tile", expanded, ctx.const(np.asarray([1, 1, times, 1, 1], dtype=_I64), f"{name}_repeats"),
                   suffix=f"{name}_tiled")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix=f"{name}_shape")
    target = ctx.op("Multiply", shape, ctx.const(np.asarray([1, times, 1, 1], dtype=_I64), f"{name}_factor"),
                    suffix=f"{name}_repeated_shape")
    return ctx.op("Reshape", tiled, target, special_zero=False, suffix=f"{name}_repeated")


def _dim(ctx: NodeContext, x: Output, axis: int, name: str) -> Output:
    """Dimension ``axis`` of ``x`` as an i64 scalar."""
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix=f"{name}_shape")
    return ctx.op("Gather", shape, ctx.const(_I64(axis), f"{name}_axis"), ctx.const(_I64(0), f"{name}_gather_axis"),
                  opset=8, suffix=name)


def _position_bias(ctx: NodeContext, q: Output, k: Output, past: Output | None, nonpad: Output | None,
                   like: Output) -> Output | None:
    """The causal / sliding-window / padding part of the bias (0 allowed, -inf not), or None.

    Query i (absolute position i + offset) may see key j when j <= i + offset (causal), when
    the distance is within the windows, and when j < nonpad_kv_seqlen[b]; offset is the past
    length, or nonpad_kv_seqlen[b] - q_len with an external cache, or 0.
    """
    causal = bool(ctx.attr("is_causal", 0))
    left, right = ctx.attr("left_window_size", -1), ctx.attr("right_window_size", -1)
    if not causal and left < 0 and right < 0 and nonpad is None:
        return None
    i64 = types.i64
    zero, one = ctx.const(_I64(0), "zero"), ctx.const(_I64(1), "one")
    q_len, kv_len = _dim(ctx, q, 2, "q_len"), _dim(ctx, k, 2, "kv_len")
    rows = ctx.op("Unsqueeze", ctx.op("Range", zero, q_len, one, opset=4, output_type=i64, suffix="rows"),
                  ctx.const(_I64(1), "row_axis"), suffix="row_column")
    cols = ctx.op("Range", zero, kv_len, one, opset=4, output_type=i64, suffix="cols")
    distance = ctx.op("Subtract", rows, cols, suffix="distance")  # i - j, [q, kv]
    batch_shape = ctx.const(np.asarray([-1, 1, 1, 1], dtype=_I64), "per_batch")
    if past is not None:
        offset = _dim(ctx, past, 2, "past_len")
    elif nonpad is not None:
        lengths = ctx.op("Reshape", ctx.op("Convert", nonpad, destination_type=i64, suffix="nonpad_i64"),
                         batch_shape, special_zero=False, suffix="nonpad")
        offset = ctx.op("Subtract", lengths, q_len, suffix="offset")
    else:
        offset = zero
    shifted = ctx.op("Add", distance, offset, suffix="shifted_distance")  # i + offset - j
    allowed = None

    def both(a: Output | None, b: Output, suffix: str) -> Output:
        return b if a is None else ctx.op("LogicalAnd", a, b, suffix=suffix)

    if causal:
        allowed = ctx.op("GreaterEqual", shifted, zero, suffix="causal")
    if left >= 0:
        allowed = both(allowed, ctx.op("LessEqual", shifted, ctx.const(_I64(left), "left"), suffix="left_window"),
                       "left_allowed")
    if right >= 0:
        allowed = both(allowed, ctx.op("GreaterEqual", shifted, ctx.const(_I64(-right), "right"),
                                       suffix="right_window"), "right_allowed")
    if nonpad is not None and past is None:
        allowed = both(allowed, ctx.op("Less", cols, lengths, suffix="not_padding"), "padding_allowed")
    return ctx.op("Select", allowed, ctx.const_like(0, like, "open"), ctx.const_like(-np.inf, like, "closed"),
                  suffix="position_bias")


def _mask_bias(ctx: NodeContext, mask: Output, kv_len_static, like: Output) -> Output:
    """A boolean mask as 0 / -inf, a float mask as is; a last dim shorter than the keys padded
    with -inf."""
    if mask.etype is types.boolean:
        mask = ctx.op("Select", mask, ctx.const_like(0, like, "mask_open"), ctx.const_like(-np.inf, like, "mask_closed"),
                      suffix="mask_bias")
    width = mask.shape[-1] if mask.shape else None
    if isinstance(width, int) and isinstance(kv_len_static, int) and width < kv_len_static:
        rank = len(mask.shape)
        begins = ctx.const(np.zeros(rank, dtype=_I64), "mask_pads_begin")
        ends = ctx.const(np.asarray([0] * (rank - 1) + [kv_len_static - width], dtype=_I64), "mask_pads_end")
        mask = ctx.op("Pad", mask, begins, ends, ctx.const_like(-np.inf, like, "mask_pad"), opset=12,
                      pad_mode="constant", suffix="mask_padded")
    return mask


@converter("Attention", spec_opset=25,
           emits=("Reshape", "Transpose", "Concat", "ConvertLike", "Unsqueeze", "Tile", "ShapeOf", "Multiply", "MatMul", "Divide",
                  "Tanh", "Add", "Select", "Pad", "Softmax", "ReduceMax", "Equal", "Convert", "Gather", "Range",
                  "Subtract", "GreaterEqual", "LessEqual", "Less", "LogicalAnd"))
def _attention(ctx: NodeContext) -> list[Output]:
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    mask, past_key, past_value = ctx.optional_input(3), ctx.optional_input(4), ctx.optional_input(5)
    narrow = q.etype if q.etype in (types.f16, types.bf16) else None
    if narrow is not None:  # computed in f32 and rounded once, as OpenVINO's CPU plugin does
        q, k, v, past_key, past_value = (None if t is None else ctx.op("Convert", t, destination_type=types.f32,
                                                                        suffix=f"{name}_f32")
                                         for t, name in ((q, "q"), (k, "k"), (v, "v"), (past_key, "past_key"),
                                                         (past_value, "past_value")))
        if mask is not None and mask.etype is narrow:
            mask = ctx.op("Convert", mask, destination_type=types.f32, suffix="mask_f32")
    nonpad = ctx.optional_input(6)
    three_d = ctx.rank(q) == 3
    if three_d:
        q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
        if q_heads is None or kv_heads is None:
            raise ctx.fail("3-D inputs need q_num_heads and kv_num_heads")
        q = _split_heads(ctx, q, q_heads, "q")
        k = _split_heads(ctx, k, kv_heads, "k")
        v = _split_heads(ctx, v, kv_heads, "v")
    else:
        q_heads, kv_heads = (q.shape[1], k.shape[1]) if q.shape and k.shape else (None, None)
    if past_key is not None:
        k = ctx.build("Concat", [past_key, k], {"axis": 2}, suffix="present_key").outputs[0]
    if past_value is not None:
        v = ctx.build("Concat", [past_value, v], {"axis": 2}, suffix="present_value").outputs[0]
    present_key, present_value = k, v
    if q_heads != kv_heads:
        if not isinstance(q_heads, int) or not isinstance(kv_heads, int) or q_heads % kv_heads:
            raise ctx.fail(f"{q_heads} query heads do not group over {kv_heads} key/value heads")
        k = _repeat_heads(ctx, k, q_heads // kv_heads, "k")
        v = _repeat_heads(ctx, v, q_heads // kv_heads, "v")
    scale = ctx.attr("scale")
    if scale is None:
        head_size = q.shape[3] if q.shape is not None else None
        if not isinstance(head_size, int):
            raise ctx.fail("the default scale needs a static head size")
        scale = 1 / np.sqrt(head_size)
    root = ctx.const_like(np.sqrt(scale), q, "sqrt_scale")
    scores = ctx.op("MatMul", ctx.op("Multiply", q, root, suffix="q_scaled"),
                    ctx.op("Multiply", k, root, suffix="k_scaled"), transpose_a=False, transpose_b=True,
                    suffix="scores")
    softcap = float(ctx.attr("softcap", 0.0))
    if softcap > 0:
        cap = ctx.const_like(softcap, scores, "softcap")
        scores = ctx.op("Multiply", ctx.op("Tanh", ctx.op("Divide", scores, cap, suffix="capped_in"),
                                           suffix="capped_tanh"), cap, suffix="capped")
    capped = scores
    kv_len = k.shape[2] if k.shape is not None else None
    bias = None if mask is None else _mask_bias(ctx, mask, kv_len, scores)
    position = _position_bias(ctx, q, k, past_key, nonpad, scores)
    if position is not None:
        bias = position if bias is None else ctx.op("Add", bias, position, suffix="bias")
    if bias is not None:
        scores = ctx.op("Add", scores, bias, suffix="biased")
    biased = scores
    precision = ctx.attr("softmax_precision")
    if precision is not None:
        scores = ctx.op("Convert", scores, destination_type=element_type(precision, ctx.name), suffix="softmax_in")
    probs = ctx.op("Softmax", scores, opset=8, axis=-1, suffix="softmax")
    if bias is not None:
        peak = ctx.op("ReduceMax", bias, ctx.const(np.asarray([-1], dtype=_I64), "last_axis"), keep_dims=True,
                      suffix="bias_max")
        closed = ctx.op("Equal", peak, ctx.const_like(-np.inf, peak, "minus_inf"), suffix="row_closed")
        probs = ctx.op("Select", closed, ctx.const_like(0, probs, "zero_prob"), probs, suffix="probs")
    if precision is not None:
        probs = ctx.op("ConvertLike", probs, q, suffix="probs_q")
    last = "y_f32" if narrow is not None else None  # the node giving Y carries the ONNX name
    out = ctx.op("MatMul", probs, v, transpose_a=False, transpose_b=False, suffix="context" if three_d else last)
    if three_d:
        merged = ctx.op("Transpose", out, ctx.const(np.asarray([0, 2, 1, 3], dtype=_I64), "out_perm"),
                        suffix="context_bshd")
        out = ctx.op("Reshape", merged, ctx.const(np.asarray([0, 0, -1], dtype=_I64), "out_shape"),
                     special_zero=True, suffix=last)
    mode = ctx.attr("qk_matmul_output_mode", 0)
    qk = {0: capped, 1: capped, 2: biased, 3: probs}.get(mode)
    if qk is None:
        raise ctx.fail(f"qk_matmul_output_mode={mode} is not 0, 1, 2 or 3")
    outputs = [out, present_key, present_value, qk]
    if narrow is not None:
        outputs = [ctx.op("Convert", o, destination_type=narrow, suffix=None if name == "y" else f"{name}_narrow")
                   for o, name in zip(outputs, ("y", "present_key", "present_value", "qk"))]
    return outputs


def _last_axis_slice(ctx: NodeContext, x: Output, start: int, stop: int, step: int, name: str) -> Output:
    return ctx.op("Slice", x, ctx.const([start], f"{name}_start", types.i64), ctx.const([stop], f"{name}_stop", types.i64),
                  ctx.const([step], f"{name}_step", types.i64), ctx.const([-1], f"{name}_axis", types.i64), opset=8,
                  suffix=name)


@converter("RotaryEmbedding", spec_opset=23,
           emits=("Reshape", "Gather", "Unsqueeze", "Slice", "Multiply", "Subtract", "Add", "Concat"))
def _rotary_embedding(ctx: NodeContext) -> Output:
    """Rotates pairs of the first ``rotary_embedding_dim`` features of each head by the cached
    angles of the token's position: (x1, x2) → (x1 cos - x2 sin, x1 sin + x2 cos), the pairs being
    the two halves (or, interleaved, even and odd features)."""
    x, cos, sin = ctx.input(0), ctx.input(1), ctx.input(2)
    rank = ctx.rank(x)
    if rank == 3:
        heads = ctx.attr("num_heads")
        if not heads:
            raise ctx.fail("3-D input needs num_heads")
        hidden = x.shape[2]
        head_size = hidden // heads if isinstance(hidden, int) else None
        x = ctx.op("Reshape", x, ctx.const(np.asarray([0, 0, heads, -1], _I64), "heads_shape"), special_zero=True,
                   suffix="heads")
        head_axis = 2  # [B, S, H, D]
    else:
        head_size = x.shape[3] if x.shape is not None else None
        head_axis = 1  # [B, H, S, D]
    if not isinstance(head_size, int):
        raise ctx.fail("RotaryEmbedding needs a static head size")
    dim = ctx.attr("rotary_embedding_dim", 0) or head_size
    half = dim // 2
    if ctx.optional_input(3) is not None:
        axis = ctx.const(_I64(0), "cache_axis")
        cos = ctx.op("Gather", cos, ctx.input(3), axis, opset=8, suffix="cos")
        sin = ctx.op("Gather", sin, ctx.input(3), axis, opset=8, suffix="sin")
    head = ctx.const(np.asarray([head_axis], _I64), "head_axis")
    cos = ctx.op("Unsqueeze", cos, head, suffix="cos_heads")  # [B, S, half] → per head
    sin = ctx.op("Unsqueeze", sin, head, suffix="sin_heads")
    interleaved = bool(ctx.attr("interleaved", 0))
    final = rank == 4 and dim == head_size  # the rotation gives the result: it carries the ONNX name
    if interleaved:
        first = _last_axis_slice(ctx, x, 0, dim, 2, "even")
        second = _last_axis_slice(ctx, x, 1, dim, 2, "odd")
    else:
        first = _last_axis_slice(ctx, x, 0, half, 1, "first_half")
        second = _last_axis_slice(ctx, x, half, dim, 1, "second_half")
    real = ctx.op("Subtract", ctx.op("Multiply", cos, first, suffix="cos_first"),
                  ctx.op("Multiply", sin, second, suffix="sin_second"), suffix="real")
    imag = ctx.op("Add", ctx.op("Multiply", sin, first, suffix="sin_first"),
                  ctx.op("Multiply", cos, second, suffix="cos_second"), suffix="imag")
    if interleaved:
        last = ctx.const(np.asarray([-1], _I64), "pair_axis")
        pairs = ctx.build("Concat", [ctx.op("Unsqueeze", real, last, suffix="real_pair"),
                                     ctx.op("Unsqueeze", imag, last, suffix="imag_pair")], {"axis": -1},
                          suffix="pairs").outputs[0]
        rotated = ctx.op("Reshape", pairs, ctx.const(np.asarray([0, 0, 0, -1], _I64), "rotated_shape"),
                         special_zero=True, suffix=None if final else "rotated")
    else:
        rotated = ctx.build("Concat", [real, imag], {"axis": -1}, suffix=None if final else "rotated").outputs[0]
    if dim < head_size:
        kept = _last_axis_slice(ctx, x, dim, head_size, 1, "not_rotated")
        rotated = ctx.build("Concat", [rotated, kept], {"axis": -1}, suffix=None if rank == 4 else "joined").outputs[0]
    if rank == 3:
        return ctx.op("Reshape", rotated, ctx.const(np.asarray([0, 0, -1], _I64), "out_shape"), special_zero=True)
    return rotated
