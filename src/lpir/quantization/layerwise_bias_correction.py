"""Bias correction layer by layer (NNCF's BiasCorrection, ``fast_bias_correction=False``).

The fast variant judges each layer alone, on a mean input. This one replays the calibration
samples through the model with quantized weights (activations in float, as NNCF removes the
activation quantizers for it), one biased layer at a time in topological order: the part of
the model from the tensors already computed to the layer's output gives the layer's mean
output per channel with quantized weights; its difference from the float model's mean is
added to the bias, and the same part, now corrected, computes the inputs of the next biased
layers. Each layer thus sees the errors of the quantized, already-corrected layers before it.

Cut points are the (float) inputs of the corrected layers and the model's inputs, as NNCF's;
the subgraph of a layer ends at the inputs of the biased layers it reaches first. A tensor
that several layers reach (the input of the layer after a squeeze-and-excitation block,
reached from the block's main branch and from its excitation branch) is computed once, by
the first of them, and carried on as it is: the corrections made later on the other branches
do not reach it. This is NNCF's behaviour, kept so the corrected biases are NNCF's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpir.ir.graph import Model, Node, Output
from lpir.ir.rewrite import bypass
from lpir.ir.subgraph import extract_subgraph
from lpir.progress import Progress, no_progress
from lpir.quantization.bias_correction import BiasedLayer, shift_bias
from lpir.quantization.calibration import has_open_batch
from lpir.quantization.placement import constant_outputs
from lpir.quantization.statistics import ChannelMean, FirstCalls, Values

THRESHOLD = 1000.0  # largest accepted |shift / bias|, NNCF's BIAS_CORRECTION_THRESHOLD
SUBSET_FRACTION = 0.2  # share of the calibration samples replayed (NNCF's choice: it is slow)
EPS = float(np.finfo(np.float32).eps)


def replayed_samples(subset_size: int) -> int:
    """Calibration calls the correction replays for ``subset_size`` (NNCF's rule)."""
    return max(int(subset_size * SUBSET_FRACTION), 1)


@dataclass
class _Step:
    """One layer's turn: the tensors its subgraph starts from and those it hands on."""

    biased: BiasedLayer
    inputs: list[Output]
    outputs: list[Output]


class LayerwiseBiasCorrection:
    """Plans the replay of ``biased`` layers of ``model`` (weights not yet quantized) and, after
    calibration and quantization, :meth:`run` corrects their biases."""

    def __init__(self, model: Model, biased: list[BiasedLayer], calls: int):
        order = {node.uid: i for i, node in enumerate(model.nodes())}
        self.biased = sorted(biased, key=lambda b: order[b.layer.uid])
        self.calls = calls
        self.starts = [p.outputs[0] for p in model.parameters] + _first_inputs(model, self.biased)
        by_call = not has_open_batch(model)  # calibration stacks samples only where the batch is open
        self.float_means = {id(b.layer.outputs[0]): FirstCalls(ChannelMean(b.output_axis), calls, by_call)
                            for b in self.biased}
        self.replayed = {id(out): FirstCalls(Values(), calls, by_call) for out in self.starts}

    def observed(self) -> list[tuple[Output, FirstCalls]]:
        """What calibration collects: each layer's float output mean, the float start tensors."""
        return ([(b.layer.outputs[0], self.float_means[id(b.layer.outputs[0])]) for b in self.biased]
                + [(out, self.replayed[id(out)]) for out in self.starts])

    def run(self, model: Model, compile_fn, progress: Progress = no_progress) -> list[str]:
        """Correct the biases in ``model`` (weights quantized now); returns the corrected layers."""
        steps = self._plan(model)
        last_use = {id(out): i for i, step in enumerate(steps) for out in step.inputs}
        store = {key: values.statistic.items for key, values in self.replayed.items()}
        counts = next(iter(self.replayed.values())).statistic.counts  # samples per replayed call
        corrected = []
        for index, step in enumerate(progress(steps, total=len(steps), desc="bias correction")):
            layer_out = step.biased.layer.outputs[0]
            feeds = [store[id(out)] for out in step.inputs]
            head = _weights_only(extract_subgraph(model, step.inputs, [layer_out], name=f"{step.biased.layer.name}/bias"))
            compiled = compile_fn(head)
            quantized, mean = [], ChannelMean(step.biased.output_axis)
            for count, call in zip(counts, zip(*feeds)):
                value = np.asarray(compiled(list(call))[0])
                quantized.append(value)
                mean.update(value, batch_axis=0 if count > 1 else None)
            shift = self.float_means[id(layer_out)].statistic.result().astype(np.float64) - mean.result().astype(np.float64)
            if shift_bias(step.biased, shift, threshold=THRESHOLD, eps=EPS):
                corrected.append(step.biased.layer.name)
            if step.outputs:
                tail = _weights_only(extract_subgraph(model, [*step.inputs, layer_out], step.outputs,
                                                      name=f"{step.biased.layer.name}/bias_next"))
                compiled = compile_fn(tail)
                results = [compiled([*call, q]) for *call, q in zip(*feeds, quantized)]
                for i, out in enumerate(step.outputs):
                    store[id(out)] = [np.asarray(r[i]) for r in results]
            for key in [k for k in store if last_use.get(k, -1) <= index]:
                del store[key]
        return corrected

    def _plan(self, model: Model) -> list[_Step]:
        """Each layer's subgraph: its outputs are the inputs (not computed yet) of the biased
        layers it reaches first; it starts from tensors already computed (the model's inputs,
        the starts, the outputs of earlier steps)."""
        constant = constant_outputs(model.nodes())
        cuts = {b.layer.uid: b for b in self.biased}
        available = {id(out) for out in self.starts}
        steps = []
        for biased in self.biased:
            outputs = [out for out in _reached_inputs(biased.layer, cuts) if id(out) not in available]
            wanted = {id(out) for out in outputs}
            inputs = _frontier([biased.layer.outputs[0], *outputs], available - wanted, constant)
            steps.append(_Step(biased, inputs, outputs))
            available |= wanted
        return steps


def _reached_inputs(layer: Node, cuts: dict[int, BiasedLayer]) -> list[Output]:
    """The float inputs of the biased layers found first downstream of ``layer`` (``cuts``: by
    layer uid)."""
    found: dict[int, Output] = {}
    seen: set[int] = set()
    queue = [port.node for out in layer.outputs for port in out.consumers]
    while queue:
        node = queue.pop()
        if node.uid in seen:
            continue
        seen.add(node.uid)
        if node.uid in cuts:
            found.setdefault(id(cuts[node.uid].float_input), cuts[node.uid].float_input)
            continue
        queue.extend(port.node for out in node.outputs for port in out.consumers)
    return list(found.values())


def _frontier(outputs: list[Output], available: set[int], constant: set[int]) -> list[Output]:
    """The available tensors that computing ``outputs`` starts from (walking up the graph)."""
    found: dict[int, Output] = {}
    seen: set[int] = set()
    stack = list(outputs)
    while stack:
        out = stack.pop()
        if id(out) in seen or id(out) in constant:
            continue
        seen.add(id(out))
        if id(out) in available:
            found[id(out)] = out
            continue
        stack.extend(port.source for port in out.node.inputs)
    return list(found.values())


def _first_inputs(model: Model, biased: list[BiasedLayer]) -> list[Output]:
    """Float inputs of the layers no biased layer lies above: NNCF replays them as computed by
    the float model (whatever weights lie between them and the model's inputs)."""
    below: set[int] = set()  # nodes downstream of a biased layer
    layers = {b.layer.uid for b in biased}
    for node in model.nodes():
        if any(port.source.node.uid in below or port.source.node.uid in layers for port in node.inputs):
            below.add(node.uid)
    return [b.float_input for b in biased if b.float_input.node.uid not in below and b.float_input.node.type != "Parameter"]


def _weights_only(sub: Model) -> Model:
    """``sub`` without its activation quantizers (those on computed tensors, not constants)."""
    constant = constant_outputs(sub.nodes())
    for node in sub.nodes():
        if node.type == "FakeQuantize" and id(node.inputs[0].source) not in constant:
            bypass(node)
    return sub
