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
from typing import TYPE_CHECKING

import numpy as np

from lpir.ir import types
from lpir.ir.graph import Node, Output, RtEntry, make_constant, make_node
from lpir.ir.tensor import Tensor
from lpir.ir.types import ElementType

if TYPE_CHECKING:
    from lpir.ir.rewrite import NameScope

# OpenVINO's ``decompression`` runtime attribute (serialised in IR): on the Convert of an f16
# constant it tells runtimes to keep the pair together instead of folding it.
DECOMPRESSION = RtEntry("attribute", {"name": "decompression", "version": "0"})


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
            known = group and all(isinstance(d, int) for d in group)  # a dynamic dim leaves the size open
            return "group", int(np.prod(group)) if known else None
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


def make_dequantization(data: Output, scale: Tensor, zero_point: Tensor | None = None, *, name: str,
                        port: int = 1, out_shape: tuple[int, ...] | None = None,
                        out_etype: ElementType | None = None, names: NameScope | None = None) -> Dequantization:
    """Build ``data(int) → Convert(f16) → [Subtract zero point] → Multiply scale → [Reshape] → [Convert]``.

    Node names are NNCF's, so reports and tools pair the nodes of both: ``{name}/zero_point``,
    ``{name}/zero_point/subtract``, ``{name}/scale``, ``{name}/fq_weights_{port}`` and
    ``{name}/fq_weights_{port}/convert``. ``out_shape`` adds a Reshape (group-wise codes back to
    the weight's shape), ``out_etype`` a final Convert. No Convert carries the ``decompression``
    marker: on the integer Convert it makes OpenVINO's CPU plugin (2026.4, measured) decompress
    the weights at load instead of running compressed kernels, and NNCF writes none. Nothing
    reads the result yet: the caller connects consumers to ``.output``.
    """
    names = names or _Unscoped()
    compute = scale.etype
    shape = tuple(data.shape)
    convert = make_node("Convert", [data], {"destination_type": compute}, name=names.make(f"{name}/convert"),
                        outputs=[(compute, shape)])
    value, subtract = convert.outputs[0], None
    if zero_point is not None:
        zp_const = make_constant(zero_point, name=names.make(f"{name}/zero_point"))
        zp_convert = make_node("Convert", [zp_const.outputs[0]], {"destination_type": compute},
                               name=names.make(f"{name}/zero_point/convert"), outputs=[(compute, zero_point.shape)])
        subtract = make_node("Subtract", [value, zp_convert.outputs[0]], {"auto_broadcast": "numpy"},
                             name=names.make(f"{name}/zero_point/subtract"), outputs=[(compute, shape)])
        value = subtract.outputs[0]
    scale_const = make_constant(scale, name=names.make(f"{name}/scale"))
    multiply = make_node("Multiply", [value, scale_const.outputs[0]], {"auto_broadcast": "numpy"},
                         name=names.make(f"{name}/fq_weights_{port}"), outputs=[(compute, shape)])
    output, reshape = multiply.outputs[0], None
    if out_shape is not None and tuple(out_shape) != shape:
        target = make_constant(np.asarray(out_shape, dtype=np.int64), name=names.make(f"{name}/shape"))
        reshape = make_node("Reshape", [output, target.outputs[0]], {"special_zero": False},
                            name=names.make(f"{name}/reshape"), outputs=[(compute, tuple(out_shape))])
        output = reshape.outputs[0]
    if out_etype is not None and out_etype != compute:
        last = make_node("Convert", [output], {"destination_type": out_etype},
                         name=names.make(f"{name}/fq_weights_{port}/convert"), outputs=[(out_etype, output.shape)])
        output = last.outputs[0]
    return Dequantization(data, convert, subtract, multiply, reshape, output)


class _Unscoped:
    """Names taken as given (for graphs built from scratch, where nothing clashes)."""

    @staticmethod
    def make(base: str) -> str:
        return base
