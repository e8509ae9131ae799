"""The compiled depthwise kernel against its numpy reference: the same bits on random geometry.

The convolution tests compare lpir with OpenVINO through whichever path lpir takes (the
compiled one when built); this file ties the two paths together, bit for bit, so both carry
that comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpir.ops import depthwise


needs_native = pytest.mark.skipif(depthwise._native is None,
                                  reason="the compiled kernel is not built (test_the_compiled_kernel_is_built fails)")


def test_the_compiled_kernel_is_built():
    assert depthwise._native is not None, (
        "lpir.ops._native was not built (no C compiler when lpir was installed?); "
        "lpir still runs, on the slower numpy reference")


@st.composite
def geometries(draw):
    rank = draw(st.sampled_from([1, 2]))
    kernel = [draw(st.integers(1, 5)) for _ in range(rank)]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilations = [draw(st.integers(1, 2)) for _ in range(rank)]
    pads = [(draw(st.integers(-1, 3)), draw(st.integers(-1, 3))) for _ in range(rank)]
    sizes = []
    for k, d, (b, e) in zip(kernel, dilations, pads):
        smallest = max(1, d * (k - 1) + 1 - b - e, 1 - min(b, 0) - min(e, 0))
        sizes.append(draw(st.integers(smallest, smallest + 40)))
    return dict(n=draw(st.integers(1, 3)), groups=draw(st.integers(1, 12)), multiplier=draw(st.integers(1, 3)),
                sizes=sizes, kernel=kernel, strides=strides, dilations=dilations, pads=pads)


def _inputs(g: dict, dtype, seed: int, special: bool):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((g["n"], g["groups"], *g["sizes"])).astype(dtype)
    w = rng.standard_normal((g["groups"], g["multiplier"], 1, *g["kernel"])).astype(dtype)
    if special:  # signed zeros, infinities and NaN propagate the same way on both paths
        flat = x.reshape(-1)
        picks = rng.integers(0, flat.size, size=min(4, flat.size))
        flat[picks] = rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype), size=picks.size)
    return x, w


def _out_sizes(g: dict) -> list[int]:
    return [(size + b + e - d * (k - 1) - 1) // s + 1
            for size, (b, e), k, s, d in zip(g["sizes"], g["pads"], g["kernel"], g["strides"], g["dilations"])]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    nan = np.isnan(a)
    return (a.shape == b.shape and np.array_equal(nan, np.isnan(b))
            and np.array_equal(np.where(nan, 0, a).view(f"u{a.itemsize}"), np.where(nan, 0, b).view(f"u{b.itemsize}")))


@needs_native
@settings(max_examples=300, deadline=None)
@given(geometries(), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1), st.booleans())
def test_compiled_kernel_gives_the_references_bits(g, dtype, seed, special):
    x, w = _inputs(g, dtype, seed, special)
    args = (x, w, g["strides"], g["dilations"], g["pads"], _out_sizes(g))
    reference = depthwise.depthwise_reference(*args)
    compiled = depthwise.depthwise_native(*args)
    assert compiled.dtype == reference.dtype
    assert _same_bits(compiled, reference), f"max difference {np.nanmax(np.abs(compiled - reference))}"


def test_large_maps_split_into_channel_blocks_give_the_same_bits():
    """Big inputs take the reference's block-and-thread route; the result must not change."""
    g = dict(n=1, groups=80, multiplier=1, sizes=[96, 80], kernel=[3, 3], strides=[2, 2], dilations=[1, 1],
             pads=[(1, 1), (0, 1)])
    x, w = _inputs(g, np.float32, 7, special=False)
    assert x.nbytes > 2 * depthwise._BLOCK_BYTES
    args = (x, w, g["strides"], g["dilations"], g["pads"], _out_sizes(g))
    assert _same_bits(depthwise.depthwise_reference(*args), depthwise._reference_block(*args))
    if depthwise._native is not None:
        assert _same_bits(depthwise.depthwise_native(*args), depthwise._reference_block(*args))


@needs_native
def test_the_compiled_kernel_refuses_a_mismatched_output():
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((2, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="shapes disagree"):
        depthwise._native.depthwise2d(x, w, np.empty((1, 2, 4, 4), np.float32), (1, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(TypeError, match="float32"):
        depthwise._native.depthwise2d(x, w.astype(np.float64), np.empty((1, 2, 3, 3), np.float32), (1, 1), (1, 1),
                                      (0, 0, 0, 0))
