"""Sub-graph bodies compiled for the ops that run them (TensorIterator, Loop, If).

Each body is compiled once, with the node's program, and then called once per iteration: its
unknown ops and bad shapes are reported when the outer model is compiled, not mid-run.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import LpirError, describe_node
from lpir.ir.body import Body
from lpir.ir.graph import Node


class CompiledBody:
    """A body ready to run: called with its Parameters' values, returns its Results' values."""

    def __init__(self, body: Body, owner: Node):
        from lpir.runtime.interpreter import CompiledModel  # the interpreter compiles programs with bodies

        self.spec = body
        self.owner = owner
        try:
            self._compiled = CompiledModel(body.model)
        except LpirError as exc:
            raise type(exc)(f"{describe_node(owner)} body: {exc}") from exc

    def __call__(self, values: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return list(self._compiled(values))
        except LpirError as exc:  # the step running the owner names it
            raise type(exc)(f"body: {exc}") from exc


def compile_bodies(node: Node) -> tuple[CompiledBody, ...]:
    """The bodies of ``node``, compiled."""
    return tuple(CompiledBody(body, node) for body in node.bodies)
