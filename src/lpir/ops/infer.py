"""Shape/type inference over nodes and whole models, with static value propagation.

Some output shapes depend on input *values* (Reshape's target shape, a ShapeOf feeding a
Concat ...). :func:`static_value` computes such values when they are known before running:
Const data, ShapeOf of a static shape, and small ops whose inputs are all known.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from lpir.errors import UnsupportedOpError, ValidationError, describe_node
from lpir.ir import types
from lpir.ir.graph import Model, Node, Output, make_node
from lpir.ir.shape import is_static
from lpir.ops.registry import InferContext, Op, lookup, registered_types

# Values larger than this are not folded during inference: weights stay lazy.
FOLD_LIMIT = 1 << 16


def op_of(node: Node) -> Op:
    """The registered definition of ``node`` (raises UnsupportedOpError)."""
    op = lookup(node.type, node.opset)
    if op is None:
        raise UnsupportedOpError(f"{describe_node(node)}: lpir has no definition of {node.type}-{node.version}")
    return op


def static_value(output: Output) -> np.ndarray | None:
    """The value ``output`` always has, if it can be known without model inputs."""
    node = output.node
    if node.type == "Const" and node.tensor is not None:
        if node.tensor.size > FOLD_LIMIT:
            return None
        return node.tensor.numpy()
    if node.type == "ShapeOf":
        shape = node.inputs[0].source.shape
        if is_static(shape):
            etype = node.attrs.get("output_type", types.i64)
            return np.array(shape, dtype=types.parse_type(etype).dtype)
        return None
    if node.type in ("Parameter", "Result") or not node.inputs:
        return None
    if not is_static(output.shape) or int(np.prod(output.shape, dtype=np.int64)) > FOLD_LIMIT:
        return None
    inputs = []
    for port in node.inputs:
        value = static_value(port.source)
        if value is None:
            return None
        inputs.append(value)
    op = lookup(node.type, node.opset)
    if op is None:
        return None
    try:
        attrs = op.resolved_attrs(node.attrs, describe_node(node))
        return np.asarray(op.evaluate(*inputs, **attrs)[output.index])
    except (NotImplementedError, ValidationError):
        return None


def partial_value(output: Output) -> tuple | None:
    """``output``'s value as a flat tuple of dimensions, some possibly dynamic (shape subgraphs).

    A static integer value of at most one dimension gives its ints; otherwise the producing op's
    :meth:`Op.partial_value` decides (ShapeOf of ``(?, 3)`` gives ``(Dim(), 3)``).
    """
    value = static_value(output)
    if value is not None:
        if value.ndim > 1 or not np.issubdtype(value.dtype, np.integer):
            return None
        return tuple(int(v) for v in value.reshape(-1))
    node = output.node
    if output.index != 0 or node.type in ("Parameter", "Const", "Result"):
        return None
    op = lookup(node.type, node.opset)
    if op is None:
        return None
    try:
        attrs = op.resolved_attrs(node.attrs, describe_node(node))
        return op.partial_value(InferContext(node, attrs, static_value, partial_value))
    except ValidationError:
        return None


def infer_node(node: Node) -> None:
    """Set the element type and shape of every output of ``node`` from its inputs."""
    op = op_of(node)
    where = describe_node(node)
    attrs = op.resolved_attrs(node.attrs, where)
    results = op.infer(InferContext(node, attrs, static_value, partial_value))
    while len(node.outputs) < len(results):
        node.add_output()
    for out, (etype, shape) in zip(node.outputs, results):
        out.etype = etype
        out.shape = shape


def infer_model(model: Model) -> None:
    """Re-infer every node in topological order (after edits that change shapes or types)."""
    for node in model.nodes():
        if node.type not in ("Parameter", "Const"):
            infer_node(node)


def build(op_type: str, inputs: Iterable[Output], attrs: dict[str, Any] | None = None, *,
          name: str | None = None, opset: int | None = None) -> Node:
    """Create a node of a registered op wired to ``inputs``, with its outputs inferred.

    ``opset`` defaults to the newest registered version of ``op_type``.
    """
    versions = registered_types().get(op_type)
    if not versions:
        raise UnsupportedOpError(f"lpir has no definition of op {op_type!r}")
    version = opset if opset is not None else versions[-1]
    node = make_node(op_type, inputs, attrs, name=name, version=f"opset{version}")
    infer_node(node)
    return node
