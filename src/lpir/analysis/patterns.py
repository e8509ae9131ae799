"""Recognising the low-precision patterns of OpenVINO IR in a graph.

Two patterns carry quantization (facts: OpenVINO's "Representation of low-precision models"):

- a ``FakeQuantize`` whose ranges are constants, in front of an op's input;
- a dequantization subgraph ``X(int) → Convert → [Subtract zero point] → Multiply scale``,
  possibly followed by ``Reshape`` (group-wise weights) and ``Convert`` (f16 → f32). When ``X``
  is a Const this is a *compressed weight*. Its matching and making live in
  :mod:`lpir.ir.dequantization`; this module adds what needs the op registry.

Which ops pass quantized values through unchanged is asked from the op registry
(``Traits.quantization_agnostic``), not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir.dequantization import Dequantization, dequantization_ending_at, match_dequantization, single_consumer
from lpir.ir.graph import Node, Output
from lpir.ops.registry import lookup

__all__ = ["Dequantization", "QuantizedBy", "constant_value", "dequantization_ending_at", "is_quantization_agnostic",
           "match_dequantization", "quantization_of", "single_consumer", "source_const"]

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
