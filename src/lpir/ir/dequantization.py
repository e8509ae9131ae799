"""The dequantization subgraph of OpenVINO IR: match it in a graph, and make it.

``X(int) → Convert → [Subtract zero point] → Multiply scale → [Reshape] → [Convert]`` turns
low-precision values back into floats (facts: "Representation of low-precision models"). When
``X`` is a Const this is a *compressed weight*: NNCF's weight compression and OpenVINO's
``save_model`` of a quantized model write it, and OpenVINO's CPU plugin recognises it (when the
Convert carries the ``decompression`` rt_info marker, it keeps the weights compressed instead
of folding the subgraph). The ONNX importer (DequantizeLinear), the analysis, weight
compression and quantization all match and make it here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir import types
from lpir.ir.graph import Node, Output


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


