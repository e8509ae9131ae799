"""Fast bias correction: give back to each quantized layer's bias the mean shift that weight
quantization introduced (NNCF's FastBiasCorrection).

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
from lpir.ir.subgraph import extract_subgraph
from lpir.ops import lookup
from lpir.progress import Progress, no_progress
from lpir.quantization.placement import constant_outputs
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

    def statistics(self) -> tuple[ChannelMean, ChannelMean]:
        """Mean per channel of the layer's float input and output, to collect in calibration."""
        return ChannelMean(self.input_axis), ChannelMean(self.output_axis)


def find_biased_layers(model: Model, layers: list[Node], constant_value) -> list[BiasedLayer]:
    """Those of ``layers`` whose only consumer adds a constant bias with one channel axis."""
    constant = constant_outputs(model.nodes())
    found = []
    for layer in layers:
        op = lookup(layer.type, layer.opset)
        out = layer.outputs[0]
        if not op.traits.has_bias or len(out.consumers) != 1 or out.rank is None:
            continue
        if len(op.weight_channel_axes(layer.attrs)) > 1:
            continue  # grouped (depthwise) layers: their mean-input correction was measured to hurt, and NNCF skips them
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
    def shifted(layer: BiasedLayer) -> np.ndarray | None:
        return corrected_bias(model, layer, means[id(layer.float_input)], means[id(layer.layer.outputs[0])], compile_fn)

    with blas_threads(1) as limited, ThreadPoolExecutor(
            (workers or min(2, os.cpu_count() or 1)) if limited else 1, thread_name_prefix="lpir-bias") as pool:
        biases = list(progress(pool.map(shifted, layers), total=len(layers), desc="bias correction"))
    for layer, bias in zip(layers, biases):
        if bias is not None:
            set_bias(layer, bias)
    return sum(bias is not None for bias in biases)


def corrected_bias(model: Model, biased: BiasedLayer, input_mean: ChannelMean, output_mean: ChannelMean,
                   compile_fn) -> np.ndarray | None:
    """The bias of ``biased.layer`` shifted by the mean error of its quantized weights; None
    when the correction is rejected by the threshold."""
    layer = biased.layer
    sub = extract_subgraph(model, [layer.inputs[0].source], [layer.outputs[0]], name=f"{layer.name}/bias_correction")
    shape = input_mean.shape
    axis = biased.input_axis % len(shape)
    blob = np.broadcast_to(np.expand_dims(input_mean.result(), tuple(a for a in range(len(shape)) if a != axis)),
                           shape).astype(np.float32)
    quantized = np.asarray(compile_fn(sub)([blob])[0])
    out_axis = biased.output_axis % quantized.ndim
    q_mean = quantized.mean(axis=tuple(a for a in range(quantized.ndim) if a != out_axis), dtype=np.float64)
    shift = output_mean.result().astype(np.float64) - q_mean
    bias = biased.bias.astype(np.float64)
    if shift.size != bias.size:
        return None  # one bias broadcast over several channels: no per-channel correction fits
    if bias.ndim:
        shift = shift.reshape(bias.shape)
    if np.any(bias == 0):
        return None
    new_bias = bias + shift
    if np.max(np.abs((new_bias - bias) / bias)) >= THRESHOLD:
        return None
    return new_bias


def set_bias(biased: BiasedLayer, bias: np.ndarray) -> None:
    """Replace the constant that ``biased.add`` adds by ``bias`` (in the old constant's type)."""
    port = biased.add.inputs[biased.bias_port]
    etype = port.source.etype
    port.connect(make_constant(bias.astype(etype.dtype), etype, name=f"{port.source.node.name}/corrected").outputs[0])
