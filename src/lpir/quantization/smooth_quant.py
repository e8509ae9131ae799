"""SmoothQuant for transformers: move activation outliers into the weights before quantizing.

For a MatMul ``x @ W`` with constant weights, per input channel ``c``: ``s_c = a_c**alpha /
w_c**(1-alpha)`` (``a_c``: largest |x| in channel c over the calibration data, ``w_c``: largest
|W| in that input channel), clipped to [10th percentile, 100]; then ``x / s`` feeds the MatMul
and ``W * s`` replaces the weights, so the product is unchanged while x's channels get a
similar range (easier to quantize per tensor). MatMuls reading one tensor share one scale, the
one with the best min/max ratio among theirs (NNCF's SmoothQuant, alpha 0.95 on MatMul).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.rewrite import NameScope, layer_name
from lpir.ops import build, lookup
from lpir.quantization.placement import constant_outputs
from lpir.quantization.statistics import ChannelMinMax

MATMUL_ALPHA = 0.95
STATISTIC_FLOOR = 1e-5
SCALE_CEILING = 1e2
SCALE_QUANTILE = 0.1


@dataclass
class SmoothingGroup:
    """MatMuls whose activation input is the same tensor."""

    source: Output
    layers: list[tuple[Node, int, int]]  # (layer, activation port, weight port)

    @property
    def channel_axis(self) -> int:
        layer = self.layers[0][0]
        return -2 if layer.attrs.get("transpose_a") else -1


def smoothing_groups(model: Model, ignored: dict[str, str]) -> list[SmoothingGroup]:
    """MatMuls with constant weights (not shared, not ignored), grouped by activation input."""
    nodes = model.nodes()
    constant = constant_outputs(nodes)
    groups: dict[int, SmoothingGroup] = {}
    for node in nodes:
        op = lookup(node.type, node.opset)
        if op is None or node.name in ignored or not op.traits.weight_inputs or "transpose_a" not in node.attrs:
            continue  # SmoothQuant applies to MatMul-like layers (the ones with transpose flags)
        weight_port = op.traits.weight_inputs[0]
        weight = node.inputs[weight_port].source
        if id(weight) not in constant or len(weight.consumers) != 1 or weight.rank is None or weight.rank < 2:
            continue
        data_port = 1 - weight_port
        source = node.inputs[data_port].source
        if id(source) in constant or not source.etype.is_float:
            continue
        groups.setdefault(id(source), SmoothingGroup(source, [])).layers.append((node, data_port, weight_port))
    return list(groups.values())


def smooth(model: Model, groups: list[SmoothingGroup], activation_stats: dict[int, ChannelMinMax], constant_value) -> int:
    """Insert the smoothing Multiply of each group and rescale its weights; returns how many."""
    names = NameScope(model)
    applied = 0
    for group in groups:
        stats = activation_stats.get(id(group.source))
        if stats is None or stats.abs_high is None:
            continue
        activations = np.maximum(stats.abs_high.reshape(-1).astype(np.float32), STATISTIC_FLOOR)
        best, best_ratio = None, 0.0
        weights = {}
        for layer, _, weight_port in group.layers:
            value = constant_value(layer.inputs[weight_port].source).astype(np.float32)
            axis = _input_channel_axis(layer)
            weights[layer.uid] = (value, axis)
            reduce = tuple(a for a in range(value.ndim) if a != axis % value.ndim)
            weight_stat = np.maximum(np.abs(value).max(axis=reduce), STATISTIC_FLOOR)
            if weight_stat.shape != activations.shape:
                break
            scales, ratio = _scales(activations, weight_stat, MATMUL_ALPHA)
            if ratio > best_ratio:
                best, best_ratio = scales, ratio
        else:
            if best is None:
                continue
            _rewrite(model, names, group, best, weights)
            applied += 1
    return applied


def _input_channel_axis(layer: Node) -> int:
    """The weight axis that meets the activation's channels (K of a MatMul's B)."""
    op = lookup(layer.type, layer.opset)
    return -2 if op.weight_channel_axes(layer.attrs) == (-1,) else -1


def _scales(activations: np.ndarray, weights: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    eps = np.finfo(np.float32).eps
    scales = np.power(activations, alpha) / (np.power(weights, 1 - alpha) + eps)
    scales = np.clip(scales, np.quantile(scales, SCALE_QUANTILE), SCALE_CEILING).astype(np.float32)
    return scales, float(scales.min() / (scales.max() + eps))


def _rewrite(model: Model, names: NameScope, group: SmoothingGroup, scales: np.ndarray, weights: dict) -> None:
    source = group.source
    rank = source.rank or 1
    shape = [1] * rank
    shape[group.channel_axis % rank] = scales.size
    inverse = make_constant((1.0 / scales).reshape(shape).astype(source.etype.dtype),
                            name=names.make(f"{layer_name(source.node)}_{source.index}/nncf_smooth_quant/scale"))
    multiply = build("Multiply", [source, inverse.outputs[0]],
                     name=names.make(f"{layer_name(source.node)}_{source.index}_0/nncf_smooth_quant"))
    for layer, data_port, weight_port in group.layers:
        layer.inputs[data_port].connect(multiply.outputs[0])
        value, axis = weights[layer.uid]
        weight_shape = [1] * value.ndim
        weight_shape[axis % value.ndim] = scales.size
        old = layer.inputs[weight_port].source
        scaled = (value * scales.reshape(weight_shape)).astype(old.etype.dtype)
        layer.inputs[weight_port].connect(make_constant(scaled, name=names.make(f"{old.node.name}/smoothed")).outputs[0])
