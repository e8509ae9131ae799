"""ONNX graph → lpir Model made of OpenVINO opset operations.

The walk is in the ONNX node order (ONNX requires it to be topological). Before any node is
converted, every op type is checked against the converter table and the lpir op registry, so
a model with unsupported ops fails once, with the complete list.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import onnx
from lpir.errors import LpirError, ModelParseError, UnsupportedOpError
from lpir.io.onnx.context import CONVERTERS, NodeContext, TensorSequence, element_type, tensor_to_array
from lpir.io.onnx.loader import load_onnx
from lpir.io.onnx.revisions import unreviewed_revision
from lpir.ir import DYNAMIC, make_constant, make_parameter
from lpir.ir.graph import Model, Node, Output, make_result
from lpir.ir.shape import Shape
from lpir.ops import registered_types

DEFAULT_DOMAINS = ("", "ai.onnx")
MIN_OPSET = 1


def import_onnx(path: str | os.PathLike) -> Model:
    """Read the ONNX model at ``path`` as an lpir Model (OpenVINO opset operations)."""
    path = Path(path)
    proto = load_onnx(path)
    try:
        model = convert_model(proto)
    except LpirError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    model.source_path = str(path)
    return model


def model_opset(proto: onnx.ModelProto) -> int:
    """The opset version of the default ONNX domain."""
    for entry in proto.opset_import:
        if entry.domain in DEFAULT_DOMAINS:
            return entry.version
    raise ModelParseError("the model imports no version of the default ONNX opset")


def convert_model(proto: onnx.ModelProto) -> Model:
    """Convert a loaded ONNX model (external data already in place)."""
    opset = model_opset(proto)
    if opset < MIN_OPSET:
        raise UnsupportedOpError(f"ONNX opset {opset} is not supported (lpir reads opsets from {MIN_OPSET})")
    graph = proto.graph
    check_supported(graph, opset)
    tensors: dict[str, Output] = {}
    for init in graph.initializer:
        tensors[init.name] = make_constant(tensor_to_array(init), name=init.name).outputs[0]
    parameters = [_parameter(value) for value in graph.input if value.name not in tensors]
    for param in parameters:
        tensors[param.name] = param.outputs[0]
    for index, node in enumerate(graph.node):
        _convert_node(node, index, opset, tensors)
    results = []
    for value in graph.output:
        if value.name not in tensors:
            raise ModelParseError(f"graph output {value.name!r} is produced by no node")
        source = tensors[value.name]
        if isinstance(source, TensorSequence):
            raise UnsupportedOpError(f"graph output {value.name!r} is a sequence (lpir reads sequences only "
                                     "as values passed between sequence ops)")
        if value.name not in source.names:
            source.names.append(value.name)
        results.append(make_result(source, name=value.name))
    return Model(parameters, results, name=graph.name or "onnx_model")


class BodyScope(dict):
    """The tensors a body graph sees: its own, then by name any of the enclosing graphs'. An
    outer tensor read in the body becomes a body Parameter the first time (``captured``), as
    OpenVINO makes outer values explicit inputs of If and Loop; an outer constant becomes a
    Const of the body holding the same tensor (its data is not copied, and the IR writer stores
    equal blobs once), so that shape inference and folding inside the body know its value."""

    def __init__(self, outer):
        super().__init__()
        self.outer = outer
        self.captured: list[tuple[Output, Node]] = []  # (outer tensor, body Parameter)

    def get(self, name, default=None):
        if name in self:
            return self[name]
        source = self.outer.get(name)
        if source is None:
            return default
        if isinstance(source, TensorSequence):
            raise UnsupportedOpError(f"body graph reads the sequence {name!r} of an enclosing graph "
                                     "(lpir reads sequences only within one graph)")
        if source.node.type == "Const" and source.node.tensor is not None:
            self[name] = make_constant(source.node.tensor, name=source.node.name).outputs[0]
            self[name].names = list(source.names)
            return self[name]
        parameter = make_parameter(source.etype, source.shape, name=name)
        self.captured.append((source, parameter))
        self[name] = parameter.outputs[0]
        return self[name]


def convert_body(graph: onnx.GraphProto, opset: int, outer, bound: list[Output]) -> tuple[list[Output], BodyScope]:
    """Convert a body graph whose inputs take the values ``bound`` (built by the caller in the
    body) and which sees the tensors of ``outer`` (a graph's tensors, or the scope of a body the
    caller builds around it); returns the values of its outputs and its scope, whose
    ``captured`` lists the outer tensors it reads with the Parameters standing for them."""
    scope = BodyScope(outer)
    if len(bound) != len(graph.input):
        raise ModelParseError(f"body graph {graph.name!r} has {len(graph.input)} inputs, {len(bound)} expected")
    for init in graph.initializer:
        scope[init.name] = make_constant(tensor_to_array(init), name=init.name).outputs[0]
    for value, source in zip(graph.input, bound):
        scope[value.name] = source
    for index, node in enumerate(graph.node):
        _convert_node(node, index, opset, scope)
    outputs = []
    for value in graph.output:
        source = scope.get(value.name)
        if source is None:
            raise ModelParseError(f"body graph {graph.name!r}: output {value.name!r} is produced by no node")
        if isinstance(source, TensorSequence):
            raise UnsupportedOpError(f"body graph {graph.name!r}: output {value.name!r} is a sequence "
                                     "(lpir reads sequences only within one graph)")
        outputs.append(source)
    return outputs, scope


def check_supported(graph: onnx.GraphProto, opset: int) -> None:
    """Raise one UnsupportedOpError listing every op lpir cannot convert, with counts and names:
    ops without a converter, ops revised after the opsets the converters know, ops needing lpir
    ops that are not registered."""
    known = registered_types()
    missing: dict[str, list[str]] = defaultdict(list)
    for index, node in _nodes_with_bodies(graph):
        label = node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        conv = CONVERTERS.get(node.op_type) if node.domain in DEFAULT_DOMAINS else None
        if conv is None:
            missing[label].append(_node_name(node, index))
            continue
        revised = unreviewed_revision(node, opset, conv.spec_opset)
        if revised:
            missing[f"{label} ({revised})"].append(_node_name(node, index))
            continue
        absent = [op for op in conv.needs(opset) if op not in known]
        if absent:
            missing[f"{label} (needs lpir ops {', '.join(absent)})"].append(_node_name(node, index))
    if missing:
        lines = [f"  {op}: {len(names)} node(s): {_short_list(names)}" for op, names in sorted(missing.items())]
        total = sum(len(names) for names in missing.values())
        raise UnsupportedOpError(f"{len(missing)} ONNX op type(s) in {total} node(s) are not supported:\n"
                                 + "\n".join(lines))


def _nodes_with_bodies(graph: onnx.GraphProto):
    """(index, node) of every node of ``graph`` and, recursively, of the graphs in its attributes."""
    for index, node in enumerate(graph.node):
        yield index, node
        for attribute in node.attribute:
            for body in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs):
                yield from _nodes_with_bodies(body)


def _short_list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _node_name(node: onnx.NodeProto, index: int) -> str:
    """The node's name, else its first output's name (as OpenVINO names unnamed nodes)."""
    if node.name:
        return node.name
    outputs = [o for o in node.output if o]
    return outputs[0] if outputs else f"{node.op_type}_{index}"


def _dims(value: onnx.ValueInfoProto) -> Shape | None:
    """A value's declared shape, as OpenVINO's frontend reads it: dim_value 0 is a static 0; a
    negative one (PaddlePaddle exports write -1) or a dim_param is dynamic."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else DYNAMIC
                 for d in tensor_type.shape.dim)


def _parameter(value: onnx.ValueInfoProto):
    if not value.type.HasField("tensor_type"):
        raise UnsupportedOpError(f"graph input {value.name!r} is not a tensor (sequences and maps are not supported)")
    etype = element_type(value.type.tensor_type.elem_type, f"graph input {value.name!r}")
    return make_parameter(etype, _dims(value), name=value.name)


def _convert_node(node: onnx.NodeProto, index: int, opset: int, tensors: dict[str, Output]) -> None:
    name = _node_name(node, index)
    inputs = []
    for tensor_name in node.input:
        if not tensor_name:
            inputs.append(None)
        elif tensors.get(tensor_name) is not None:
            inputs.append(tensors.get(tensor_name))
        else:
            raise ModelParseError(f"ONNX node '{name}' ({node.op_type}) reads tensor {tensor_name!r} "
                                  "that no earlier node or initializer produces")
    while inputs and inputs[-1] is None:
        inputs.pop()
    conv = CONVERTERS[node.op_type]
    if not conv.reads_sequences:
        for tensor_name, value in zip(node.input, inputs):
            if isinstance(value, TensorSequence):
                raise UnsupportedOpError(f"ONNX node '{name}' ({node.op_type}) reads the sequence {tensor_name!r}; "
                                         "lpir reads sequences only in the sequence ops")
    ctx = NodeContext(node, inputs, opset, name)
    ctx.body_scope = lambda: BodyScope(tensors)
    ctx.convert_body = lambda graph, bound, within=None: convert_body(
        graph, opset, tensors if within is None else within, bound)
    try:
        produced = conv.function(ctx)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        # a converter met attributes or inputs outside what ONNX allows: name the node
        raise ctx.fail(f"invalid attributes or inputs ({type(exc).__name__}: {exc})") from exc
    produced = [produced] if isinstance(produced, (Output, TensorSequence)) else list(produced)
    wanted = [o for o in node.output]
    for position, tensor_name in enumerate(wanted):
        if not tensor_name:
            continue
        if position >= len(produced) or produced[position] is None:
            raise ctx.fail(f"output {position} ({tensor_name!r}) is not supported")
        output = produced[position]
        if isinstance(output, TensorSequence):
            tensors[tensor_name] = output
            continue
        if tensor_name not in output.names:
            output.names.append(tensor_name)
        tensors[tensor_name] = output

