"""The kernel table: fast implementations the interpreter may run instead of an op's reference.

Keyed by op type and *mode* (``float``; ``integer`` for the exact integer layers of the
integer interpretation), each entry is a :class:`Kernel`: a function of the step's inputs and
attributes that returns the outputs, or None when it does not apply to these inputs (the
interpreter then runs the op's numpy reference). Kernels give the reference's bits; tests
compare each with its reference. ``inplace`` kernels write their result into input 0 and run
only where the interpreter knows that tensor is fresh and read by nobody else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

KernelFunction = Callable[..., "tuple[np.ndarray, ...] | None"]
MODES = ("float", "integer", "sparse")


@dataclass(frozen=True)
class Kernel:
    op_type: str
    mode: str
    run: KernelFunction
    inplace: bool = False


_TABLE: dict[tuple[str, str], list[Kernel]] = {}


def register_kernel(op_type: str, mode: str = "float", *, inplace: bool = False):
    """Function decorator: add a kernel for ``op_type`` in ``mode`` (tried in registration order)."""
    def decorate(function: KernelFunction) -> KernelFunction:
        _TABLE.setdefault((op_type, mode), []).append(Kernel(op_type, mode, function, inplace))
        return function
    return decorate


def kernels_for(op_type: str, mode: str = "float") -> list[Kernel]:
    """The kernels registered for ``op_type`` in ``mode``, in the order they are tried."""
    return _TABLE.get((op_type, mode), [])


from lpir.runtime.kernels import depthwise as _depthwise, inplace as _inplace  # noqa: E402,F401  (registrations)
from lpir.runtime.kernels import integer as _integer  # noqa: E402,F401  (registrations)
