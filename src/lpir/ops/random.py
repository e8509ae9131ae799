"""RandomUniform: OpenVINO's counter-based Philox4x32-10 generator, reproduced bit for bit.

A model with random ops gives the same numbers in lpir as in OpenVINO for the same seeds:
block ``i`` of four 32-bit words is Philox4x32-10 run on the counter ``(i, op_seed)`` with the
key ``global_seed``, so every block is computed at once. Floats take the low mantissa bits of a
word as ``1.m - 1`` (two words for f64); integers take a word (two for i64) modulo the range.

OpenVINO keeps a state between runs of one compiled model and continues the sequence; lpir
gives the first run's numbers on every run. Seeds ``global_seed = op_seed = 0`` ask OpenVINO for
a non-deterministic sequence (a global seed drawn from the clock); lpir likewise draws a fresh
global seed for each run then, so only the values' range and type can be compared.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC
from lpir.ops.movement.base import _length, _target
from lpir.ops.registry import Attr, InferContext, Op, register

_MASK = np.uint64(0xFFFFFFFF)
_MULTIPLIER_A = np.uint64(0xD2511F53)
_MULTIPLIER_B = np.uint64(0xCD9E8D57)
_KEY_STEP = (0x9E3779B9, 0xBB67AE85)
_ROUNDS = 10
_OUTPUT_TYPES = ("f16", "bf16", "f32", "f64", "i32", "i64")


def philox_blocks(count: int, global_seed: int, op_seed: int) -> np.ndarray:
    """``count`` Philox4x32-10 blocks, shape (count, 4) of uint32: counter (i, op_seed), key global_seed."""
    index = np.arange(count, dtype=np.uint64)
    words = [index & _MASK, index >> np.uint64(32),
             np.full(count, op_seed & 0xFFFFFFFF, np.uint64), np.full(count, (op_seed >> 32) & 0xFFFFFFFF, np.uint64)]
    key = [global_seed & 0xFFFFFFFF, (global_seed >> 32) & 0xFFFFFFFF]
    for round_index in range(_ROUNDS):
        product_a = _MULTIPLIER_A * words[0]
        product_b = _MULTIPLIER_B * words[2]
        words = [(product_b >> np.uint64(32)) ^ words[1] ^ np.uint64(key[0]), product_b & _MASK,
                 (product_a >> np.uint64(32)) ^ words[3] ^ np.uint64(key[1]), product_a & _MASK]
        if round_index < _ROUNDS - 1:
            key = [(k + step) & 0xFFFFFFFF for k, step in zip(key, _KEY_STEP)]
    return np.stack(words, axis=1).astype(np.uint32)


def _unit_floats(words: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Floats in [0, 1): the word's low mantissa bits under a zero exponent, minus one."""
    if dtype == np.float32:
        return (np.uint32(127 << 23) | (words & np.uint32(0x7FFFFF))).view(np.float32) - np.float32(1)
    if dtype == np.float16:
        bits = np.uint16(15 << 10) | (words.astype(np.uint16) & np.uint16(0x3FF))
        return bits.view(np.float16) - np.float16(1)
    bits = np.uint16(127 << 7) | (words.astype(np.uint16) & np.uint16(0x7F))
    return bits.view(dtype) - dtype.type(1)


def uniform_values(count: int, low, high, etype: types.ElementType, global_seed: int, op_seed: int) -> np.ndarray:
    """``count`` uniform values in [low, high) of ``etype`` as OpenVINO's RandomUniform draws them."""
    dtype = etype.dtype
    per_block = 2 if dtype.itemsize > 4 else 4
    blocks = philox_blocks(-(-count // per_block), global_seed, op_seed)
    low, high = np.asarray(low).astype(dtype).reshape(()), np.asarray(high).astype(dtype).reshape(())
    if per_block == 2:
        pairs = blocks.reshape(-1, 2).astype(np.uint64)
        if dtype == np.float64:
            bits = np.uint64(1023 << 52) | ((pairs[:, 0] & np.uint64(0xFFFFF)) << np.uint64(32)) | pairs[:, 1]
            values = (bits.view(np.float64) - 1.0) * (high - low) + low
        else:  # i64: the second word is the high half; unsigned modulo as OpenVINO computes it
            span = (high.astype(np.int64) - low.astype(np.int64)).astype(np.uint64)
            values = ((pairs[:, 1] << np.uint64(32) | pairs[:, 0]) % span + low.astype(np.uint64)).view(np.int64)
    elif dtype == np.int32:
        span = np.uint32(np.int32(high) - np.int32(low))
        values = (blocks.reshape(-1) % span + np.uint32(low.view(np.uint32))).view(np.int32)
    else:
        values = _unit_floats(blocks.reshape(-1), dtype) * (high - low) + low
    return values[:count].astype(dtype)


@register("RandomUniform", opset=8)
class RandomUniform8(Op):
    """Uniform random values of ``output_type`` in [min, max) with the shape given by input 0."""

    attrs = {"output_type": Attr("etype"), "global_seed": Attr("int", default=0),
             "op_seed": Attr("int", default=0), "alignment": Attr("str", default="tensorflow")}
    fresh_outputs = True

    def infer(self, ctx: InferContext):
        etype = types.parse_type(ctx.attrs["output_type"])
        if etype.name not in _OUTPUT_TYPES:
            raise ctx.fail(f"output_type {etype} is not one of {', '.join(_OUTPUT_TYPES)}")
        _check_alignment(ctx.attrs.get("alignment", "tensorflow"), ctx.fail)
        for i in (1, 2):
            if ctx.etype(i) not in (etype, types.dynamic):
                raise ctx.fail(f"input {i} is {ctx.etype(i)}, output_type is {etype}: they must agree")
        target = _target(ctx, 0)
        if target is not None:
            return [(etype, tuple(target))]
        rank = _length(ctx.shape(0))
        return [(etype, None if rank is None else (DYNAMIC,) * rank)]

    def evaluate(self, shape, minval, maxval, *, output_type, global_seed, op_seed, alignment):
        _check_alignment(alignment, lambda message: ValidationError(f"RandomUniform: {message}"))
        if global_seed == 0 and op_seed == 0:
            global_seed = int(np.random.default_rng().integers(1, 2**31))
        etype = types.parse_type(output_type)
        dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
        values = uniform_values(int(np.prod(dims, dtype=np.int64)), minval, maxval, etype, global_seed, op_seed)
        return (values.reshape(dims),)


def _check_alignment(alignment: str, fail) -> None:
    if alignment != "tensorflow":
        raise fail(f"alignment={alignment!r} (PyTorch's Mersenne Twister) is not supported, only 'tensorflow'")



def _seed_sequence(seeds: list[int], count: int = 624) -> np.ndarray:
    """C++'s ``std::seed_seq{seeds...}.generate`` of ``count`` 32-bit words (the standard's mixing)."""
    words = [0x8B8B8B8B] * count
    mask, n, s = 0xFFFFFFFF, count, len(seeds)
    t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
    p, m = (n - t) // 2, max(s + 1, n)
    q = p + t

    def scramble(x: int) -> int:
        return x ^ (x >> 27)
    for k in range(m):
        r1 = (1664525 * scramble(words[k % n] ^ words[(k + p) % n] ^ words[(k - 1) % n])) & mask
        r2 = (r1 + (s if k == 0 else (k % n + seeds[k - 1]) if k <= s else k % n)) & mask
        words[(k + p) % n] = (words[(k + p) % n] + r1) & mask
        words[(k + q) % n] = (words[(k + q) % n] + r2) & mask
        words[k % n] = r2
    for k in range(m, m + n):
        r3 = (1566083941 * scramble((words[k % n] + words[(k + p) % n] + words[(k - 1) % n]) & mask)) & mask
        r4 = (r3 - k % n) & mask
        words[(k + p) % n] ^= r3
        words[(k + q) % n] ^= r4
        words[k % n] = r4
    return np.array(words, np.uint32)


def mersenne_unit_draws(count: int, global_seed: int, op_seed: int, dtype: np.dtype) -> np.ndarray:
    """``count`` draws in [0, 1] as OpenVINO's CPU Multinomial makes them: ``std::mt19937`` seeded
    with ``seed_seq{global_seed, op_seed}``, each word rounded to f32 and divided by 2^32 - 1."""
    generator = np.random.MT19937()
    generator.state = {"bit_generator": "MT19937",
                       "state": {"key": _seed_sequence([global_seed & 0xFFFFFFFF, op_seed & 0xFFFFFFFF]), "pos": 624}}
    words = generator.random_raw(count).astype(np.uint32)
    return (words.astype(np.float32) / np.float32(4294967295)).astype(dtype)


def _sample_row(cdf: np.ndarray, draws: np.ndarray, with_replacement: bool) -> np.ndarray:
    """Class indices for one batch row: the first class whose cumulative probability reaches the
    draw. Without replacement each drawn class is removed (its probability subtracted from the
    later cumulative values, all scaled back to 1)."""
    if with_replacement:
        reached = draws[:, None] <= cdf[None, :]
        return np.where(reached.any(axis=1), reached.argmax(axis=1), cdf.size - 1)
    out = np.full(draws.size, cdf.size - 1, np.int64)  # a NaN draw reaches no class
    cdf = cdf.copy()
    one = cdf.dtype.type(1)
    for j, draw in enumerate(draws):
        hits = np.flatnonzero(draw <= cdf)
        if not hits.size:
            continue
        chosen = out[j] = int(hits[0])
        probability = cdf[chosen] - cdf[chosen - 1] if chosen else cdf[0]
        cdf[chosen:] -= probability
        with np.errstate(divide="ignore", invalid="ignore"):  # the last class left: nothing more to draw
            cdf /= one - probability
    return out


@register("Multinomial", opset=13)
class Multinomial13(Op):
    """``num_samples`` class indices per row of ``probs`` [batch, classes], drawn by inverting the
    normalised cumulative distribution, as OpenVINO's CPU plugin does (its generator is the
    Mersenne Twister, not RandomUniform's Philox; the core reference uses Philox but is not
    what OpenVINO runs on CPU). Seeds 0 and 0 draw a fresh sequence on each run."""

    attrs = {"convert_type": Attr("etype"), "with_replacement": Attr("bool"), "log_probs": Attr("bool"),
             "global_seed": Attr("int", default=0), "op_seed": Attr("int", default=0)}
    fresh_outputs = True

    def infer(self, ctx: InferContext):
        etype = types.parse_type(ctx.attrs["convert_type"])
        if etype not in (types.i32, types.i64):
            raise ctx.fail(f"convert_type {etype} is not i32 or i64")
        if not (ctx.etype(0).is_float or ctx.etype(0) is types.dynamic):
            raise ctx.fail(f"probs are {ctx.etype(0)}: Multinomial takes floating-point probabilities")
        probs = ctx.shape(0)
        if probs is not None and len(probs) != 2:
            raise ctx.fail(f"probs must be 2-D [batch, classes], got {probs}")
        if _length(ctx.shape(1)) not in (None, 1):
            raise ctx.fail(f"num_samples must hold one value, got shape {ctx.shape(1)}")
        count = ctx.value(1)
        samples = DYNAMIC if count is None else int(np.asarray(count).reshape(-1)[0])
        return [(etype, (DYNAMIC if probs is None else probs[0], samples))]

    def evaluate(self, probs, num_samples, *, convert_type, with_replacement, log_probs, global_seed, op_seed):
        if global_seed == 0 and op_seed == 0:
            global_seed = int(np.random.default_rng().integers(1, 2**31))
        probs = np.asarray(probs)
        values = np.exp(probs) if log_probs else probs
        cdf = np.cumsum(values, axis=-1, dtype=values.dtype)
        cdf = cdf / np.maximum(cdf[:, -1:], np.finfo(cdf.dtype).tiny)
        batch, samples = probs.shape[0], int(np.asarray(num_samples).reshape(-1)[0])
        draws = mersenne_unit_draws(batch * samples, global_seed, op_seed, probs.dtype).reshape(batch, samples)
        out = np.zeros((batch, samples), np.int64)
        for b in range(batch):
            out[b] = _sample_row(cdf[b], draws[b], with_replacement)
        return (out.astype(types.parse_type(convert_type).dtype),)
