"""The in-memory graph: nodes with typed inputs and outputs, and the model that owns them.

The structure follows OpenVINO's ``ov::Model``: a :class:`Node` has an op type and opset
version, attributes, :class:`Input` ports (each fed by exactly one :class:`Output`) and
:class:`Output` ports (each with an element type, a shape, tensor names and any number of
consumers). A :class:`Model` is defined by its Parameter, Result and sink nodes; every node
reachable backwards from the Results and sinks belongs to it, so a node that nothing uses any
more simply drops out.

Rewrites are done with three moves: :meth:`Input.connect` (rewire one edge),
:meth:`Output.replace_uses` (move every consumer to another output) and building new nodes with
:func:`make_node` (or ``lpir.ops.build``, which also infers output types and shapes).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from lpir.errors import ValidationError, describe_node
from lpir.ir import types
from lpir.ir.body import Body
from lpir.ir.shape import Shape, as_shape
from lpir.ir.tensor import MappedFile, Tensor
from lpir.ir.types import ElementType


# A Result layer's own tensor names (IR written by OpenVINO 2025+), kept in the Result node's
# attrs as a list: two Results of one tensor may carry different names.
RESULT_NAMES = "output_names"


@dataclass
class RtEntry:
    """One element of runtime info, kept verbatim: ``<tag attr=...>text children</tag>``."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[RtEntry] = field(default_factory=list)
    text: str = ""


class Output:
    """An output port: produces one tensor of ``etype`` and ``shape``."""

    __slots__ = ("node", "index", "etype", "shape", "names", "rt_info", "consumers")

    def __init__(self, node: Node, index: int, etype: ElementType = types.dynamic,
                 shape: Shape | None = None):
        self.node = node
        self.index = index
        self.etype = etype
        self.shape = shape
        self.names: list[str] = []
        self.rt_info: list[RtEntry] = []
        self.consumers: list[Input] = []

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def replace_uses(self, other: Output, *, keep_names: bool = True) -> None:
        """Make every consumer of this output read ``other`` instead.

        With ``keep_names`` the tensor names move too, so the model's interface stays the same.
        """
        for consumer in list(self.consumers):
            consumer.connect(other)
        if keep_names and self.names:
            other.names = sorted(set(other.names) | set(self.names))
            self.names = []

    def __repr__(self) -> str:
        return f"<Output {self.node.name}:{self.index} {self.etype.name}{list(self.shape or [])}>"


class Input:
    """An input port, fed by one output."""

    __slots__ = ("node", "index", "source", "rt_info")

    def __init__(self, node: Node, index: int, source: Output | None = None):
        self.node = node
        self.index = index
        self.source: Output | None = None
        self.rt_info: list[RtEntry] = []
        if source is not None:
            self.connect(source)

    def connect(self, source: Output) -> None:
        """Feed this input from ``source`` (disconnecting the previous producer)."""
        if self.source is not None:
            self.source.consumers.remove(self)
        self.source = source
        source.consumers.append(self)

    def __repr__(self) -> str:
        return f"<Input {self.node.name}:{self.index}>"


_node_ids = itertools.count()


class Node:
    """One operation. ``attrs`` hold typed values (ints, floats, bools, lists, strings, shapes)."""

    __slots__ = ("type", "version", "name", "attrs", "inputs", "outputs", "rt_info",
                 "tensor", "layer_id", "uid", "bodies")

    def __init__(self, op_type: str, version: str = "opset1", name: str | None = None,
                 attrs: dict[str, Any] | None = None):
        self.uid = next(_node_ids)
        self.type = op_type
        self.version = version
        self.name = name if name is not None else f"{op_type}_{self.uid}"
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.inputs: list[Input] = []
        self.outputs: list[Output] = []
        self.rt_info: list[RtEntry] = []
        self.tensor: Tensor | None = None  # the data of a Const
        self.layer_id: int | None = None  # the id this node had in the file it was read from
        self.bodies: list[Body] = []  # sub-graphs of TensorIterator, Loop (one) and If (then, else)

    @property
    def opset(self) -> int:
        """The opset number of ``version`` (``opset8`` → 8); 1 for custom opsets."""
        digits = self.version[5:] if self.version.startswith("opset") else ""
        return int(digits) if digits.isdigit() else 1

    def add_input(self, source: Output) -> Input:
        port = Input(self, len(self.inputs), source)
        self.inputs.append(port)
        return port

    def add_output(self, etype: ElementType = types.dynamic, shape: Shape | None = None) -> Output:
        port = Output(self, len(self.outputs), etype, shape)
        self.outputs.append(port)
        return port

    @property
    def output(self) -> Output:
        """The only output of a single-output node."""
        if len(self.outputs) != 1:
            raise ValidationError(f"{describe_node(self)} has {len(self.outputs)} outputs, not 1")
        return self.outputs[0]

    def __repr__(self) -> str:
        return f"<Node {self.type}-{self.version} {self.name!r}>"


def with_body_nodes(nodes: Iterable[Node]) -> Iterator[Node]:
    """``nodes`` and, after each node with sub-graph bodies, every node of its bodies (nested
    ones too): what owns constants, names and layers in a model, beyond its top-level graph."""
    for node in nodes:
        yield node
        for body in node.bodies:
            yield from with_body_nodes(body.model.nodes())


def make_node(op_type: str, inputs: Iterable[Output] = (), attrs: dict[str, Any] | None = None,
              *, name: str | None = None, version: str = "opset1",
              outputs: Iterable[tuple[ElementType, Shape | None]] = ()) -> Node:
    """Build a node wired to ``inputs`` with the given output types and shapes."""
    node = Node(op_type, version, name, attrs)
    for source in inputs:
        node.add_input(source)
    for etype, shape in outputs:
        node.add_output(etype, shape)
    return node


def make_constant(value, etype: ElementType | str | None = None, *, name: str | None = None) -> Node:
    """A Const node holding ``value`` (an array, a number or a :class:`Tensor`)."""
    tensor = value if isinstance(value, Tensor) else Tensor.from_array(np.asarray(value), etype)
    node = Node("Const", "opset1", name, {"element_type": tensor.etype, "shape": tensor.shape})
    node.tensor = tensor
    node.add_output(tensor.etype, tensor.shape)
    return node


def make_parameter(etype: ElementType | str, shape: Shape | Sequence[int] | str | None, *,
                   name: str | None = None) -> Node:
    """A Parameter node (``-1`` or ``?`` dimensions are dynamic); its tensor name defaults to its name."""
    etype = types.parse_type(etype)
    shape = as_shape(shape)
    node = Node("Parameter", "opset1", name, {"element_type": etype, "shape": shape})
    node.add_output(etype, shape).names = [node.name]
    return node


def make_result(source: Output, *, name: str | None = None) -> Node:
    node = make_node("Result", [source], name=name)
    return node


class Model:
    """A graph with ordered parameters and results, plus model-level runtime info."""

    def __init__(self, parameters: list[Node], results: list[Node], *, name: str = "model",
                 sinks: list[Node] | None = None, rt_info: list[RtEntry] | None = None):
        self.name = name
        self.parameters = list(parameters)
        self.results = list(results)
        self.sinks = list(sinks or [])
        self.rt_info: list[RtEntry] = list(rt_info or [])
        # Other top-level IR elements (the legacy <meta_data> and <quantization_parameters> of
        # Model Optimizer), kept verbatim so that a read + save loses nothing.
        self.sections: list[RtEntry] = []
        self.source_path: str | None = None  # the file the model was read from, for messages
        self.weights: MappedFile | None = None  # the mapped .bin its lazy constants read from

    # -- resources --------------------------------------------------------------------------
    def close(self) -> None:
        """Unmap the weights file the model was read from; its lazy constants cannot be read
        afterwards. Arrays already taken from them keep the map alive until they go."""
        if self.weights is not None:
            self.weights.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- walking ----------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        """All nodes in topological order: parameters first, results last (in model order)."""
        order: list[Node] = list(self.parameters)
        seen = {node.uid for node in order}
        result_ids = {node.uid for node in self.results}
        roots = [n for n in self.results] + self.sinks
        for root in roots:
            self._visit_from(root, order, seen, skip=result_ids)
        order.extend(n for n in self.results if n.uid not in seen)
        return order

    @staticmethod
    def _visit_from(root: Node, order: list[Node], seen: set[int], skip: set[int]) -> None:
        """Iterative post-order DFS over producers (no recursion limit on deep graphs)."""
        stack: list[tuple[Node, int]] = [(root, 0)]
        on_stack = {root.uid}
        while stack:
            node, next_input = stack.pop()
            if next_input < len(node.inputs):
                stack.append((node, next_input + 1))
                source = node.inputs[next_input].source
                if source is None:
                    raise ValidationError(f"{describe_node(node)}: input {next_input} is not connected")
                producer = source.node
                if producer.uid in on_stack:
                    raise ValidationError(f"the graph has a cycle through {describe_node(producer)}")
                if producer.uid not in seen:
                    on_stack.add(producer.uid)
                    stack.append((producer, 0))
                continue
            on_stack.discard(node.uid)
            if node.uid not in seen and node.uid not in skip:
                seen.add(node.uid)
                order.append(node)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    @property
    def inputs(self) -> list[Output]:
        return [p.outputs[0] for p in self.parameters]

    @property
    def outputs(self) -> list[Output]:
        """The outputs the model returns (the sources of its Results), in order."""
        return [r.inputs[0].source for r in self.results]

    def node(self, name: str) -> Node:
        """The node with ``name`` (raises ValidationError when absent)."""
        for node in self.nodes():
            if node.name == name:
                return node
        raise ValidationError(f"model '{self.name}' has no node named {name!r}")

    def rt_get(self, *path: str) -> str | None:
        """The ``value`` at a path of model rt_info, e.g. ``rt_get("nncf", "mode")``."""
        entries = self.rt_info
        for depth, key in enumerate(path):
            match = next((e for e in entries if e.tag == key or e.attrs.get("name") == key), None)
            if match is None:
                return None
            if depth == len(path) - 1:
                return match.attrs.get("value")
            entries = match.children
        return None

    def __repr__(self) -> str:
        return (f"<Model {self.name!r}: {len(self.parameters)} inputs, "
                f"{len(self.results)} outputs, {len(self.nodes())} nodes>")
