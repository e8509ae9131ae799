"""Whole-graph utilities that keep a model's meaning: copying a model to rewrite it freely."""

from __future__ import annotations

import copy

from lpir.ir.body import Body
from lpir.ir.graph import Model, Node


def clone_model(model: Model) -> Model:
    """A copy of ``model`` whose nodes can be rewired freely; constant data is shared, not copied."""
    mapping: dict[int, Node] = {}
    for node in model.nodes() + list(model.sinks):
        if node.uid not in mapping:
            mapping[node.uid] = _clone_node(node, mapping)
    clone = Model([mapping[n.uid] for n in model.parameters], [mapping[n.uid] for n in model.results],
                  name=model.name, sinks=[mapping[n.uid] for n in model.sinks],
                  rt_info=copy.deepcopy(model.rt_info))
    clone.sections = copy.deepcopy(model.sections)
    clone.source_path = model.source_path
    return clone


def clone_body(body: Body) -> Body:
    """A copy of a sub-graph body: its model cloned, its port maps copied (same positions)."""
    return Body(clone_model(body.model), copy.deepcopy(body.inputs), copy.deepcopy(body.outputs),
                body.current_iteration, body.execution_condition)


def _clone_node(node: Node, mapping: dict[int, Node]) -> Node:
    twin = Node(node.type, node.version, node.name, copy.deepcopy(node.attrs))
    twin.rt_info = copy.deepcopy(node.rt_info)
    twin.tensor = node.tensor
    twin.layer_id = node.layer_id
    twin.bodies = [clone_body(body) for body in node.bodies]
    for port in node.inputs:
        source = port.source
        twin.add_input(mapping[source.node.uid].outputs[source.index]).rt_info = copy.deepcopy(port.rt_info)
    for out in node.outputs:
        twin_out = twin.add_output(out.etype, out.shape)
        twin_out.names = list(out.names)
        twin_out.rt_info = copy.deepcopy(out.rt_info)
    return twin
