"""Recognising the low-precision patterns of OpenVINO IR in a graph.

Two patterns carry quantization (facts: OpenVINO's "Representation of low-precision models"):

- a ``FakeQuantize`` whose ranges are constants, in front of an op's input;
- a dequantization subgraph ``X(int) → Convert → [Subtract zero point] → Multiply scale``,
  possibly followed by ``Reshape`` (group-wise weights) and ``Convert`` (f16 → f32). When ``X``
  is a Const this is a *compressed weight*.

Which ops pass quantized values through unchanged is asked from the op registry
(``Traits.quantization_agnostic``), not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir import types
from lpir.ir.graph import Node, Output
from lpir.ops.registry import lookup

# Element types a compressed weight or a quantized activation is stored in (facts §3.2, §3.4, §3.7).
# Small constants (ranges, scales, zero points) are read; larger ones are never decoded here.
SMALL_CONSTANT = 1 << 16


def constant_value(output: Output, limit: int | None = SMALL_CONSTANT) -> np.ndarray | None:
    """The value of a ``Const`` or ``Convert(Const)`` of at most ``limit`` elements, else None."""
    node = output.node
    if node.type == "Convert" and node.inputs:
        node = node.inputs[0].source.node
    if node.type != "Const" or node.tensor is None or (limit is not None and node.tensor.size > limit):
        return None
    from lpir.ir.types import to_float
    return to_float(node.tensor.numpy(), node.tensor.etype)


def source_const(output: Output, *, through_agnostic: bool = False) -> Node | None:
    """The Const behind ``output``, looking through Convert nodes (decompression, casts) and,
    with ``through_agnostic``, through ops that only move values (Reshape, Transpose ...)."""
    node = output.node
    while node.inputs and (node.type == "Convert" or (through_agnostic and is_quantization_agnostic(node))):
        node = node.inputs[0].source.node
    return node if node.type == "Const" else None


def single_consumer(output: Output) -> Node | None:
    return output.consumers[0].node if len(output.consumers) == 1 else None


@dataclass
class Dequantization:
    """A matched ``X(int) → Convert → [Subtract] → Multiply → [Reshape] → [Convert]``."""

    data: Output            # X, the low-precision tensor
    convert: Node
    subtract: Node | None
    multiply: Node
    reshape: Node | None
    output: Output          # the dequantized float value that consumers read

    @property
    def etype(self) -> str:
        return self.data.etype.name

    @property
    def has_zero_point(self) -> bool:
        return self.subtract is not None

    @property
    def is_weight(self) -> bool:
        return self.data.node.type == "Const"

    def scale_shape(self) -> tuple[int, ...]:
        other = next(p.source for p in self.multiply.inputs if p.source.node is not _producer(self))
        return tuple(d if isinstance(d, int) else -1 for d in (other.shape or ()))

    def granularity(self) -> tuple[str, int | None]:
        """(``per-tensor`` | ``per-channel`` | ``group``, group size or None)."""
        scale = self.scale_shape()
        shape = tuple(self.data.shape or ())
        scale = (1,) * (len(shape) - len(scale)) + scale
        varying = [i for i, d in enumerate(scale) if d != 1]
        if not varying:
            return "per-tensor", None
        if self.reshape is not None and len(varying) >= 2:
            group = [shape[i] for i, d in enumerate(scale) if d == 1 and i < len(shape) and shape[i] != 1]
            return "group", int(np.prod(group)) if group else None
        return "per-channel", None


def _producer(dq: Dequantization) -> Node:
    return dq.subtract if dq.subtract is not None else dq.convert


def match_dequantization(data: Output) -> Dequantization | None:
    """Match the dequantization subgraph that starts at the low-precision tensor ``data``."""
    if data.etype not in types.LOW_PRECISION_WEIGHT_TYPES:
        return None
    convert = single_consumer(data)
    if convert is None or convert.type != "Convert":
        return None
    node = single_consumer(convert.outputs[0])
    subtract = None
    if node is not None and node.type == "Subtract" and node.inputs[0].source is convert.outputs[0]:
        subtract = node
        node = single_consumer(node.outputs[0])
    if node is None or node.type != "Multiply":
        return None
    multiply = node
    output = multiply.outputs[0]
    reshape = None
    after = single_consumer(output)
    if after is not None and after.type == "Reshape" and after.inputs[0].source is output:
        reshape, output = after, after.outputs[0]
        after = single_consumer(output)
    if after is not None and after.type == "Convert" and after.outputs[0].etype.is_float:
        output = after.outputs[0]
    return Dequantization(data, convert, subtract, multiply, reshape, output)


def dequantization_ending_at(output: Output) -> Dequantization | None:
    """The dequantization subgraph whose final output is ``output`` (walking backwards)."""
    node = output.node
    if node.type == "Convert":
        node = node.inputs[0].source.node
    if node.type == "Reshape":
        node = node.inputs[0].source.node
    if node.type != "Multiply":
        return None
    for port in node.inputs:
        start = port.source.node
        if start.type == "Subtract":
            start = start.inputs[0].source.node
        if start.type == "Convert":
            match = match_dequantization(start.inputs[0].source)
            if match is not None and match.output is output:
                return match
    return None


def is_quantization_agnostic(node: Node) -> bool:
    """True for ops that pass quantized values through unchanged (asked from the registry)."""
    op = lookup(node.type, node.opset)
    return op is not None and op.traits.quantization_agnostic


@dataclass
class QuantizedBy:
    """How the value reaching an op input is quantized: by a FakeQuantize or a dequantization."""

    fake_quantize: Node | None = None
    dequantization: Dequantization | None = None


def quantization_of(output: Output) -> QuantizedBy | None:
    """What quantizes ``output``, looking back through quantization-agnostic ops and float casts."""
    seen = 0
    while seen < 64:
        seen += 1
        node = output.node
        if node.type == "FakeQuantize":
            return QuantizedBy(fake_quantize=node)
        dq = dequantization_ending_at(output)
        if dq is not None:
            return QuantizedBy(dequantization=dq)
        is_float_cast = node.type == "Convert" and node.inputs and node.inputs[0].source.etype.is_float
        if not (is_float_cast or is_quantization_agnostic(node)) or not node.inputs:
            return None
        output = node.inputs[0].source
    return None
