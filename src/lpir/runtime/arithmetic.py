"""Where OpenVINO's CPU plugin departs from the reference arithmetic of a FakeQuantize model, as rules.

Integer mode computes a FakeQuantize model as its ops say (``arithmetic="reference"``). OpenVINO's
CPU plugin fuses the low-precision graph into oneDNN primitives, and one of its fusions changes
what the model computes rather than only its f32 roundings:

* ``unrounded residual``: a Convolution (with its bias) whose first fused operation is a
  FakeQuantize, followed by a residual Add fused into the convolution as a ``sum`` post-op and
  by the FakeQuantize of that Add. The plugin drops the rounding of the first FakeQuantize
  (``Convolution::setPostOps``: ``do_rounding = false`` when the FakeQuantize is the first fused
  node and a sum and a FakeQuantize follow it): it only clamps its input to ``[il, ih]`` and maps
  it linearly onto ``[ol, oh]``, so the Add sees the convolution's unrounded values. Which input
  of the Add takes the fused convolution follows the plugin's graph optimizer
  (``FuseConvolutionSumAndConvolutionSumActivation``): input 0 when its convolution has no other
  consumer, else input 1.

Measured on PP-OCR's classifier (quantized by lpir.quantize, OpenVINO 2026.4, teacher forcing on
OpenVINO's own tensors): every residual Add's codes then equal OpenVINO's but for 0-2 of 18432,
where the reference rounding gives 11-22 % of the codes one step off; the other layers differ
from OpenVINO in 0-7 codes of ~10^5, values within about an f32 ULP of a rounding boundary.

``arithmetic="openvino-cpu"`` applies these rules on top of integer (or exact) mode; the plan lists
each rewritten FakeQuantize with its rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.rewrite import NameScope
from lpir.ops import build

ARITHMETICS = ("reference", "openvino-cpu")
_FUSED_INTO_SUM = ("Convolution", "GroupConvolution")  # the CPU plugin's Convolution node, which takes a sum post-op


@dataclass(frozen=True)
class Departure:
    """One way OpenVINO's CPU computes differently from the reference: which FakeQuantize nodes
    it concerns (``find``, given the model and the names of the layers integer mode lowers)
    and what it computes there instead (``rewrite``)."""

    name: str
    description: str
    find: Callable[[Model, set[str]], list[Node]]
    rewrite: Callable[[Node, NameScope], None]


def _single_consumer(out: Output) -> Node | None:
    return out.consumers[0].node if len(out.consumers) == 1 else None


def _is_constant(out: Output) -> bool:
    from lpir.runtime.lowering import _constant_output
    return _constant_output(out) is not None


def _convolution_before(fq: Node, lowered: set[str]) -> Node | None:
    """The lowered convolution whose output (through a constant bias Add at most) ``fq`` reads
    and nothing else reads, else None: then the FakeQuantize is the convolution's first fused node."""
    node = fq.inputs[0].source.node
    if node.type == "Add" and sum(not _is_constant(p.source) for p in node.inputs) == 1:
        if _single_consumer(node.outputs[0]) is not fq:
            return None
        node = next(p.source.node for p in node.inputs if not _is_constant(p.source))
    if node.type not in _FUSED_INTO_SUM or node.name not in lowered or _single_consumer(node.outputs[0]) is None:
        return None
    return node


def _fused_sum_branch(add: Node, lowered: set[str]) -> Node | None:
    """The FakeQuantize (input of ``add``) whose convolution the plugin fuses ``add`` into, if any."""
    if len(add.inputs) != 2 or any(_is_constant(p.source) for p in add.inputs):
        return None
    shapes = [p.source.shape for p in add.inputs]
    if shapes[0] is None or shapes[0] != shapes[1]:
        return None
    nxt = _single_consumer(add.outputs[0])
    if nxt is None or nxt.type != "FakeQuantize":
        return None
    for port in (0, 1):
        fq = add.inputs[port].source.node
        if fq.type != "FakeQuantize" or _single_consumer(fq.outputs[0]) is not add:
            continue
        conv = _convolution_before(fq, lowered)
        peer = add.inputs[1 - port].source.node
        if conv is not None and all(p.source.node is not peer for p in conv.inputs):
            return fq
    return None


def _find_unrounded_residual(model: Model, lowered: set[str]) -> list[Node]:
    found = (_fused_sum_branch(node, lowered) for node in model.nodes() if node.type == "Add")
    return [fq for fq in found if fq is not None]


def _clamp_and_map(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` by its clamp to ``[il, ih]`` mapped linearly onto ``[ol, oh]``, unrounded."""
    from lpir.runtime.lowering import constant_value
    x = fq.inputs[0].source
    il, ih, ol, oh = (np.asarray(constant_value(p.source), x.etype.dtype) for p in fq.inputs[1:])

    def const(value, what):
        return make_constant(np.ascontiguousarray(value), name=scope.make(f"{fq.name}/unrounded/{what}")).outputs[0]

    y = build("Minimum", [x, const(ih, "high")], name=scope.make(f"{fq.name}/unrounded/clamp_high")).outputs[0]
    y = build("Maximum", [y, const(il, "low")], name=scope.make(f"{fq.name}/unrounded/clamp_low")).outputs[0]
    if not (np.array_equal(il, ol) and np.array_equal(ih, oh)):
        scale = ((oh.astype(np.float64) - ol) / (ih.astype(np.float64) - il)).astype(x.etype.dtype)
        y = build("Subtract", [y, const(il, "input_low")], name=scope.make(f"{fq.name}/unrounded/shift")).outputs[0]
        y = build("Multiply", [y, const(scale, "scale")], name=scope.make(f"{fq.name}/unrounded/scale")).outputs[0]
        y = build("Add", [y, const(ol, "output_low")], name=scope.make(f"{fq.name}/unrounded/offset")).outputs[0]
    fq.outputs[0].replace_uses(y, keep_names=True)


UNROUNDED_RESIDUAL = Departure(
    "unrounded residual",
    "FakeQuantize between a convolution and a residual Add fused as a sum: clamped, not rounded",
    _find_unrounded_residual, _clamp_and_map)

DEPARTURES: dict[str, tuple[Departure, ...]] = {
    "reference": (),
    "openvino-cpu": (UNROUNDED_RESIDUAL,),
}


def find_departures(model: Model, arithmetic: str, lowered: set[str]) -> list[tuple[Node, Departure]]:
    """The FakeQuantize nodes of ``model`` that ``arithmetic`` computes differently, with their rule."""
    if arithmetic not in DEPARTURES:
        raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
    return [(node, rule) for rule in DEPARTURES[arithmetic] for node in rule.find(model, lowered)]
