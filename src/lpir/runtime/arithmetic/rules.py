"""What every runtime's rules share: the :class:`Departure` record and the graph helpers they match with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.rewrite import NameScope
from lpir.ops import build

if TYPE_CHECKING:
    from lpir.runtime.lowering import LayerPlan


@dataclass(frozen=True)
class Departure:
    """One way a runtime computes differently from the reference: which nodes it concerns
    (``find``, given the model and the layers integer mode lowers, by name), what the runtime's
    graph transformations make of them before the layers are lowered (``prepare``, given those
    layers' plans too, if anything) and what it computes there instead (``rewrite``, after, if
    anything)."""

    name: str
    description: str
    find: Callable[[Model, Mapping[str, LayerPlan]], list[Node]]
    rewrite: Callable[[Node, NameScope], None] | None
    prepare: Callable[[Node, NameScope, Mapping[str, LayerPlan]], None] | None = None


def single_consumer(out: Output) -> Node | None:
    return out.consumers[0].node if len(out.consumers) == 1 else None


def hard_sigmoid_steps(node: Node, scope: NameScope, stem: str) -> None:
    """Replace HSwish / HSigmoid ``node`` by ``clip(x · (1/6) + 1/2, 0, 1)`` (times ``x`` for
    HSwish), each step in f32 without fused multiply-adds: oneDNN's eltwise injector and ONNX
    Runtime's HardSwish / HardSigmoid both compute so."""
    x = node.inputs[0].source
    dtype = x.etype.dtype

    def const(value, what):
        return make_constant(np.asarray(value, dtype), name=scope.make(f"{node.name}/{stem}/{what}")).outputs[0]

    t = build("Multiply", [x, const(1 / 6, "alpha")], name=scope.make(f"{node.name}/{stem}/scale")).outputs[0]
    t = build("Add", [t, const(0.5, "beta")], name=scope.make(f"{node.name}/{stem}/shift")).outputs[0]
    y = build("Clamp", [t], {"min": 0.0, "max": 1.0}, name=scope.make(f"{node.name}/{stem}/clip")).outputs[0]
    if node.type == "HSwish":
        y = build("Multiply", [x, y], name=node.name).outputs[0]  # stands for the node it replaces
    node.outputs[0].replace_uses(y, keep_names=True)
