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
from lpir.ir.shape import format_shape, is_static
from lpir.ops.registry import InferContext, Op, describe_versions, lookup, registered_types

# Values larger than this are not folded during inference: weights stay lazy.
FOLD_LIMIT = 1 << 16
# Constant subgraphs that compute shapes are small; a longer walk is an activation path.
MAX_FOLD_NODES = 256


def op_of(node: Node) -> Op:
    """The registered definition of ``node`` (raises UnsupportedOpError)."""
    op = lookup(node.type, node.opset)
    if op is None:
        raise UnsupportedOpError(f"{describe_node(node)}: lpir has no definition of {node.type}-{node.version} "
                                 f"{describe_versions(node.type)}")
    return op


def _leaf_value(output: Output) -> tuple[bool, np.ndarray | None]:
    """(is a leaf, its value) for the ends of a constant subgraph: Const, ShapeOf, Parameter."""
    node = output.node
    if node.type == "Const" and node.tensor is not None:
        return True, (node.tensor.numpy() if node.tensor.size <= FOLD_LIMIT else None)
    if node.type == "ShapeOf":
        shape = node.inputs[0].source.shape
        if not is_static(shape):
            return True, None
        etype = types.parse_type(node.attrs.get("output_type", types.i64))
        return True, np.array(shape, dtype=etype.dtype)
    if node.type in ("Parameter", "Result") or not node.inputs or node.bodies:
        return True, None  # bodies run at run time only
    if not is_static(output.shape) or int(np.prod(output.shape, dtype=np.int64)) > FOLD_LIMIT:
        return True, None
    return False, None


def _constant_subgraph(output: Output) -> list[Node] | None:
    """The non-leaf nodes ``output`` is computed from, producers first; None as soon as one of
    them depends on a model input, is too large, or the subgraph exceeds MAX_FOLD_NODES."""
    order: list[Node] = []
    state: dict[int, bool] = {}  # node uid → finished
    stack = [(output.node, 0)]
    while stack:
        node, next_input = stack.pop()
        state.setdefault(node.uid, False)
        if next_input < len(node.inputs):
            stack.append((node, next_input + 1))
            source = node.inputs[next_input].source
            is_leaf, value = _leaf_value(source)
            if is_leaf:
                if value is None:
                    return None
            elif source.node.uid not in state:
                stack.append((source.node, 0))
            continue
        state[node.uid] = True
        order.append(node)
        if len(order) > MAX_FOLD_NODES:
            return None
    return order


def static_value(output: Output) -> np.ndarray | None:
    """The value ``output`` always has, if it can be known without model inputs.

    Walks back iteratively through at most MAX_FOLD_NODES small nodes (no recursion: deep
    graphs are fine) and stops at the first one that depends on a model input.
    """
    is_leaf, value = _leaf_value(output)
    if is_leaf:
        return value
    nodes = _constant_subgraph(output)
    if nodes is None:
        return None
    values: dict[tuple[int, int], np.ndarray] = {}
    for node in nodes:
        inputs = [values.get((p.source.node.uid, p.source.index)) for p in node.inputs]
        inputs = [v if v is not None else _leaf_value(p.source)[1] for v, p in zip(inputs, node.inputs)]
        op = lookup(node.type, node.opset)
        if op is None:
            return None
        try:
            attrs = op.resolved_attrs(node.attrs, describe_node(node))
            results = op.evaluate(*inputs, **attrs)
        except (NotImplementedError, ValidationError):
            return None
        for index, result in enumerate(results):
            values[(node.uid, index)] = np.asarray(result)
    return values.get((output.node.uid, output.index))


def partial_value(output: Output) -> tuple | None:
    """``output``'s value as a flat tuple of dimensions, some possibly dynamic (shape subgraphs).

    A static integer value of at most one dimension gives its ints; otherwise the producing op's
    :meth:`Op.partial_value` decides (ShapeOf of ``(?, 3)`` gives ``(Dim(), 3)``).
    """
    if (output.shape is not None and len(output.shape) > 1) or output.etype.is_float:
        return None  # shape values are integer vectors: do not walk activation paths
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


def input_count_problem(node: Node, op: Op) -> str | None:
    """Why ``node`` has an input count its op does not take (read off its evaluate), or None."""
    fewest, most = op.input_count_range()
    if fewest <= len(node.inputs) and (most is None or len(node.inputs) <= most):
        return None
    takes = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most is not None else f"{fewest} or more"
    return f"{describe_node(node)} has {len(node.inputs)} inputs; {node.type}-{node.version} takes {takes}"


def verify_node(node: Node) -> None:
    """Check a node read from a file: its op accepts its inputs and attributes, and computes
    outputs of the element types and shapes the file declares (dynamic matches anything).

    Raises ValidationError naming the node; ops lpir does not know are left to the runtime,
    which reports them all together.
    """
    op = lookup(node.type, node.opset)
    if op is None or type(op).infer is Op.infer:
        return
    problem = input_count_problem(node, op)
    if problem:
        raise ValidationError(problem)
    attrs = op.resolved_attrs(node.attrs, describe_node(node))
    try:
        results = op.infer(InferContext(node, attrs, static_value, partial_value))
    except ValidationError:
        raise
    except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"{describe_node(node)}: inputs or attributes it cannot take "
                              f"({type(exc).__name__}: {exc})") from exc
    if len(results) < len(node.outputs):
        raise ValidationError(f"{describe_node(node)} declares {len(node.outputs)} outputs; "
                              f"{node.type}-{node.version} has {len(results)}")
    for out, (etype, shape) in zip(node.outputs, results):
        if not _types_agree(out.etype, etype) or not _shapes_agree(out.shape, shape):
            raise ValidationError(
                f"{describe_node(node)}: output {out.index} is declared {out.etype.name}[{format_shape(out.shape)}] "
                f"but the op computes {etype.name}[{format_shape(shape)}] from its inputs")


def _types_agree(declared: types.ElementType, inferred: types.ElementType) -> bool:
    return types.dynamic in (declared, inferred) or declared == inferred


def _shapes_agree(declared, inferred) -> bool:
    if declared is None or inferred is None:
        return True
    if len(declared) != len(inferred):
        return False
    return all(not isinstance(a, int) or not isinstance(b, int) or a == b for a, b in zip(declared, inferred))


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
