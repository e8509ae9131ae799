"""``inspect``: what a model is made of and how it would run in low precision, at a glance.

The report lists the model's inputs and outputs, op counts, constants by element type, every
FakeQuantize with the precision OpenVINO's rules give it, every compressed weight, which
Convolution/MatMul-like layers run in low precision (and why the others do not) and the weight
sparsity. Constants are read only where the report needs their values: small ranges and scales
always, weights only for sparsity, one tensor at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lpir.analysis.patterns import (
    Dequantization,
    QuantizedBy,
    constant_value,
    match_dequantization,
    quantization_of,
    source_const,
)
from lpir.analysis.precision import precision_details
from lpir.analysis.sparsity import LayerSparsity, count_zero_weights
from lpir.ir import types
from lpir.ops.infer import verify_node
from lpir.ir.graph import Model, Node, Output, with_body_nodes
from lpir.ir.shape import format_shape
from lpir.ops.registry import lookup

SCHEMA_VERSION = 1


@dataclass
class FakeQuantizeInfo:
    name: str
    levels: int
    applies_to: str                 # "weights" | "activations"
    granularity: str                # "per-tensor" | "per-channel"
    channel_axis: int | None
    input_range: tuple[float, float] | None  # None when the limits are not constants
    output_range: tuple[float, float] | None
    signed: bool
    precision: str | None           # getPrecisionDetails result; None when the rule leaves it open
    runtime_precision: str          # what a {u8, i8} runtime picks
    zero_point: bool
    consumers: list[str]


@dataclass
class CompressedWeightInfo:
    name: str
    element_type: str
    shape: list[int]
    granularity: str                # "per-tensor" | "per-channel" | "group"
    group_size: int | None
    zero_point: bool
    scale_type: str
    consumers: list[str]


@dataclass
class LayerInfo:
    name: str
    type: str
    mode: str                       # "low-precision" | "weight-compressed" | "float"
    inputs: list[str]               # per input: "u8 (FakeQuantize)", "i4 (compressed weight)", "float"
    reason: str


@dataclass
class ModelReport:
    """Everything ``lpir inspect`` prints; :meth:`to_dict` is the documented JSON schema."""

    model: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    op_counts: dict[str, int]
    constants: dict[str, dict[str, int]]
    parameters: int
    fake_quantize: list[FakeQuantizeInfo] = field(default_factory=list)
    compressed_weights: list[CompressedWeightInfo] = field(default_factory=list)
    layers: list[LayerInfo] = field(default_factory=list)
    sparsity: list[LayerSparsity] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        data["low_precision_layers"] = sum(layer.mode == "low-precision" for layer in self.layers)
        if self.sparsity is not None:
            data["sparsity"] = {
                "layers": [dict(asdict(s), sparsity=s.sparsity) for s in self.sparsity],
                "overall": overall_sparsity(self.sparsity),
            }
        return data


def overall_sparsity(layers: Iterable[LayerSparsity]) -> float:
    layers = list(layers)
    elements = sum(s.elements for s in layers)
    return sum(s.zeros for s in layers) / elements if elements else 0.0


def inspect_model(model: Model, *, sparsity: bool = True,
                  progress: Callable[[Iterable], Iterable] | None = None) -> ModelReport:
    """Summarise ``model``; with ``sparsity`` every weight tensor is read once to count zeros.

    ``progress`` wraps the iteration over weight tensors (e.g. a progress bar). A graph that
    its ops do not accept (edited in memory into inconsistent shapes) is refused first, naming
    the layer, as the IR reader refuses such a file. Layers inside the bodies of
    TensorIterator, Loop and If count as the model's own.
    """
    nodes = list(with_body_nodes(model.nodes()))
    for node in nodes:
        verify_node(node)
    report = ModelReport(
        model=model.name,
        inputs=[_port(p.outputs[0], p.name) for p in model.parameters],
        outputs=[_port(r.inputs[0].source, r.name) for r in model.results],
        op_counts=dict(sorted(Counter(n.type for n in nodes).items())),
        constants=_constants(nodes),
        parameters=_parameter_count(nodes),
        fake_quantize=[_fake_quantize(n) for n in nodes if n.type == "FakeQuantize"],
        compressed_weights=[info for n in nodes if (info := _compressed_weight(n)) is not None],
        layers=[_layer(n) for n in nodes if _is_weighted(n) and lookup(n.type, n.opset).traits.quantizable],
    )
    if sparsity:
        weighted = [n for n in nodes if _is_weighted(n)]
        report.sparsity = [s for n in (progress or iter)(weighted) if (s := _layer_sparsity(n)) is not None]
    return report


def _port(out: Output, layer_name: str) -> dict[str, Any]:
    """A model input or output, named by its layer when that is one of the tensor's names (a
    tensor that is both an input and an output has both names)."""
    name = layer_name if layer_name in out.names or not out.names else out.names[0]
    return {"name": name, "element_type": out.etype.name, "shape": format_shape(out.shape)}


def _constants(nodes: list[Node]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for node in nodes:
        if node.type == "Const" and node.tensor is not None:
            entry = table.setdefault(node.tensor.etype.name, {"count": 0, "elements": 0, "bytes": 0})
            entry["count"] += 1
            entry["elements"] += node.tensor.size
            entry["bytes"] += node.tensor.nbytes
    return dict(sorted(table.items()))


def _parameter_count(nodes: list[Node]) -> int:
    """Elements of float and low-precision constants (index and shape constants excluded)."""
    return sum(n.tensor.size for n in nodes if n.type == "Const" and n.tensor is not None
               and (n.tensor.etype.is_float or n.tensor.etype in types.LOW_PRECISION_WEIGHT_TYPES))


def _is_weighted(node: Node) -> bool:
    op = lookup(node.type, node.opset)
    return op is not None and bool(op.traits.weight_inputs)


# -- FakeQuantize --------------------------------------------------------------------------
def _fake_quantize(node: Node) -> FakeQuantizeInfo:
    levels = int(node.attrs.get("levels", 0))
    limits = [constant_value(port.source) for port in node.inputs[1:5]]
    if any(v is None for v in limits):
        return FakeQuantizeInfo(node.name, levels, _applies_to(node), "dynamic", None, None, None, False, None,
                                "f32", False, _consumers(node.outputs[0]))
    il, ih, ol, oh = limits
    details = precision_details(levels, ol, oh)
    granularity, axis = _range_granularity(limits, node.inputs[0].source.rank)
    return FakeQuantizeInfo(
        node.name, levels, _applies_to(node), granularity, axis,
        (float(np.min(il)), float(np.max(ih))), (float(np.min(ol)), float(np.max(oh))),
        details.is_signed, details.precision, details.runtime_precision, details.has_zero_point,
        _consumers(node.outputs[0]))


def _applies_to(node: Node) -> str:
    return "weights" if source_const(node.inputs[0].source) is not None else "activations"


def _range_granularity(limits: list[np.ndarray], rank: int | None) -> tuple[str, int | None]:
    rank = max([rank or 0] + [v.ndim for v in limits])
    axes = {rank - v.ndim + i for v in limits for i, d in enumerate(v.shape) if d != 1}
    if not axes:
        return "per-tensor", None
    return "per-channel", min(axes)


def _consumers(output: Output) -> list[str]:
    return [port.node.name for port in output.consumers]


# -- compressed weights --------------------------------------------------------------------
def _compressed_weight(node: Node) -> CompressedWeightInfo | None:
    if node.type != "Const" or node.tensor is None or node.tensor.etype not in types.LOW_PRECISION_WEIGHT_TYPES:
        return None
    dq = match_dequantization(node.outputs[0])
    if dq is None:
        return None
    granularity, group_size = dq.granularity()
    scale = next(p.source for p in dq.multiply.inputs if p.source.node is not (dq.subtract or dq.convert))
    return CompressedWeightInfo(node.name, dq.etype, list(node.tensor.shape), granularity, group_size,
                                dq.has_zero_point, scale.etype.name, _consumers(dq.output))


# -- layers --------------------------------------------------------------------------------
def _describe(quantized: QuantizedBy | None) -> str:
    if quantized is None:
        return "float"
    if quantized.fake_quantize is not None:
        fq = _fake_quantize(quantized.fake_quantize)
        zp = ", zero point" if fq.zero_point else ""
        return f"{fq.runtime_precision} (FakeQuantize {fq.levels} levels{zp})"
    dq = quantized.dequantization
    kind = "compressed weight" if dq.is_weight else "dequantized"
    return f"{dq.etype} ({kind}{', zero point' if dq.has_zero_point else ''})"


def _layer(node: Node) -> LayerInfo:
    """Low precision when every input is quantized; weight-compressed when only weights are."""
    quantized = [quantization_of(port.source) for port in node.inputs]
    described = [_describe(q) for q in quantized]
    weights = set(lookup(node.type, node.opset).traits.weight_inputs)
    floats = [i for i, q in enumerate(quantized) if q is None]
    if not floats:
        return LayerInfo(node.name, node.type, "low-precision", described, "all inputs quantized")
    weight_only = all(i not in weights for i in floats) and any(
        q is not None and q.dequantization is not None and q.dequantization.is_weight for q in quantized)
    missing = ", ".join(f"input {i}" for i in floats)
    if weight_only:
        return LayerInfo(node.name, node.type, "weight-compressed", described,
                         f"weights stored compressed, {missing} not quantized: computes in float")
    return LayerInfo(node.name, node.type, "float", described, f"{missing} not quantized")


# -- sparsity ------------------------------------------------------------------------------
def _layer_sparsity(node: Node) -> LayerSparsity | None:
    op = lookup(node.type, node.opset)
    for index in op.traits.weight_inputs:
        if index >= len(node.inputs):
            continue
        const, zero_point = _weight_const(node.inputs[index].source)
        if const is not None:
            zeros = count_zero_weights(const, zero_point)
            return LayerSparsity(node.name, node.type, const.name, const.tensor.size, zeros)
    return None


def _weight_const(output: Output) -> tuple[Node | None, np.ndarray | None]:
    """The Const holding a layer's weights (behind FakeQuantize or dequantization) and its zero point."""
    quantized = quantization_of(output)
    if quantized is not None and quantized.dequantization is not None:
        dq: Dequantization = quantized.dequantization
        if not dq.is_weight:
            return None, None
        zero_point = constant_value(dq.subtract.inputs[1].source, limit=None) if dq.subtract is not None else None
        return dq.data.node, zero_point
    if quantized is not None and quantized.fake_quantize is not None:
        output = quantized.fake_quantize.inputs[0].source
    const = source_const(output, through_agnostic=True)
    return (const, None) if const is not None and const.tensor is not None else (None, None)
