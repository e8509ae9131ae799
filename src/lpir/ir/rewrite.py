"""Graph rewrites that algorithms share: insert, replace, bypass, and names for new nodes.

Every move keeps the graph acyclic and the model's interface (its tensor names) intact. The
trap these helpers exist for: a node built on ``out`` is itself a consumer of ``out``, so
``out.replace_uses(new.output)`` would rewire the new node onto its own output and make a
cycle; :func:`insert_after` moves every consumer *but* the new node.

New nodes are named after the layer they serve, NNCF-style (``conv1/fq_input_0``,
``conv1/fq_weights_1``), so reports can pair the layers of a float model and its quantized twin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from lpir.errors import ValidationError, describe_node
from lpir.ir.graph import Input, Model, Node, Output
from lpir.ir.tensor import Tensor


def insert_after(output: Output, node: Node, *, consumers: Iterable[Input] | None = None) -> Output:
    """Make the consumers of ``output`` (all, or only ``consumers``) read ``node``'s output 0.

    ``node`` must already read ``output`` (e.g. a FakeQuantize built on it); its own inputs are
    never rewired. A Result among the moved consumers takes the tensor names along, so the
    model's outputs keep their names. Returns the new output.
    """
    new = node.outputs[0]
    own = set(map(id, node.inputs))
    if not any(port.source is output for port in node.inputs):
        raise ValidationError(f"{describe_node(node)} does not read {output!r}: build it on that output first")
    moving = [c for c in (output.consumers if consumers is None else consumers) if id(c) not in own]
    for port in moving:
        if port.source is not output:
            raise ValidationError(f"{port!r} is not a consumer of {output!r}")
        port.connect(new)
    if any(port.node.type == "Result" for port in moving) and output.names:
        new.names, output.names = list(output.names), []
    return new


def insert_on_input(port: Input, node: Node) -> Output:
    """Put ``node`` (already built on ``port``'s current source) between that source and ``port``."""
    return insert_after(port.source, node, consumers=[port])


def bypass(node: Node, input_index: int = 0) -> None:
    """Remove ``node`` from the data flow: its consumers read its input ``input_index`` instead.

    The node is left without consumers and drops out of the model (models own only the nodes
    reachable from their Results).
    """
    if len(node.outputs) != 1:
        raise ValidationError(f"{describe_node(node)}: only single-output nodes can be bypassed")
    source = node.inputs[input_index].source
    node.outputs[0].replace_uses(source, keep_names=True)


def replace_constant(node: Node, value: np.ndarray | Tensor) -> None:
    """Give the Const ``node`` new data (and with it, possibly a new type and shape)."""
    if node.type != "Const":
        raise ValidationError(f"{describe_node(node)} is not a Const")
    tensor = value if isinstance(value, Tensor) else Tensor.from_array(np.asarray(value))
    node.tensor = tensor
    node.attrs["element_type"] = tensor.etype
    node.attrs["shape"] = tensor.shape
    node.outputs[0].etype = tensor.etype
    node.outputs[0].shape = tensor.shape


class NameScope:
    """Unique node names within one model: ``make("conv1/fq_input_0")`` returns it, or
    ``conv1/fq_input_0_1`` if the model (or an earlier ``make``) already uses it."""

    def __init__(self, model: Model | None = None):
        self._taken = {node.name for node in model.nodes()} if model is not None else set()

    def make(self, base: str) -> str:
        name, suffix = base, 0
        while name in self._taken:
            suffix += 1
            name = f"{base}_{suffix}"
        self._taken.add(name)
        return name


def layer_name(node: Node) -> str:
    """The stem new nodes of a layer are named after (its name, without characters XML dislikes)."""
    return re.sub(r"[\s<>&\"']", "_", node.name)
