"""The order NNCF walks a model's layers in, which decides "the last layer" and sensitivity ties."""

from __future__ import annotations

import heapq
from collections import deque

from lpir.ir.graph import Model, Node


def layer_order(model: Model) -> list[Node]:
    """The nodes in NNCF's order, so that "the last layer" and ties in sensitivity agree with it.

    NNCF numbers nodes breadth-first from the model inputs (each node's consumers by name), then
    the remaining nodes (constants) in the order OpenVINO's ``Model.get_ops`` lists them, and
    walks the graph in topological order taking the lowest number first: a layer comes when its
    weight's number comes up.
    """
    nodes = model.nodes()
    consumers = {n.uid: [p.node for out in n.outputs for p in out.consumers] for n in nodes}
    number: dict[int, int] = {}
    queue = deque(n for n in nodes if n.type in ("Parameter", "ReadValue"))
    while queue:
        node = queue.popleft()
        if node.uid not in number:
            number[node.uid] = len(number)
            queue.extend(sorted(consumers.get(node.uid, ()), key=lambda n: n.name))
    for node in _openvino_ops_order(model):
        number.setdefault(node.uid, len(number))
    for node in nodes:
        number.setdefault(node.uid, len(number))
    waiting = {n.uid: len({p.source.node.uid for p in n.inputs}) for n in nodes}
    heap = [(number[n.uid], n.uid, n) for n in nodes if waiting[n.uid] == 0]
    heapq.heapify(heap)
    order: list[Node] = []
    while heap:
        _, _, node = heapq.heappop(heap)
        order.append(node)
        for consumer in {c.uid: c for c in consumers.get(node.uid, ())}.values():
            if consumer.uid in waiting:
                waiting[consumer.uid] -= 1
                if waiting[consumer.uid] == 0:
                    heapq.heappush(heap, (number[consumer.uid], consumer.uid, consumer))
    return order


def _openvino_ops_order(model: Model) -> list[Node]:
    """OpenVINO's ``Model.get_ops`` order: depth first from a stack holding the results, sinks
    and parameters (the last on top), each node's inputs pushed in order (a node is pushed once)."""
    stack: list[Node] = []
    seen: set[int] = set()
    for root in [*model.results, *model.sinks, *model.parameters]:
        if root.uid not in seen:
            seen.add(root.uid)
            stack.append(root)
    order = []
    while stack:
        node = stack.pop()
        order.append(node)
        for port in node.inputs:
            source = port.source.node
            if source.uid not in seen:
                seen.add(source.uid)
                stack.append(source)
    return order
