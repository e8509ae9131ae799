"""Weight compression to int8/int4/nf4, as NNCF's ``compress_weights`` does it, streamed.

Each float weight of a layer (the ``weight_inputs`` of its op's traits, and constant tables read
by index — embeddings) becomes ``Const(u8|i8|u4|i4|nf4) → Convert(f16) → [Subtract zero point]
→ Multiply(f16 scale) → [Reshape] → [Convert]`` (:func:`lpir.ir.dequantization.make_dequantization`),
with the same layers in the same modes and the same bytes as NNCF 3.4 writes.

Which layer gets which mode (NNCF's rules): layers whose weight reduces over one axis (matrix
products) take the primary mode; convolutions (several reduction axes), embeddings and the last
matrix product take the backup mode unless ``all_layers`` (convolutions always stay 8-bit with a
4-bit mode); int8 modes apply to every layer. With ``ratio < 1`` the least sensitive share of
the primary weights (:mod:`lpir.compression.mixed_precision`) keeps the primary mode; given
calibration data, sensitivity also weighs statistics of each layer's activation input, which
the interpreter's taps collect in one pass over the samples.

Nothing is computed here: the new constants are lazy tensors (:mod:`lpir.compression.lazy`),
lowered when a writer or the interpreter reads them, so
``save_model(compress_weights(read_model(big)), out)`` holds a few tensors at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np

from lpir.compression import mixed_precision
from lpir.compression.lazy import LastLowered, Lowering, LoweredTensor
from lpir.compression.layer_order import layer_order
from lpir.compression.lowering import MODES, Mode
from lpir.errors import LpirWarning, QuantizationError, describe_node
from lpir.ir import types
from lpir.ir.dequantization import dequantization_ending_at, make_dequantization
from lpir.ir.graph import Input, Model, Node, Output
from lpir.ir.passes import clone_model
from lpir.ir.rewrite import NameScope, replace_constant
from lpir.ir.tensor import release_mapped_pages
from lpir.ops.registry import lookup
from lpir.quantization.dataset import Dataset, as_dataset
from lpir.runtime.interpreter import compile_model
from lpir.scope import IgnoredScope, as_ignored_scope

FLOAT_WEIGHT_TYPES = (types.f16, types.bf16, types.f32, types.f64)
BACKUP_MODES = ("int8_asym", "int8_sym", "none")
GROUP_SIZE_FALLBACKS = ("error", "ignore", "adjust")
DEFAULT_GROUP_SIZE = 128
MIN_ADJUSTED_GROUP_SIZE = 32
DEFAULT_SUBSET_SIZE = 128  # NNCF's default number of samples for statistics


@dataclass
class WeightSite:
    """One weight to compress: the layer reading it, the input port, the float Const, its plan."""

    layer: Node
    port: int
    const: Node
    reduction_axes: tuple[int, ...]
    is_table: bool
    shape: tuple[int, ...]
    original_etype: types.ElementType
    mode: Mode | None = None
    group_size: int = -1

    @property
    def name(self) -> str:
        return self.const.name

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_matrix(self) -> bool:
        """A matrix product's weight: one reduction axis (convolutions reduce over several)."""
        return not self.is_table and len(self.reduction_axes) == 1

    def describe(self) -> str:
        return f"weight '{self.name}' {list(self.shape)} of {describe_node(self.layer)}"


def compress_weights(model: Model, *, mode: str = "int8_asym", ratio: float = 1.0, group_size: int | None = None,
                     ignored_scope: IgnoredScope | Iterable[str] | None = None, all_layers: bool = False,
                     backup_mode: str = "int8_asym", dataset: Dataset | Iterable | None = None,
                     sensitivity_metric: str | None = None, subset_size: int = DEFAULT_SUBSET_SIZE,
                     group_size_fallback: str = "error",
                     on_lowered: Callable[[WeightSite], None] | None = None) -> Model:
    """A copy of ``model`` with float weights stored as int8/int4/nf4 codes, NNCF-exact.

    ``mode``: int8_asym, int8_sym (per output channel), int4_asym, int4_sym, nf4 (groups of
    ``group_size`` input channels, default 128; -1 per channel). ``ratio`` (4-bit modes): the
    share of the primary weights kept in ``mode``, the rest in ``backup_mode`` (int8_asym,
    int8_sym or none = float). ``all_layers`` puts embeddings and the last matrix product in
    the primary mode too. ``group_size_fallback`` says what happens to a 4-bit weight whose input
    channels the group size does not divide: ``error`` (QuantizationError naming the layers),
    ``ignore`` (the weight stays float) or ``adjust`` (the largest power of two dividing its
    channels, if at least 32, else the backup mode) — NNCF's GroupSizeFallbackMode.
    ``sensitivity_metric`` ranks the weights for ``ratio < 1`` (NNCF's SensitivityMetric, lower
    case): ``weight_quantization_error`` (the default without ``dataset``), or with ``dataset``
    (an :class:`lpir.Dataset` of model inputs; its first ``subset_size`` samples are run through
    the interpreter once) ``max_activation_variance`` (the default), ``mean_activation_variance``,
    ``mean_activation_magnitude`` or ``hessian_input_activation``.
    ``on_lowered`` is called after each weight is lowered — which happens
    when the result is saved or run, one weight at a time, possibly on a worker thread that
    lowers the next weight while the current one is written.

    Raises QuantizationError for a bad mode, ratio or group size (naming the layers), and, when
    the weights are lowered, for NaN or infinite weights. Warns (:class:`lpir.errors.LpirWarning`)
    and returns the model unchanged when it has no float weights to compress.
    """
    primary, metric = _check_arguments(mode, ratio, group_size, backup_mode, dataset, sensitivity_metric, subset_size)
    if group_size_fallback not in GROUP_SIZE_FALLBACKS:
        raise QuantizationError(f"unknown group_size_fallback {group_size_fallback!r}; expected one of "
                                f"{', '.join(GROUP_SIZE_FALLBACKS)}")
    if group_size is None:
        group_size = -1 if primary.bits == 8 else DEFAULT_GROUP_SIZE
    result = clone_model(model)
    sites = plan_compression(result, primary, ratio=ratio, group_size=group_size,
                             ignored_scope=as_ignored_scope(ignored_scope), all_layers=all_layers,
                             backup=None if backup_mode == "none" else MODES[backup_mode],
                             group_size_fallback=group_size_fallback,
                             scores=None if metric == mixed_precision.WEIGHT_ONLY else
                             partial(_data_aware_scores, dataset=as_dataset(dataset), metric=metric,
                                     subset_size=subset_size))
    compressed = _count_compressed_weights(result)
    if not sites:
        why = (f"its {compressed} compressed weights keep their compression" if compressed
               else "it has no float weights of convolutions, matrix products or embeddings")
        warnings.warn(f"model '{model.name}': nothing to compress, {why}", LpirWarning, stacklevel=3)
        return result
    if compressed:
        warnings.warn(f"model '{model.name}': {compressed} weights already compressed keep their compression",
                      LpirWarning, stacklevel=3)
    cache = LastLowered(on_lowered)
    names = NameScope(result)
    for site in sites:
        _rewrite(site, cache, names)
    cache.order_as({node.uid: i for i, node in enumerate(result.nodes())})
    return result


def _check_arguments(mode, ratio, group_size, backup_mode, dataset, sensitivity_metric, subset_size) -> tuple[Mode, str]:
    if mode not in MODES:
        raise QuantizationError(f"unknown weight compression mode {mode!r}; expected one of {', '.join(MODES)}")
    primary = MODES[mode]
    if not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise QuantizationError(f"ratio={ratio!r} is outside [0, 1]")
    if backup_mode not in BACKUP_MODES:
        raise QuantizationError(f"unknown backup mode {backup_mode!r}; expected one of {', '.join(BACKUP_MODES)}")
    if group_size is not None and (not isinstance(group_size, int) or (group_size <= 0 and group_size != -1)):
        raise QuantizationError(f"group_size={group_size!r}: expected a positive number of channels or -1 (per channel)")
    if primary.bits == 8 and group_size not in (None, -1):
        raise QuantizationError(f"mode {mode} is per output channel; group_size={group_size} applies to 4-bit modes")
    if primary.bits == 8 and ratio != 1:
        raise QuantizationError(f"mode {mode} compresses every weight; ratio={ratio} applies to 4-bit modes")
    if sensitivity_metric is not None and sensitivity_metric not in mixed_precision.METRICS:
        raise QuantizationError(f"unknown sensitivity_metric {sensitivity_metric!r}; expected one of "
                                f"{', '.join(mixed_precision.METRICS)}")
    if dataset is None and sensitivity_metric not in (None, mixed_precision.WEIGHT_ONLY):
        raise QuantizationError(f"sensitivity_metric={sensitivity_metric} needs a dataset of model inputs")
    if not isinstance(subset_size, int) or subset_size < 1:
        raise QuantizationError(f"subset_size={subset_size!r}: expected a positive number of samples")
    default = mixed_precision.WEIGHT_ONLY if dataset is None else mixed_precision.DEFAULT_DATA_AWARE
    metric = sensitivity_metric or default
    if primary.bits == 8 or ratio == 1:
        metric = mixed_precision.WEIGHT_ONLY  # nothing to rank: the data is not needed
    return primary, metric


# -- finding and planning ---------------------------------------------------------------------
def plan_compression(model: Model, primary: Mode, *, ratio: float = 1.0, group_size: int = -1,
                     ignored_scope: IgnoredScope = IgnoredScope(), all_layers: bool = False,
                     backup: Mode | None = MODES["int8_asym"], group_size_fallback: str = "error",
                     scores: Callable[[Model, list[WeightSite]], list[float]] | None = None) -> list[WeightSite]:
    """The weights to compress, each with its mode and group size, in NNCF's layer order.

    ``scores`` ranks the weights that may take the primary mode for ``ratio < 1`` (default:
    NNCF's data-free sensitivity)."""
    ignored = ignored_scope.ignored_names(model)
    layers = [node for node in layer_order(model) if _weight_ports(node)]
    sites: list[WeightSite] = []
    seen: set[int] = set()
    last_skipped = False
    for index, layer in enumerate(layers):
        is_last = index == len(layers) - 1
        for port, is_table in _weight_ports(layer):
            const = _float_const(layer.inputs[port].source)
            if const.uid in seen:
                last_skipped = is_last
                continue
            if layer.name in ignored or const.name in ignored:
                last_skipped = is_last
                continue
            seen.add(const.uid)
            sites.append(WeightSite(layer, port, const, _reduction_axes(layer, port, is_table), is_table,
                                    tuple(const.tensor.shape), const.tensor.etype, mode=backup))
    deciding = _ratio_defining(sites, primary, all_layers, last_skipped)
    sizes = {id(site): -1 if primary.bits == 8 else group_size for site in deciding}
    if group_size_fallback != "error" and primary.bits == 4 and group_size > 0:
        deciding = _fall_back(deciding, group_size, group_size_fallback, sizes)
    for site in deciding:
        site.mode, site.group_size = primary, sizes[id(site)]
    if ratio < 1 and deciding:
        ranks = (scores or _weight_scores)(model, deciding)
        chosen = {id(s) for s in mixed_precision.select_primary(deciding, [s.size for s in deciding], ranks, ratio)}
        for site in deciding:
            if id(site) not in chosen:
                site.mode, site.group_size = backup, -1
    _check_group_sizes(deciding, group_size)
    return [site for site in sites if site.mode is not None]


def _weight_scores(model: Model, sites: list[WeightSite]) -> list[float]:
    return [mixed_precision.sensitivity(site.const.tensor.numpy(), site.reduction_axes[0],
                                        after_block=release_mapped_pages) for site in sites]


def _data_aware_scores(model: Model, sites: list[WeightSite], *, dataset: Dataset, metric: str,
                       subset_size: int) -> list[float]:
    """NNCF's data-aware sensitivity of each site: statistics of the matrix products' activation
    inputs, gathered through taps in one pass over the first ``subset_size`` samples."""
    activations = {id(site): _activation_input(site) for site in sites if not site.is_table}
    figures: dict[Output, list[float]] = {out: [] for out in activations.values()}
    compiled = compile_model(model)
    taps = compiled.tap(list(figures), lambda out, value: figures[out].append(
        mixed_precision.activation_figure(metric, value)))
    for sample in dataset.take(subset_size):
        compiled(sample, taps=taps)
    if not all(figures.values()):
        raise QuantizationError(f"sensitivity_metric={metric}: the dataset gave no samples")
    frobenius = metric == "hessian_input_activation"
    result = []
    for site in sites:
        if site.is_table:
            result.append(0.0)  # no activation statistics: an embedding takes the primary mode first
            continue
        weight = mixed_precision.sensitivity(site.const.tensor.numpy(), site.reduction_axes[0], frobenius=frobenius,
                                             after_block=release_mapped_pages)
        result.append(weight * mixed_precision.activation_score(metric, figures[activations[id(site)]]))
    return result


def _activation_input(site: WeightSite) -> Output:
    """The tensor a matrix product multiplies its weight with (its first input not fed by a weight)."""
    port = next(p for p in range(len(site.layer.inputs)) if p != site.port)
    source = site.layer.inputs[port].source
    if source.rank is not None and source.rank < 2:
        raise QuantizationError(f"{site.describe()}: data-aware sensitivity needs an activation of rank 2 or more, "
                                f"got rank {source.rank}")
    return source


def _weight_ports(layer: Node) -> list[tuple[int, bool]]:
    """(port, is_table) of the inputs of ``layer`` fed by a float constant weight."""
    op = lookup(layer.type, layer.opset)
    if op is None:
        return []
    ports = [(p, False) for p in op.traits.weight_inputs] + [(p, True) for p in op.traits.table_inputs]
    return [(p, t) for p, t in ports if p < len(layer.inputs) and _float_const(layer.inputs[p].source) is not None]


def _float_const(source: Output) -> Node | None:
    """The float Const behind a weight input (directly, or through a Convert as in f16 models)."""
    node = source.node
    if node.type == "Convert" and node.inputs:
        node = node.inputs[0].source.node
    if node.type != "Const" or node.tensor is None or node.tensor.etype not in FLOAT_WEIGHT_TYPES:
        return None
    if len(node.tensor.shape) == 0:
        return None
    return node


def _reduction_axes(layer: Node, port: int, is_table: bool) -> tuple[int, ...]:
    """Axes statistics are taken over: all but the output-channel axes (an embedding: its rows)."""
    rank = len(_float_const(layer.inputs[port].source).tensor.shape)
    if is_table:
        channels = {0}
    else:
        op = lookup(layer.type, layer.opset)
        axes = op.weight_channel_axes(op.resolved_attrs(layer.attrs, layer.name))
        channels = {axis % rank for axis in axes}
        if axes and all(axis < 0 for axis in axes):  # counted from the end: leading axes are batch axes
            channels |= set(range(rank - 2))
    return tuple(axis for axis in range(rank) if axis not in channels)


def _ratio_defining(sites: list[WeightSite], primary: Mode, all_layers: bool, last_skipped: bool) -> list[WeightSite]:
    """The weights that may take the primary mode (NNCF's "ratio-defining" weights)."""
    if primary.bits == 8:
        return list(sites)
    matrices = [site for site in sites if site.is_matrix]
    if not all_layers and not last_skipped:
        matrices = matrices[:-1]
    if all_layers:
        matrices += [site for site in sites if site.is_table and len(site.reduction_axes) == 1]
    return matrices


def _fall_back(sites: list[WeightSite], group_size: int, how: str, sizes: dict[int, int]) -> list[WeightSite]:
    """The sites that keep the primary mode when the group size does not divide every weight's
    channels (``sizes`` gets adjusted group sizes); ignored weights leave the plan."""
    kept = []
    for site in sites:
        channels = site.shape[site.reduction_axes[0]]
        if channels % group_size == 0:
            kept.append(site)
        elif how == "ignore":
            site.mode = None
        elif (adjusted := channels & -channels) >= MIN_ADJUSTED_GROUP_SIZE:
            sizes[id(site)] = adjusted
            kept.append(site)
    return kept


def _check_group_sizes(sites: list[WeightSite], group_size: int) -> None:
    bad = [site for site in sites if site.mode is not None and site.group_size > 0
           and site.shape[site.reduction_axes[0]] % site.group_size]
    if bad:
        listed = "; ".join(f"{s.describe()}: {s.shape[s.reduction_axes[0]]} input channels" for s in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise QuantizationError(f"group size {group_size} does not divide the input channels of {len(bad)} "
                                f"weight(s): {listed}{more}; choose a divisor, group_size=-1 (per channel) or "
                                "group_size_fallback='adjust'|'ignore'")


def _count_compressed_weights(model: Model) -> int:
    count = 0
    for node in model.nodes():
        op = lookup(node.type, node.opset)
        for port in (op.traits.weight_inputs if op else ()):
            if port < len(node.inputs):
                match = dequantization_ending_at(node.inputs[port].source)
                count += match is not None and match.is_weight
    return count


# -- rewriting ------------------------------------------------------------------------------
def _rewrite(site: WeightSite, cache: LastLowered, names: NameScope) -> None:
    """Replace the site's float Const by its codes and the dequantization subgraph."""
    const = site.const
    data: Output = const.outputs[0]
    consumers = list(data.consumers)
    original = const.tensor
    needs_convert = original.etype != types.f16 and any(c.node.type != "Convert" for c in consumers)
    job = Lowering(site, original, cache)
    replace_constant(const, LoweredTensor(job, "codes"))
    zero_point = LoweredTensor(job, "zero_point") if site.mode.has_zero_point else None
    grouped = job.shape != tuple(original.shape)
    dq = make_dequantization(data, LoweredTensor(job, "scale"), zero_point, name=const.name, port=site.port,
                             out_shape=tuple(original.shape) if grouped else None,
                             out_etype=original.etype if needs_convert else None, names=names)
    for port in consumers:
        _reconnect(port, dq.output)
    if data.names:
        dq.output.names, data.names = list(data.names), []


def _reconnect(port: Input, output: Output) -> None:
    """Feed ``port`` from ``output``; a Convert to the type ``output`` already has is skipped (NNCF)."""
    node = port.node
    if node.type == "Convert" and node.outputs[0].etype == output.etype:
        for inner in list(node.outputs[0].consumers):
            _reconnect(inner, output)
        return
    port.connect(output)
