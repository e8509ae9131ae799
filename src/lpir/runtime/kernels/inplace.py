"""In-place kernels for cheap elementwise ops that follow a convolution or matmul.

In a CNN every Convolution is followed by a bias Add and an activation; computed as written,
each allocates a new tensor and makes one more pass over memory. When the interpreter knows
that input 0 is a freshly computed f32 tensor (its op declares ``fresh_outputs``) that nothing
else reads, these kernels write the result into it instead. Results are identical to the
references (same numpy functions, same operands), which the runtime tests check op by op.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lpir.ops.activations import _clamp_bounds, hswish

from lpir.runtime.kernels import register_kernel

InplaceKernel = Callable[..., "tuple[np.ndarray] | None"]


def _binary(ufunc: np.ufunc) -> InplaceKernel:
    def run(a: np.ndarray, b: np.ndarray, *, auto_broadcast="numpy", **_) -> tuple[np.ndarray] | None:
        if auto_broadcast != "numpy" or b.dtype != a.dtype or not _broadcasts_into(b.shape, a.shape):
            return None
        ufunc(a, b, out=a)
        return (a,)
    return run


def _broadcasts_into(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when ``shape`` broadcasts to exactly ``target`` (numpy rules)."""
    return len(shape) <= len(target) and all(d in (1, t) for d, t in zip(reversed(shape), reversed(target)))


def _clamp(a: np.ndarray, *, min: float, max: float) -> tuple[np.ndarray]:
    low, high = _clamp_bounds(a.dtype, min, max)
    np.clip(a, low, high, out=a)
    return (a,)


# Elements per block of the blocked kernels below: each block's temporaries stay in cache.
_BLOCK = 1 << 16


def _blocked(function: Callable[[np.ndarray], np.ndarray]) -> InplaceKernel:
    """An elementwise reference ``function`` run on cache-sized blocks of ``a``, each result
    written back: the same bits, with small temporaries instead of a tensor-sized one."""
    def run(a: np.ndarray) -> tuple[np.ndarray] | None:
        if not a.flags.c_contiguous:
            return None
        flat = a.reshape(-1)
        for start in range(0, flat.size, _BLOCK):
            block = flat[start:start + _BLOCK]
            block[...] = function(block)
        return (a,)
    return run


def _relu(a: np.ndarray) -> tuple[np.ndarray]:
    np.clip(a, a.dtype.type(0), a.dtype.type(np.inf), out=a)
    return (a,)


def _float32_inplace(op_type: str, kernel: InplaceKernel) -> None:
    """Register ``kernel`` for ``op_type``, guarded: input 0 must be a writeable float32 array."""
    def run(a: np.ndarray, *rest, **attrs) -> tuple[np.ndarray] | None:
        if a.dtype != np.float32 or not a.flags.writeable:
            return None
        return kernel(a, *rest, **attrs)
    register_kernel(op_type, inplace=True)(run)


for _op_type, _kernel in (("Add", _binary(np.add)), ("Subtract", _binary(np.subtract)),
                          ("Multiply", _binary(np.multiply)), ("Clamp", _clamp), ("Relu", _relu),
                          ("HSwish", _blocked(hswish))):
    _float32_inplace(_op_type, _kernel)
