"""Where FakeQuantize goes: NNCF's CPU placement, decided from op traits.

1. Every quantizable op asks for one activation quantizer on each of its non-constant
   quantizable inputs, and one weight quantizer (per output channel) on each constant weight;
   embedding tables (constant tables read at computed indices) get a weight quantizer per row.
2. Quantizers move up, against the data flow, through quantization-agnostic ops (MaxPool,
   Reshape, Transpose, Concat, ...) when every consumer of that op asks for one; quantizers
   that meet on one tensor merge into one. Those pushed through a Concat share one range.
3. A quantizer asked for by an element-wise op with a single non-constant input (a bias Add,
   the scale and shift after a normalization) is dropped unless it moved or merged: such ops
   run fused with their producer (Conv → bias Add → activation is one unit, quantized after
   the activation), as OpenVINO's CPU plugin executes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from lpir.ir.graph import Input, Model, Node, Output
from lpir.ops import lookup

# NNCF's model_type="transformer" keeps these ops in float (precision-critical residual,
# normalization and scaling arithmetic); a policy of that model type, not a property of the ops.
TRANSFORMER_IGNORED_TYPES = frozenset({
    "Add", "Power", "Squeeze", "Subtract", "AvgPool", "ReduceMean", "ReduceL2", "ReduceSum",
    "SquaredDifference", "MVN", "GroupNormalization", "BatchNormInference", "Divide", "Sqrt",
    "Maximum", "GreaterEqual", "Greater", "LessEqual", "Less", "NotEqual", "Equal", "Multiply"})
# NNCF's overflow fix halves the weight range of the first layers of this type only.
OVERFLOW_FIX_TYPE = "Convolution"
_keys = itertools.count()


@dataclass
class ActivationQuantizer:
    """One FakeQuantize on ``output``, read by ``ports`` (all consumers, or some of them)."""

    output: Output
    ports: list[Input]
    symmetric: bool
    requested_by: list[Node]
    moved: bool = False
    removable: bool = False
    per_channel: bool = False  # one range per channel (axis 1): inputs of depthwise convolutions
    group: int = -1  # quantizers of one group share one range (Concat inputs)
    key: int = field(default_factory=lambda: next(_keys))

    @property
    def covers_all_consumers(self) -> bool:
        return {id(p) for p in self.ports} >= {id(c) for c in _value_consumers(self.output)}


@dataclass
class WeightQuantizer:
    """A per-output-channel FakeQuantize on the constant input ``port`` of ``layer``."""

    layer: Node
    port: int
    channel_axes: tuple[int, ...]
    half_range: bool = False

    @property
    def weight(self) -> Output:
        return self.layer.inputs[self.port].source


@dataclass
class QuantizationPlan:
    activations: list[ActivationQuantizer] = field(default_factory=list)
    weights: list[WeightQuantizer] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # layer name → why it stays in float

    def groups(self) -> list[list[ActivationQuantizer]]:
        """Activation quantizers by shared range, in plan order."""
        by_group: dict[int, list[ActivationQuantizer]] = {}
        for quantizer in self.activations:
            by_group.setdefault(quantizer.group, []).append(quantizer)
        return list(by_group.values())

    @property
    def is_empty(self) -> bool:
        return not self.activations and not self.weights


def plan_quantization(model: Model, *, symmetric_activations: bool = True, transformer: bool = False,
                      ignored: dict[str, str] | None = None, overflow_fix: str = "first_layer") -> QuantizationPlan:
    """Where quantizers go in ``model`` (``ignored``: layer name → reason to keep it in float)."""
    ignored = dict(ignored or {})
    nodes = model.nodes()
    if transformer:
        ignored.update({n.name: f"{n.type} stays in float for transformers" for n in nodes
                        if n.type in TRANSFORMER_IGNORED_TYPES and n.name not in ignored})
    constant = constant_outputs(nodes)
    plan = QuantizationPlan()
    requests: list[ActivationQuantizer] = []
    for node in nodes:
        op = lookup(node.type, node.opset)
        if op is not None and node.name not in ignored and _is_embedding(node, op, constant):
            plan.weights.append(WeightQuantizer(node, 0, (0,)))
        if op is None or not op.traits.quantizable:
            continue
        if node.name in ignored:
            plan.skipped[node.name] = ignored[node.name]
            continue
        ports = op.traits.quantizable_inputs(len(node.inputs))
        weights = [i for i in op.traits.weight_inputs
                   if i < len(node.inputs) and id(node.inputs[i].source) in constant and node.inputs[i].source.etype.is_float]
        activations = [i for i in ports if i not in weights and id(node.inputs[i].source) not in constant
                       and node.inputs[i].source.etype.is_float]
        axes = op.weight_channel_axes(node.attrs)
        plan.weights.extend(WeightQuantizer(node, i, axes) for i in weights)
        multiplies = len(activations) >= 2 and not op.traits.elementwise  # MatMul of two activations, attention
        symmetric = symmetric_activations or (multiplies and (transformer or not op.traits.weight_inputs))
        removable = op.traits.elementwise and len(activations) == 1 and len(ports) > 1
        per_channel = is_depthwise(node, op, constant)
        requests.extend(ActivationQuantizer(node.inputs[i].source, [node.inputs[i]], symmetric, [node],
                                            removable=removable, per_channel=per_channel) for i in activations)
    quantizers = _propagate(nodes, requests, ignored, constant)
    plan.activations = [q for q in quantizers if not (q.removable and not q.moved and len(q.requested_by) == 1)]
    if overflow_fix == "first_layer":
        _mark_first_layers(model, plan.weights)
    elif overflow_fix == "enable":
        for weight in plan.weights:
            weight.half_range = True
    return plan


def constant_outputs(nodes: Iterable[Node]) -> set[int]:
    """ids of outputs computed from constants only (weights, possibly behind a Convert)."""
    constant: set[int] = set()
    for node in nodes:
        if node.type == "Const" or (node.inputs and node.type not in ("Parameter", "ReadValue")
                                    and all(id(p.source) in constant for p in node.inputs)):
            constant.update(id(out) for out in node.outputs)
    return constant


def _value_consumers(output: Output) -> list[Input]:
    """Consumers that read the values of ``output`` (not only its shape)."""
    return [port for port in output.consumers if not _reads_shape_only(port)]


def _reads_shape_only(port: Input) -> bool:
    op = lookup(port.node.type, port.node.opset)
    if op is not None and op.traits.quantizable:
        return False
    if op is not None and port.index not in op.traits.quantizable_inputs(len(port.node.inputs)):
        return True  # a shape, axes or indices input
    # an op whose float input yields only integers looks at shapes (ShapeOf)
    return bool(port.node.outputs) and all(out.etype.is_integral for out in port.node.outputs)


def _propagate(nodes: list[Node], requests: list[ActivationQuantizer], ignored: dict[str, str],
               constant: set[int]) -> list[ActivationQuantizer]:
    """Merge requests per tensor and move them up through agnostic ops, last node first."""
    at: dict[int, list[ActivationQuantizer]] = {}
    for request in requests:
        at.setdefault(id(request.output), []).append(request)
    groups = _Groups()
    for node in reversed(nodes):
        op = lookup(node.type, node.opset)
        if op is None or not op.traits.quantization_agnostic or op.traits.quantizable or node.name in ignored:
            continue
        watched = [out for out in node.outputs if _value_consumers(out)]
        if not watched or not all(_merge(at, out) is not None and _merge(at, out).covers_all_consumers
                                  for out in watched):
            continue
        data = [p for i, p in enumerate(node.inputs) if i in op.traits.quantizable_inputs(len(node.inputs))
                and id(p.source) not in constant and p.source.etype.is_float]
        if not data:
            continue
        merged = [q for out in node.outputs for q in at.pop(id(out), [])]
        symmetric = any(q.symmetric for q in merged)
        requesters = [n for q in merged for n in q.requested_by]
        per_channel = all(q.per_channel for q in merged)
        moved = [ActivationQuantizer(p.source, [p], symmetric, requesters, moved=True,
                                     per_channel=per_channel and _same_channels(p.source, node.outputs[0]))
                 for p in data]
        groups.join([q.key for q in merged] + [q.key for q in moved])
        for quantizer in moved:
            at.setdefault(id(quantizer.output), []).append(quantizer)
    result = []
    for quantizers in at.values():
        merged = _merge(at, quantizers[0].output)
        if merged.covers_all_consumers:
            groups.join([q.key for q in quantizers] + [merged.key])
            result.append(merged)
        else:
            for quantizer in quantizers:
                groups.join([quantizer.key])
                result.append(quantizer)
    for quantizer in result:
        quantizer.group = groups.find(quantizer.key)
    return result


def _merge(at: dict[int, list[ActivationQuantizer]], output: Output) -> ActivationQuantizer | None:
    """All quantizers waiting on ``output`` as one (None if there are none)."""
    quantizers = at.get(id(output))
    if not quantizers:
        return None
    if len(quantizers) == 1:
        return quantizers[0]
    return ActivationQuantizer(output, [p for q in quantizers for p in q.ports], any(q.symmetric for q in quantizers),
                               [n for q in quantizers for n in q.requested_by], moved=any(q.moved for q in quantizers),
                               per_channel=all(q.per_channel for q in quantizers))


def _is_embedding(node: Node, op, constant: set[int]) -> bool:
    """A lookup table: an agnostic op reading rows of a constant float table (input 0) at
    non-constant integer indices (Gather of embeddings). Its table is quantized as weights, one
    range per row, as NNCF's Embedding."""
    if not op.traits.quantization_agnostic or len(node.inputs) < 2:
        return False
    table, indices = node.inputs[0].source, node.inputs[1].source
    return (id(table) in constant and table.etype.is_float and table.rank == 2
            and id(indices) not in constant and indices.etype.is_integral)


def is_depthwise(node: Node, op, constant: set[int]) -> bool:
    """A grouped convolution with one input channel per group: OpenVINO's CPU takes its input
    quantized per channel (NNCF's DepthwiseConvolution)."""
    weights = [node.inputs[i].source for i in op.traits.weight_inputs if i < len(node.inputs)]
    if len(op.weight_channel_axes(node.attrs)) != 2 or not weights or id(weights[0]) not in constant:
        return False
    shape = weights[0].shape
    return shape is not None and len(shape) >= 3 and shape[2] == 1 and isinstance(shape[0], int) and shape[0] > 1


def _same_channels(a: Output, b: Output) -> bool:
    """Whether axis 1 of ``a`` and ``b`` is the same channel axis (same rank and size)."""
    return (a.shape is not None and b.shape is not None and len(a.shape) == len(b.shape) >= 2
            and a.shape[1] == b.shape[1])


class _Groups:
    """Union-find over quantizer ids: which quantizers share a range."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, key: int) -> int:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, keys: list[int]) -> None:
        roots = [self.find(k) for k in keys]
        for root in roots[1:]:
            self.parent[root] = roots[0]


def _mark_first_layers(model: Model, weights: list[WeightQuantizer]) -> None:
    """Half-range weights for the first convolutions reached from each input (NNCF's overflow fix)."""
    candidates = {id(w.layer): w for w in weights if w.layer.type == OVERFLOW_FIX_TYPE}
    seen: set[int] = set()
    queue = list(model.parameters)
    while queue:
        node = queue.pop(0)
        if node.uid in seen:
            continue
        seen.add(node.uid)
        if id(node) in candidates:
            candidates[id(node)].half_range = True
            continue
        queue.extend(port.node for out in node.outputs for port in out.consumers)
