"""``lpir.quantize``: a float model in, the same model with FakeQuantize on the inputs of every
low-precision layer out, in three steps: plan (placement), collect (one interpreter pass over
the calibration data, every statistic at once through taps), apply (ranges, rewrite, bias
correction). The input model is left unchanged."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lpir.errors import QuantizationError, ValidationError, describe_node
from lpir.ir.graph import Model, Output, RtEntry, make_constant
from lpir.ir.passes import clone_model
from lpir.ir.rewrite import NameScope, insert_after, layer_name
from lpir.ir.subgraph import tensor_label
from lpir.ops import build
from lpir.progress import Progress, no_progress
from lpir.quantization import bias_correction, math, mse_range, smooth_quant
from lpir.quantization.calibration import calibration_pass
from lpir.quantization.dataset import as_dataset
from lpir.quantization.histogram import Histogram
from lpir.quantization.ignored_patterns import ignored_by_patterns
from lpir.quantization.layerwise_bias_correction import LayerwiseBiasCorrection, replayed_samples
from lpir.quantization.placement import ActivationQuantizer, QuantizationPlan, plan_quantization
from lpir.quantization.statistics import ChannelMean, ChannelMinMax, FirstCalls, MeanMinMax
from lpir.runtime.constants import fold_constant
from lpir.scope import IgnoredScope

PRESETS = ("performance", "mixed")
MODEL_TYPES = (None, "transformer")
OVERFLOW_FIX = ("first_layer", "enable", "disable")
# advanced option → its accepted values, the first being the default
ADVANCED = {"overflow_fix": OVERFLOW_FIX,
            "activations_range_estimator_params": ("histogram", "mean_minmax"),
            "weights_range_estimator_params": ("mse", "minmax")}
# NNCF's range setting, to pass as ``advanced`` for NNCF's model
NNCF_RANGES = {"activations_range_estimator_params": "mean_minmax", "weights_range_estimator_params": "minmax"}


@dataclass
class Calibration:
    """Everything collected in the calibration pass (an observer of
    :func:`lpir.quantization.calibration.calibration_pass`)."""

    activations: dict[int, MeanMinMax] = field(default_factory=dict)   # id(output) → per-tensor stats
    channels: dict[int, ChannelMinMax] = field(default_factory=dict)   # id(output) → per-channel stats
    means: dict[int, ChannelMean | FirstCalls] = field(default_factory=dict)  # bias corrections
    histograms: dict[int, Histogram] = field(default_factory=dict)  # id(output) → all its values
    samples: int = 0

    def fresh(self) -> Calibration:
        return Calibration(*({key: stat.empty() for key, stat in table.items()}
                             for table in (self.activations, self.channels, self.means, self.histograms)))

    def absorb(self, other: Calibration) -> None:
        for mine, theirs in ((self.activations, other.activations), (self.channels, other.channels),
                             (self.means, other.means), (self.histograms, other.histograms)):
            for key, stat in theirs.items():
                mine[key].absorb(stat)

    def observe(self, output: Output, value: np.ndarray, index: int, batch: int) -> None:
        axis = 0 if batch > 1 and value.ndim and value.shape[0] == batch else None
        minmax = self.activations.get(id(output))
        if minmax is not None:
            before = minmax.count
            minmax.update(value, batch_axis=axis)
            finite = np.isfinite(np.add(minmax.mins[before:], minmax.maxs[before:]))
            if not finite.all():
                raise _not_finite(output, index + int(np.argmin(finite)))
        channels = self.channels.get(id(output))
        if channels is not None:
            channels.update(value)
            if not (np.isfinite(channels.low).all() and np.isfinite(channels.high).all()):
                rows = np.isfinite(value.reshape(value.shape[0], -1)).all(axis=1) if axis is not None else [False]
                raise _not_finite(output, index + int(np.argmin(rows)))
        histogram = self.histograms.get(id(output))
        if histogram is not None:
            histogram.update(value)
        mean = self.means.get(id(output))
        if mean is not None:
            mean.update(value, batch_axis=axis if axis is not None else (0 if value.ndim and value.shape[0] == 1 else None))


def quantize(model: Model | str | os.PathLike, calibration_dataset: Iterable[Any], *, preset: str | None = None,
             target_device: str = "CPU", subset_size: int = 300, fast_bias_correction: bool | None = True,
             model_type: str | None = None, ignored_scope: IgnoredScope | None = None,
             advanced: dict[str, Any] | None = None, progress: Progress = no_progress) -> Model:
    """Quantize ``model`` to INT8 for OpenVINO's CPU, as ``nncf.quantize`` does.

    ``preset``: ``"performance"`` (symmetric activations) or ``"mixed"`` (asymmetric
    activations); None picks mixed for ``model_type="transformer"``, else performance.
    ``subset_size``: calibration samples used (the first ones). ``fast_bias_correction``: True
    corrects biases after quantization (FastBiasCorrection), False layer by layer on replayed
    samples (BiasCorrection: slower, sees the errors of the layers above), None leaves them.
    ``advanced``: ``overflow_fix`` (``"first_layer"`` as NNCF, ``"enable"``, ``"disable"``);
    ``activations_range_estimator_params``: ``"histogram"`` (the default: the range of least
    squared error over a histogram of all calibration values, per-tensor quantizers only) or
    ``"mean_minmax"`` (NNCF's); ``weights_range_estimator_params``: ``"mse"`` (the default: each
    channel's limit searched for the least output error, see ``mse_range.weight_limits``;
    half-range weights keep theirs) or ``"minmax"`` (NNCF's). ``advanced=NNCF_RANGES`` gives
    NNCF's ranges, and with them NNCF's model. Returns a new model; a model with nothing to
    quantize comes back unchanged (as a copy) with a warning.
    """
    advanced = dict(advanced or {})
    _check_arguments(preset, target_device, subset_size, model_type, fast_bias_correction, advanced)
    if not isinstance(model, Model):
        from lpir.api import read_model
        model = read_model(model)
    preset = preset or ("mixed" if model_type == "transformer" else "performance")
    work = clone_model(model)
    ignored = ({name: "in the ignored scope" for name in ignored_scope.ignored_names(work)}
               if ignored_scope is not None else {})
    dataset = as_dataset(calibration_dataset)
    if model_type == "transformer":
        _smooth_quant(work, ignored, dataset, subset_size, progress)
    by_patterns = ignored_by_patterns(work, transformer=model_type == "transformer")
    plan = plan_quantization(work, symmetric_activations=preset == "performance", transformer=model_type == "transformer",
                             ignored={**by_patterns, **ignored}, overflow_fix=advanced.get("overflow_fix", "first_layer"))
    if plan.is_empty:
        warnings.warn(f"model '{model.name}' has no layer to quantize; it is returned unchanged", stacklevel=2)
        return work
    weighted = list(dict.fromkeys(w.layer for w in plan.weights))
    biased = bias_correction.find_biased_layers(work, weighted, fold_constant) if fast_bias_correction else []
    layerwise = None
    if fast_bias_correction is False:
        layerwise = LayerwiseBiasCorrection(
            work, bias_correction.find_biased_layers(work, weighted, fold_constant, depthwise=True),
            replayed_samples(subset_size))
    estimator = advanced.get("activations_range_estimator_params", ADVANCED["activations_range_estimator_params"][0])
    stats = collect(work, plan, [*biased, *([layerwise] if layerwise else [])], dataset, subset_size, progress,
                    histograms=estimator == "histogram")
    apply(work, plan, stats, weights=advanced.get("weights_range_estimator_params", ADVANCED["weights_range_estimator_params"][0]))
    bias_correction.correct_biases(work, biased, stats.means, _compile, progress)
    if layerwise is not None:
        layerwise.run(work, _compile, progress)
    _record(work, preset=preset, subset_size=subset_size, fast_bias_correction=fast_bias_correction,
            model_type=model_type, ignored_scope=ignored_scope, advanced=advanced, samples=stats.samples)
    return work


def _record(model: Model, **settings) -> None:
    """Note the call in the model's rt_info (as NNCF does), so saving knows to compress weights."""
    from lpir import __version__
    entries = [RtEntry(key, {"value": str(value)}) for key, value in sorted(settings.items())]
    model.rt_info = [e for e in model.rt_info if e.tag != "lpir"]
    model.rt_info.append(RtEntry("lpir", children=[RtEntry("quantization", children=entries),
                                                   RtEntry("version", {"value": __version__})]))


def _smooth_quant(model: Model, ignored: dict[str, str], dataset, subset_size: int, progress: Progress) -> None:
    """SmoothQuant's own calibration pass (it changes the activations the ranges are set on)."""
    groups = smooth_quant.smoothing_groups(model, ignored)
    if not groups:
        return
    wanted = {id(g.source): (g.source, g.channel_axis) for g in groups}
    stats = collect(model, QuantizationPlan(), [], dataset, subset_size, progress, channel_abs_max=wanted)
    smooth_quant.smooth(model, groups, stats.channels, fold_constant)


def _check_arguments(preset, target_device, subset_size, model_type, fast_bias_correction, advanced) -> None:
    if preset is not None and preset not in PRESETS:
        raise ValidationError(f"preset={preset!r}: expected one of {PRESETS}")
    if str(target_device).upper() not in ("CPU", "ANY"):
        raise ValidationError(f"target_device={target_device!r}: lpir quantizes for 'CPU' (or 'ANY')")
    if not isinstance(subset_size, int) or subset_size < 1:
        raise ValidationError(f"subset_size={subset_size!r}: must be an integer of at least 1")
    if model_type not in MODEL_TYPES:
        raise ValidationError(f"model_type={model_type!r}: expected None or 'transformer'")
    unknown = set(advanced) - set(ADVANCED)
    if unknown:
        raise ValidationError(f"advanced: unknown option(s) {sorted(unknown)}; known: {sorted(ADVANCED)}")
    for key, accepted in ADVANCED.items():
        if advanced.get(key, accepted[0]) not in accepted:
            raise ValidationError(f"advanced {key}={advanced[key]!r}: expected one of {accepted}")


def _compile(model: Model):
    from lpir.runtime import compile_model
    return compile_model(model)


# -- collect ----------------------------------------------------------------------------------
def collect(model: Model, plan: QuantizationPlan, observers, dataset, subset_size: int,
            progress: Progress = no_progress, channel_abs_max: dict[int, tuple[Output, int]] | None = None,
            histograms: bool = False) -> Calibration:
    """Run the float model over the calibration samples, feeding every statistic through taps.

    ``channel_abs_max``: extra tensors (id → (output, channel axis)) whose per-channel extrema
    are wanted (SmoothQuant's statistics), gathered into ``Calibration.channels``.
    ``observers``: bias corrections, whose ``observed()`` pairs (output, statistic) are fed
    here too and kept in ``Calibration.means``.
    """
    stats = Calibration()
    targets: dict[int, Output] = {}
    for quantizer in plan.activations:
        if quantizer.per_channel:
            stats.channels[id(quantizer.output)] = ChannelMinMax((1,))
        else:
            stats.activations[id(quantizer.output)] = MeanMinMax()
            if histograms:
                stats.histograms[id(quantizer.output)] = Histogram()
        targets[id(quantizer.output)] = quantizer.output
    for key, (out, axis) in (channel_abs_max or {}).items():
        stats.channels[key] = ChannelMinMax((axis,))
        targets[key] = out
    for observer in observers:
        for out, mean in observer.observed():
            stats.means.setdefault(id(out), mean)
            targets[id(out)] = out
    stats.samples = calibration_pass(model, list(targets.values()), stats, dataset, subset_size, progress)
    return stats


def _not_finite(output: Output, index: int) -> QuantizationError:
    return QuantizationError(f"calibration sample {index}: tensor '{tensor_label(output)}' of "
                             f"{describe_node(output.node)} holds NaN or infinity; ranges cannot be set")


# -- apply ------------------------------------------------------------------------------------
def apply(model: Model, plan: QuantizationPlan, stats: Calibration, weights: str = "minmax") -> None:
    """Insert the planned FakeQuantize nodes with ranges from ``stats`` and the weights
    (``weights="mse"``: each channel's limit is searched for the least output error, see
    ``mse_range.weight_limits``, instead of holding its largest weight)."""
    names = NameScope(model)
    for group in plan.groups():
        params = _group_params(group, stats)
        for quantizer in group:
            _insert_activation(model, names, quantizer, params)
    for weight in plan.weights:
        value = fold_constant(weight.weight)
        minmax = ChannelMinMax(tuple(a % value.ndim for a in weight.channel_axes) if value.ndim else ())
        minmax.update(value.astype(np.float32))
        abs_high = minmax.abs_high
        if weights == "mse" and value.ndim and not weight.half_range:  # half-range weights keep headroom
            abs_high = mse_range.weight_limits(value, minmax.channel_axes, levels=math.WEIGHT_LEVELS)
        params = math.weight_params(minmax.low, abs_high, half_range=weight.half_range)
        name = names.make(f"{layer_name(weight.layer)}/fq_weights_{weight.port}")
        fq = _fake_quantize(weight.weight, params, name)
        weight.layer.inputs[weight.port].connect(fq.outputs[0])


def _group_params(group: list[ActivationQuantizer], stats: Calibration) -> math.FakeQuantizeParams:
    """One range for quantizers that must share it: the widest of their statistics."""
    if all(q.per_channel for q in group):
        merged = stats.channels[id(group[0].output)]
        for q in group[1:]:
            merged = merged.merge(stats.channels[id(q.output)])
        return math.activation_params(merged.low, merged.high, merged.abs_high, symmetric=any(q.symmetric for q in group))
    results = [stats.activations[id(q.output)].result() for q in group]
    symmetric = any(q.symmetric for q in group)
    if id(group[0].output) in stats.histograms:
        return _histogram_params(group, stats, min(r[0] for r in results), symmetric)
    low = min(r[0] for r in results)
    high = max(r[1] for r in results)
    abs_high = max(r[2] for r in results)
    return math.activation_params(low, high, abs_high, symmetric=any(q.symmetric for q in group))


def _histogram_params(group: list[ActivationQuantizer], stats: Calibration, mean_low: float,
                      symmetric: bool) -> math.FakeQuantizeParams:
    """The range of least squared error over the group's merged histograms (signedness, as
    NNCF decides it, from the mean of the per-sample minima)."""
    histogram = stats.histograms[id(group[0].output)]
    for q in group[1:]:
        histogram = histogram.merge(stats.histograms[id(q.output)])
    levels = math.ACTIVATION_LEVELS
    if symmetric:
        high = mse_range.symmetric_limit(histogram, signed=mean_low < 0, levels=levels)
        return math.activation_params(mean_low, high, high, symmetric=True)
    low, high = mse_range.asymmetric_limits(histogram, levels=levels)
    return math.activation_params(low, high, max(-low, high), symmetric=False)


def _insert_activation(model: Model, names: NameScope, quantizer: ActivationQuantizer,
                       params: math.FakeQuantizeParams) -> None:
    out = quantizer.output
    if quantizer.covers_all_consumers:
        name = names.make(f"{layer_name(out.node)}/fq_output_{out.index}")
    else:
        port = quantizer.ports[0]
        name = names.make(f"{layer_name(port.node)}/fq_input_{port.index}")
    fq = _fake_quantize(out, params, name)
    insert_after(out, fq, consumers=None if quantizer.covers_all_consumers else quantizer.ports)


def _fake_quantize(source: Output, params: math.FakeQuantizeParams, name: str):
    dtype = source.etype.dtype
    limits = [make_constant(np.asarray(value, dtype), name=f"{name}/{label}").outputs[0]
              for value, label in ((params.low, "input_low"), (params.high, "input_high"),
                                   (params.low, "output_low"), (params.high, "output_high"))]
    return build("FakeQuantize", [source, *limits], {"levels": params.levels, "auto_broadcast": "numpy"}, name=name)
