"""Fast bias correction: give back to each quantized layer's bias the mean shift that weight
quantization introduced (NNCF's FastBiasCorrection). The layer search and the bias update
are shared with the layer-by-layer variant (:mod:`lpir.quantization.layerwise_bias_correction`).

For a layer ``y = W x + b``: run the layer with quantized weights on an input whose every
channel holds the float model's mean input of that channel; the difference between the float
model's mean output per channel and this output is added to ``b``. A correction larger than
``THRESHOLD`` times the bias itself (or any zero in the bias) is not applied: it would mean
the means say little about this layer.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.shape import is_static
from lpir.ir.subgraph import extract_subgraph
from lpir.ops import lookup
from lpir.progress import Progress, no_progress
from lpir.quantization.placement import constant_outputs, is_depthwise
from lpir.quantization.statistics import ChannelMean
from lpir.runtime.blas import blas_threads

THRESHOLD = 2.0


@dataclass
class BiasedLayer:
    """A weighted layer followed by an Add of a constant bias."""

    layer: Node
    add: Node
    bias_port: int  # the Add input that holds the bias
    input_axis: int
    output_axis: int
    bias: np.ndarray
    float_input: Output  # the layer's input before quantizers were inserted

    def observed(self) -> list[tuple[Output, ChannelMean]]:
        """Mean per channel of the layer's float input and output, to collect in calibration."""
        return [(self.float_input, ChannelMean(self.input_axis)), (self.layer.outputs[0], ChannelMean(self.output_axis))]


def find_biased_layers(model: Model, layers: list[Node], constant_value, *, depthwise: bool = False) -> list[BiasedLayer]:
    """Those of ``layers`` whose only consumer adds a constant bias with one channel axis.

    Grouped convolutions are left out (FastBiasCorrection's set), except depthwise ones with
    ``depthwise`` (BiasCorrection's set, NNCF's OPERATIONS_WITH_BIAS).
    """
    constant = constant_outputs(model.nodes())
    found = []
    for layer in layers:
        op = lookup(layer.type, layer.opset)
        out = layer.outputs[0]
        if not op.traits.has_bias or len(out.consumers) != 1 or out.rank is None:
            continue
        if len(op.weight_channel_axes(layer.attrs)) > 1 and not (depthwise and is_depthwise(layer, op, constant)):
            continue  # grouped layers: their mean-input correction was measured to hurt, and NNCF's fast variant skips them
        add = out.consumers[0].node
        if add.type != "Add" or len(add.inputs) != 2:
            continue
        bias_port = 1 - out.consumers[0].index
        if id(add.inputs[bias_port].source) not in constant:
            continue
        bias = constant_value(add.inputs[bias_port].source)
        varying = [i for i, d in enumerate(bias.shape) if d != 1] if bias is not None else []
        if bias is None or len(varying) > 1 or bias.ndim > out.rank:
            continue
        output_axis = (varying[0] - bias.ndim) % out.rank if varying else out.rank - 1
        input_axis = (-2 if layer.attrs.get("transpose_a") else -1) if "transpose_a" in layer.attrs else 1
        found.append(BiasedLayer(layer, add, bias_port, input_axis, output_axis, bias, layer.inputs[0].source))
    return found


def correct_biases(model: Model, layers: list[BiasedLayer], means: dict[int, ChannelMean], compile_fn,
                   progress: Progress = no_progress, workers: int | None = None) -> int:
    """Correct the bias of each of ``layers`` (weights already quantized in ``model``) from the
    float means gathered in calibration (``means``: by id of tensor); returns how many were
    corrected. The layers' small subgraphs run side by side (they only read the model), BLAS
    on one thread each as in calibration; the biases are then set in order."""
    def shift(layer: BiasedLayer) -> np.ndarray:
        return bias_shift(model, layer, means[id(layer.float_input)], means[id(layer.layer.outputs[0])], compile_fn)

    with blas_threads(1) as limited, ThreadPoolExecutor(
            (workers or min(2, os.cpu_count() or 1)) if limited else 1, thread_name_prefix="lpir-bias") as pool:
        shifts = list(progress(pool.map(shift, layers), total=len(layers), desc="bias correction"))
    return sum(shift_bias(layer, s, threshold=THRESHOLD) for layer, s in zip(layers, shifts))


def bias_shift(model: Model, biased: BiasedLayer, input_mean: ChannelMean, output_mean: ChannelMean,
               compile_fn) -> np.ndarray:
    """The mean error per output channel of ``biased.layer`` with its quantized weights, run on
    the float model's mean input (float mean output minus this output's mean)."""
    layer = biased.layer
    sub = extract_subgraph(model, [layer.inputs[0].source], [layer.outputs[0]], name=f"{layer.name}/bias_correction")
    declared = layer.inputs[0].source.shape
    shape = tuple(declared) if is_static(declared) else input_mean.shape  # a fixed batch gets the mean in every row
    axis = biased.input_axis % len(shape)
    blob = np.broadcast_to(np.expand_dims(input_mean.result(), tuple(a for a in range(len(shape)) if a != axis)),
                           shape).astype(np.float32)
    quantized = np.asarray(compile_fn(sub)([blob])[0])
    out_axis = biased.output_axis % quantized.ndim
    q_mean = quantized.mean(axis=tuple(a for a in range(quantized.ndim) if a != out_axis), dtype=np.float64)
    return output_mean.result().astype(np.float64) - q_mean


def shift_bias(biased: BiasedLayer, shift: np.ndarray, *, threshold: float, eps: float = 0.0) -> bool:
    """Add ``shift`` (one value per output channel) to the bias of ``biased``, unless the
    largest relative change ``|shift / (bias + eps)|`` reaches ``threshold`` (with ``eps`` 0, any
    zero in the bias rejects the shift: the fast variant's rule; the layer-by-layer one adds
    the float32 epsilon). Returns whether the bias changed."""
    bias = biased.bias.astype(np.float64)
    if shift.size != bias.size:
        return False  # one bias broadcast over several channels: no per-channel correction fits
    shift = np.asarray(shift, np.float64).reshape(bias.shape)
    if eps == 0.0 and np.any(bias == 0):
        return False
    with np.errstate(divide="ignore", invalid="ignore"):  # a bias of exactly -eps: infinitely large, rejected
        magnitude = np.max(np.abs(shift / (bias + eps)), initial=0.0)
    if not magnitude < threshold:
        return False
    port = biased.add.inputs[biased.bias_port]
    etype = port.source.etype
    new_bias = bias + shift
    port.connect(make_constant(new_bias.astype(etype.dtype), etype, name=f"{port.source.node.name}/corrected").outputs[0])
    return True
