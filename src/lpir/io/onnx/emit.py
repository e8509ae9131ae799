"""What an emitter sees while one lpir node is written as ONNX, and the table of emitters.

An emitter is a function ``emit(ctx, node)`` registered with :func:`emitter` for OpenVINO op
types. It asks :class:`EmitContext` for the ONNX names of its inputs (constants become
initializers on first use, weights in compressed form become integer initializers with a
``DequantizeLinear``), adds ONNX nodes with :meth:`EmitContext.add` and binds its outputs. It may
*absorb* a consumer (a Conv absorbs the Add of its bias) so that the pair becomes one ONNX node.

Forms that changed between ONNX opsets are written in their opset-13 form and raised to the
model's final opset at the end (:func:`upgrade_forms`); emitters that need a newer opset say so
with :meth:`EmitContext.require`.

A sub-graph body is written by :func:`emit_nodes` into a :meth:`EmitContext.body_context`: its
own nodes, initializers (the body's constants, so that the body reads as it was) and tensor
bindings; unique names and the opset are shared with the enclosing graph, whose tensors the
body reads by name. Weights (initializers of at least :data:`SHARED_BYTES`) are the exception:
each is written once, in the main graph, where every body can read it, so that a weight a body
shares with the graph around it, or with another body, is not stored twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

import onnx
from lpir.errors import ValidationError, describe_node
from lpir.ir import types
from lpir.ir.graph import Model, Node, Output
from lpir.ir.packing import pack
from lpir.ir.rewrite import NameScope
from lpir.ir.shape import Shape
from lpir.ir.types import ElementType
from lpir.ops.infer import op_of
from onnx import helper

BASE_OPSET = 13
GRAPH_NODES = ("Parameter", "Result")

EMITTERS: dict[str, Callable[[EmitContext, Node], None]] = {}


def emitter(*op_types: str):
    """Register the decorated function as the emitter of the OpenVINO ``op_types``."""
    def decorate(function):
        for op_type in op_types:
            if op_type in EMITTERS:
                raise RuntimeError(f"{op_type} has two ONNX emitters")
            EMITTERS[op_type] = function
        return function
    return decorate


_ONNX_TYPES: dict[ElementType, int] = {
    types.f32: onnx.TensorProto.FLOAT, types.f16: onnx.TensorProto.FLOAT16,
    types.f64: onnx.TensorProto.DOUBLE, types.bf16: onnx.TensorProto.BFLOAT16,
    types.i8: onnx.TensorProto.INT8, types.u8: onnx.TensorProto.UINT8,
    types.i16: onnx.TensorProto.INT16, types.u16: onnx.TensorProto.UINT16,
    types.i32: onnx.TensorProto.INT32, types.u32: onnx.TensorProto.UINT32,
    types.i64: onnx.TensorProto.INT64, types.u64: onnx.TensorProto.UINT64,
    types.boolean: onnx.TensorProto.BOOL, types.i4: onnx.TensorProto.INT4, types.u4: onnx.TensorProto.UINT4,
    types.f8e4m3: onnx.TensorProto.FLOAT8E4M3FN, types.f8e5m2: onnx.TensorProto.FLOAT8E5M2,
}


def onnx_type(etype: ElementType, where: str) -> int:
    """The ONNX data type of an element type (raises ValidationError naming ``where``)."""
    try:
        return _ONNX_TYPES[etype]
    except KeyError:
        raise ValidationError(f"{where}: element type {etype.name} has no ONNX equivalent") from None


def value_info(name: str, etype: ElementType, shape: Shape | None, where: str) -> onnx.ValueInfoProto:
    """The ONNX type of tensor ``name`` (unknown dimensions left open)."""
    dims = None if shape is None else [d if isinstance(d, int) else None for d in shape]
    return helper.make_tensor_value_info(name, onnx_type(etype, where), dims)


def make_tensor(name: str, array: np.ndarray, etype: ElementType | None = None) -> onnx.TensorProto:
    """An ONNX tensor holding ``array`` as raw little-endian bytes (4-bit types packed)."""
    array = np.asarray(array)
    etype = etype or types.from_dtype(array.dtype)
    tensor = onnx.TensorProto()
    tensor.name = name
    tensor.data_type = onnx_type(etype, f"tensor {name!r}")
    tensor.dims.extend(array.shape)
    if etype.is_packed:
        tensor.raw_data = bytes(pack(array.reshape(-1), etype))
    else:
        tensor.raw_data = np.ascontiguousarray(array, dtype=etype.dtype.newbyteorder("<")).tobytes()
    return tensor


SHARED_BYTES = 1024  # initializers this large are written once per model, in the main graph


class EmitContext:
    """The ONNX graph being built from one lpir Model."""

    def __init__(self, model: Model, *, float_fallback: bool = False):
        self.model = model
        self.float_fallback = float_fallback
        self.opset = BASE_OPSET
        self.opset_reasons: dict[int, str] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: dict[tuple[int, int], str] = {}      # lpir output → ONNX tensor name
        self.absorbed: set[int] = set()                  # node uids written by another emitter
        self.activation_scales: dict[str, np.ndarray] = {}  # DequantizeLinear outputs → their scale
        self.weight_scales: dict[str, tuple[np.ndarray, int | None]] = {}  # weight → (scale, axis)
        self._tensor_names = NameScope()
        self._node_names = NameScope()
        self._preferred: dict[tuple[int, int], str] = {}
        self._constant: dict[int, bool] = {}
        self._values: dict[tuple[int, int], np.ndarray] = {}
        self._shared: dict[tuple, str] = {}  # (type, shape, digest) of a weight → its initializer (main graph)
        self._root = self

    def body_context(self, model: Model) -> EmitContext:
        """A context writing the body ``model`` as an ONNX sub-graph of this graph: its own
        nodes, initializers and bindings; names, scales and the opset shared with the root."""
        body = EmitContext(model, float_fallback=self.float_fallback)
        for shared in ("activation_scales", "weight_scales", "_tensor_names", "_node_names",
                       "_constant", "_values", "_shared", "_root"):
            setattr(body, shared, getattr(self, shared))
        return body

    # -- names ---------------------------------------------------------------------------------
    def unique(self, base: str) -> str:
        """A tensor name: ``base`` or ``base_1``, ``base_2`` ... whichever is not taken yet."""
        return self._tensor_names.make(base or "tensor")

    def prefer(self, output: Output, name: str) -> None:
        """Give ``output`` this ONNX name when it is written (graph inputs and outputs)."""
        self._preferred[_key(output)] = name

    def output_name(self, output: Output) -> str:
        """The ONNX name an emitter gives to the tensor of ``output`` (bound on first call)."""
        key = _key(output)
        if key not in self.names:
            base = self._preferred.get(key) or (output.names[0] if output.names else
                                                output.node.name if len(output.node.outputs) == 1
                                                else f"{output.node.name}:{output.index}")
            self.names[key] = self.unique(base)
        return self.names[key]

    def bind(self, output: Output, name: str) -> None:
        """Make ``name`` (an ONNX tensor already written) the value of ``output``."""
        self.names[_key(output)] = name

    def bind_outer(self, parameter: Output, outer: Output, scope: EmitContext) -> None:
        """Make the body Parameter ``parameter`` the tensor ``outer`` of the enclosing graph
        ``scope``: read by name, or, when ``outer`` is a constant, that constant (emitters that
        need static axes or shapes see its value; it is written where the body reads it). The
        ONNX importer puts outer constants in the body, but an IR may feed them through body
        Parameters, as OpenVINO's API allows."""
        if scope.is_constant(outer):
            self._constant[parameter.node.uid] = True
            self._values[_key(parameter)] = scope.value(outer)
        else:
            self.bind(parameter, scope.name(outer))

    def name(self, output: Output) -> str:
        """The ONNX name of an lpir output; constants are written (as weights) on first use."""
        key = _key(output)
        if key in self.names:
            return self.names[key]
        if self.is_constant(output):
            from lpir.io.onnx.emitters.weights import emit_constant
            name = emit_constant(self, output)
            self.names[key] = name
            return name
        raise ValidationError(f"{describe_node(output.node)}: output {output.index} is read before it is written")

    # -- constants -----------------------------------------------------------------------------
    def is_constant(self, output: Output) -> bool:
        """True when ``output`` depends on no model input (its value is known when exporting)."""
        node = output.node
        if node.uid not in self._constant:
            self._constant[node.uid] = _is_constant_node(node, self._constant)
        return self._constant[node.uid]

    def value(self, output: Output) -> np.ndarray | None:
        """The value of a constant output (None for run-time values), computed once."""
        if not self.is_constant(output):
            return None
        key = _key(output)
        if key not in self._values:
            self._evaluate(output.node)
        return self._values[key]

    def static(self, output: Output, what: str) -> np.ndarray:
        """The value of ``output``, which must be constant for ONNX (axes, shapes, ranges)."""
        value = self.value(output)
        if value is None:
            raise self.fail(output.node if not output.consumers else output.consumers[0].node,
                            f"{what} must be a constant to be written as ONNX")
        return value

    def _evaluate(self, node: Node) -> None:
        stack = [node]
        while stack:
            current = stack[-1]
            is_leaf = current.type in ("Const", "ShapeOf")
            pending = [] if is_leaf else [p.source.node for p in current.inputs if _key(p.source) not in self._values]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if current.type == "Const":
                values = (current.tensor.numpy(),)
            elif current.type == "ShapeOf":
                values = (np.asarray(current.inputs[0].source.shape, dtype=current.outputs[0].etype.dtype),)
            else:
                op = op_of(current)
                attrs = op.resolved_attrs(current.attrs, describe_node(current))
                values = op.evaluate(*[self._values[_key(p.source)] for p in current.inputs], **attrs)
            for index, value in enumerate(values):
                self._values[(current.uid, index)] = np.asarray(value)

    # -- building ------------------------------------------------------------------------------
    def add(self, op_type: str, inputs: list[str], outputs: list[str] | str | None = None, *,
            name: str, domain: str = "", **attrs: Any) -> list[str]:
        """Append an ONNX node; ``outputs`` are names, or None for one fresh name from ``name``."""
        if outputs is None:
            outputs = [self.unique(name)]
        elif isinstance(outputs, str):
            outputs = [outputs]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self._node_names.make(name),
                                           domain=domain or None, **attrs))
        return outputs

    def initializer(self, array: np.ndarray, name: str, etype: ElementType | None = None) -> str:
        """Write ``array`` as an initializer; returns its (unique) name. A weight (at least
        SHARED_BYTES) goes to the main graph, once: the same values asked again get the same name."""
        key = _weight_key(array, etype)
        if key in self._shared:
            return self._shared[key]
        name = self.unique(name)
        (self if key is None else self._root).initializers.append(make_tensor(name, array, etype))
        if key is not None:
            self._shared[key] = name
        return name

    def absorb(self, node: Node) -> None:
        """Mark ``node`` as written by the current emitter."""
        self.absorbed.add(node.uid)

    def require(self, opset: int, reason: str) -> None:
        """Raise the model's opset to ``opset`` (``reason`` names the node, for errors)."""
        root = self._root
        if opset > root.opset:
            root.opset = opset
        root.opset_reasons.setdefault(opset, reason)

    def fail(self, node: Node, message: str) -> ValidationError:
        return ValidationError(f"{describe_node(node)}: {message}")


def _weight_key(array: np.ndarray, etype: ElementType | None) -> tuple | None:
    """What identifies a weight's initializer (its type, shape and a digest of its values), or
    None for small arrays and strings, which each graph writes where it reads them."""
    if array.nbytes < SHARED_BYTES or array.dtype.kind == "O":
        return None
    data = np.ascontiguousarray(array)
    return data.dtype.str, data.shape, etype, hashlib.blake2b(data.reshape(-1).view(np.uint8), digest_size=16).digest()


def _key(output: Output) -> tuple[int, int]:
    return (output.node.uid, output.index)


def _is_constant_node(node: Node, cache: dict[int, bool]) -> bool:
    """Iteratively (deep graphs): a node is constant when all its producers are."""
    stack = [node]
    while stack:
        current = stack[-1]
        if current.type == "Const":
            cache[current.uid] = True
        elif current.type in GRAPH_NODES or not current.inputs or current.bodies:
            cache[current.uid] = False  # bodies are written as they are, never run while exporting
        elif current.type == "ShapeOf":
            shape = current.inputs[0].source.shape
            cache[current.uid] = shape is not None and all(isinstance(d, int) for d in shape)
        else:
            pending = [p.source.node for p in current.inputs if p.source.node.uid not in cache]
            if pending:
                stack.extend(pending)
                continue
            cache[current.uid] = all(cache[p.source.node.uid] for p in current.inputs)
        stack.pop()
    return cache[node.uid]


# Reductions took their axes as an attribute until opset 18 and as an input from it on.
_AXES_TO_INPUT = {"ReduceMean": 18, "ReduceMax": 18, "ReduceMin": 18, "ReduceProd": 18, "ReduceL1": 18,
                  "ReduceL2": 18, "ReduceLogSum": 18, "ReduceLogSumExp": 18, "ReduceSumSquare": 18}


def emit_nodes(ctx: EmitContext, nodes: list[Node]) -> None:
    """Write ``nodes`` (in topological order) with their emitters; Parameters and Results are
    the graph's interface, nodes computed from constants only are written where they are read."""
    for node in nodes:
        if node.type in GRAPH_NODES or node.uid in ctx.absorbed or is_folded(ctx, node):
            continue
        EMITTERS[node.type](ctx, node)


def is_folded(ctx: EmitContext, node: Node) -> bool:
    """Nodes computed from constants only are written as initializers where they are read."""
    return bool(node.outputs) and ctx.is_constant(node.outputs[0])


def upgrade_forms(ctx: EmitContext) -> None:
    """Rewrite nodes written in their opset-13 form into the form of the final opset, in the
    sub-graph bodies too (their new constants go into the body that reads them)."""
    _upgrade(ctx, ctx.nodes, ctx.initializers)


def _upgrade(ctx: EmitContext, nodes, initializers) -> None:
    for node in nodes:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                _upgrade(ctx, attribute.g.node, attribute.g.initializer)
        since = _AXES_TO_INPUT.get(node.op_type)
        if since is None or ctx.opset < since:
            continue
        axes = next((a for a in node.attribute if a.name == "axes"), None)
        if axes is None:
            continue
        values = np.asarray(list(axes.ints), dtype=np.int64)
        node.attribute.remove(axes)
        name = ctx.unique(f"{node.name}/axes")
        initializers.append(make_tensor(name, values))
        node.input.append(name)


def with_subgraph_nodes(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.NodeProto]:
    """ONNX ``nodes`` and, after each, the nodes of its sub-graphs (If branches, Loop bodies)."""
    for node in nodes:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from with_subgraph_nodes(attribute.g.node)
