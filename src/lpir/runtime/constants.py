"""The values of constant subgraphs (weights, ranges, scales and the small graphs that make them),
folded once where a model is lowered or rewritten for a runtime's arithmetic."""

from __future__ import annotations

import numpy as np

from lpir.ir.graph import Output
from lpir.ops import lookup
from lpir.runtime.program import constant_value


class NotConstant(Exception):
    """Raised by :func:`fold_constant` on a value that depends on a model input."""


def is_constant(out: Output) -> bool:
    """Whether ``out`` depends on constants only: no input-less node but Const above it (searched
    depth first without recursion: an activation may be thousands of nodes deep)."""
    stack, seen = [out.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node.type == "Const":
            continue
        if not node.inputs:  # a Parameter (or another source of variable data)
            return False
        seen.add(id(node))
        stack.extend(p.source.node for p in reversed(node.inputs))
    return True


def fold_constant(out: Output) -> np.ndarray:
    """Evaluate the constant subgraph ending at ``out`` (raises NotConstant if it reads an input)."""
    node = out.node
    if node.type == "Const":
        return constant_value(node)
    if not node.inputs:
        raise NotConstant(node.name)
    args = [fold_constant(p.source) for p in node.inputs]
    op = lookup(node.type, node.opset)
    return op.evaluate(*args, **op.resolved_attrs(node.attrs, node.name))[out.index]


def constant_or_none(out: Output) -> np.ndarray | None:
    """The value of ``out`` when it depends on constants only, else None."""
    return fold_constant(out) if is_constant(out) else None
