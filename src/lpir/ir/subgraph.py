"""Cutting a model: the part between chosen tensors as a standalone model.

Per-layer error reports and bias correction run one layer (or block) at a time on recorded
inputs: :func:`extract_subgraph` makes that part a :class:`Model` that compiles and runs like
any other. The original model is not modified; constant data is shared, not copied.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lpir.errors import ValidationError
from lpir.ir.graph import Model, Node, Output, make_parameter, make_result
from lpir.ir.passes import clone_body


def extract_subgraph(model: Model, inputs: Sequence[Output], outputs: Sequence[Output], *,
                     name: str | None = None) -> Model:
    """The nodes that compute ``outputs`` from ``inputs``, as a model.

    Each of ``inputs`` becomes a Parameter (named after its tensor, else ``node:port``) in the
    given order; a model Parameter reached without passing an input is added after them. The
    results are ``outputs``, in order.
    """
    cutter = _Cutter(inputs)
    results = [make_result(cutter.twin(out), name=f"{tensor_label(out)}/result") for out in outputs]
    sub = Model(cutter.parameters + cutter.reached_parameters, results, name=name or f"{model.name}/subgraph")
    sub.source_path = model.source_path
    return sub


class _Cutter:
    """Clones producers backwards from the outputs, stopping at the cut tensors."""

    def __init__(self, inputs: Sequence[Output]):
        self.cut = {id(out): i for i, out in enumerate(inputs)}
        self.parameters = [make_parameter(out.etype, out.shape, name=tensor_label(out)) for out in inputs]
        self.reached_parameters: list[Node] = []
        self.clones: dict[int, Node] = {}

    def twin(self, out: Output) -> Output:
        if id(out) in self.cut:
            return self.parameters[self.cut[id(out)]].outputs[0]
        self._clone_producers(out.node)
        return self.clones[out.node.uid].outputs[out.index]

    def _clone_producers(self, node: Node) -> None:
        stack = [node]  # iterative: graphs can be deeper than Python's recursion limit
        while stack:
            current = stack[-1]
            if current.uid in self.clones:
                stack.pop()
                continue
            pending = [p.source.node for p in current.inputs
                       if id(p.source) not in self.cut and p.source.node.uid not in self.clones]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self.clones[current.uid] = self._clone(current)

    def _clone(self, node: Node) -> Node:
        if node.type == "Result":
            raise ValidationError(f"the subgraph reaches the model's Result '{node.name}'")
        twin = Node(node.type, node.version, node.name, copy.deepcopy(node.attrs))
        twin.rt_info = copy.deepcopy(node.rt_info)
        twin.tensor = node.tensor
        twin.bodies = [clone_body(body) for body in node.bodies]
        for port in node.inputs:
            twin.add_input(self.twin(port.source))
        for out in node.outputs:
            twin.add_output(out.etype, out.shape).names = list(out.names)
        if node.type == "Parameter":
            self.reached_parameters.append(twin)
        return twin


def tensor_label(out: Output) -> str:
    """A tensor's first name, else ``node:port``: how reports and cut points name a tensor."""
    return out.names[0] if out.names else f"{out.node.name}:{out.index}"
