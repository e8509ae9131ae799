"""The public entry points: read, save, compile. Thin: each forwards to the layer that owns it."""

from __future__ import annotations

import os
from pathlib import Path

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lpir.errors import ValidationError
from lpir.ir.graph import Model

if TYPE_CHECKING:
    from lpir.analysis import CompareReport, ModelReport
    from lpir.compression.weights import WeightSite
    from lpir.io.onnx.exporter import OnnxExport
    from lpir.scope import IgnoredScope
    from lpir.runtime import CompiledModel


def read_model(path: str | os.PathLike, weights: str | os.PathLike | None = None) -> Model:
    """Read an OpenVINO IR (``.xml`` with its ``.bin``) or an ONNX model (``.onnx``).

    IR weights are memory-mapped and decoded only when used.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xml":
        from lpir.io.openvino.reader import read_ir
        return read_ir(path, weights)
    if suffix == ".onnx":
        if weights is not None:
            raise ValidationError(f"{path}: weights= is for IR .bin files; ONNX external data is found "
                                  "beside the model")
        from lpir.io.onnx import import_onnx
        return import_onnx(path)
    raise ValidationError(f"{path}: unknown model format {suffix!r} (expected .xml or .onnx)")


def save_model(model: Model, path: str | os.PathLike, *, compress_to_fp16: bool = False,
               opset: int | None = None, float_fallback: bool = False,
               compress_quantized_weights: bool | None = None) -> OnnxExport | None:
    """Write ``model``, atomically: OpenVINO IR v11 for a ``.xml`` path (the .bin beside it), ONNX
    for a ``.onnx`` path.

    IR: with ``compress_to_fp16`` float weights are stored as f16 and decompressed by a Convert,
    as ``openvino.save_model`` does by default. ONNX: FakeQuantize becomes QuantizeLinear →
    DequantizeLinear and compressed weights stay integers; ``opset`` pins the ONNX opset (default:
    the lowest from 13 on that holds the model) and ``float_fallback`` writes FakeQuantize nodes
    that have no QDQ form as float arithmetic instead of raising; what was written is returned.
    IR: with ``compress_quantized_weights`` FakeQuantize on weights is folded into
    ``Const(i8) → Convert → Multiply(scale)``, as NNCF saves its models; None (the default) does
    it for models made by :func:`lpir.quantize`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if compress_to_fp16:
            raise ValidationError(f"{path}: compress_to_fp16 is for IR; ONNX export keeps f32 weights")
        from lpir.io.onnx.exporter import export_onnx
        return export_onnx(model, path, opset=opset, float_fallback=float_fallback)
    if suffix != ".xml":
        raise ValidationError(f"{path}: unknown model format {suffix!r} (save to .xml for IR or .onnx)")
    if opset is not None or float_fallback:
        raise ValidationError(f"{path}: opset= and float_fallback= are for ONNX (.onnx) paths")
    from lpir.quantization.compressed import compress_quantized_weights as fold, is_quantized_by_lpir
    if compress_quantized_weights or (compress_quantized_weights is None and is_quantized_by_lpir(model)):
        model = fold(model)
    if compress_to_fp16:
        from lpir.compression import compress_weights_to_f16
        model = compress_weights_to_f16(model)
    from lpir.io.openvino.writer import write_ir
    write_ir(model, path)
    return None


def compress_weights(model: Model, *, mode: str = "int8_asym", ratio: float = 1.0,
                     group_size: int | None = None, ignored_scope: IgnoredScope | Iterable[str] | None = None,
                     all_layers: bool = False, backup_mode: str = "int8_asym", dataset=None,
                     sensitivity_metric: str | None = None, subset_size: int = 128,
                     group_size_fallback: str = "error", on_lowered: Callable[[WeightSite], None] | None = None) -> Model:
    """A copy of ``model`` with its float weights stored as int8/int4/nf4, byte for byte as NNCF's
    ``compress_weights`` writes them.

    ``mode``: ``int8_asym`` (default), ``int8_sym`` (per output channel), ``int4_asym``,
    ``int4_sym``, ``nf4`` (groups of ``group_size`` input channels, default 128; -1 per channel).
    ``ratio`` < 1 keeps that share of the eligible weights in ``mode`` (the least sensitive
    ones) and the rest in ``backup_mode``; embeddings, convolutions and the last matrix product
    use the backup mode unless ``all_layers``. Sensitivity is NNCF's: the int8 error of each
    weight, or with a ``dataset`` (:class:`lpir.Dataset` of model inputs, the first
    ``subset_size`` samples run once) also the statistics of its activations per
    ``sensitivity_metric`` (default ``max_activation_variance``; also ``mean_activation_variance``,
    ``mean_activation_magnitude``, ``hessian_input_activation``). ``group_size_fallback`` (error, ignore, adjust)
    handles weights whose channels the group size does not divide. Weights stay lazy: each is lowered when the
    result is saved or run (``on_lowered`` is called then), so ``save_model`` of a compressed
    multi-GB model holds a few tensors at a time. See :mod:`lpir.compression.weights`.
    """
    from lpir.compression.weights import compress_weights as compress
    return compress(model, mode=mode, ratio=ratio, group_size=group_size, ignored_scope=ignored_scope,
                    all_layers=all_layers, backup_mode=backup_mode, dataset=dataset,
                    sensitivity_metric=sensitivity_metric, subset_size=subset_size,
                    group_size_fallback=group_size_fallback,
                    on_lowered=on_lowered)


def compile_model(model: Model | str | os.PathLike, *, fold_constants: bool = True,
                  integer: bool = False, exact: bool = False, sparse_weights_rate: float = 1.0,
                  arithmetic: str = "reference") -> CompiledModel:
    """Prepare a model (or the model at a path) for lpir's reference interpreter.

    The result is callable with inputs by name (dict) or position (list) and returns the
    outputs in model order, also indexable by tensor name. With ``fold_constants`` weight
    decompression subgraphs are computed once, at compile time: faster calls, but compressed
    weights are then held in float (turn it off to keep an int4 model small in memory).

    With ``integer`` the layers whose inputs are quantized run as OpenVINO's CPU runs them:
    u8/i8 × i8 → exact i32 accumulators, dequantized after the layer (``compiled.plan`` says
    which layers and why not the others). A model without FakeQuantize warns and runs in float.
    With ``exact`` the same layers are computed in f64 on their exactly dequantized inputs and
    rounded once to f32: the reference integer mode equals end to end (the default emulation's
    f32 roundings of FakeQuantize outputs and partial sums cross rounding boundaries of later
    FakeQuantizes and make it drift from both). ``arithmetic="openvino-cpu"`` (with ``integer``
    or ``exact``; ``"openvino-cpu-avx2"`` for CPUs without AVX-512, whose convolutions take the
    plugin's legacy post-ops) computes as OpenVINO's CPU plugin does where it departs from the reference:
    it does not round a FakeQuantize between a convolution and a residual Add it fuses into it,
    and computes a FakeQuantize fused after a layer, the layer's dequantization and what lies
    between in the f32 steps of its oneDNN int8 primitive; ``arithmetic="onnxruntime"`` as ONNX
    Runtime runs the model's QDQ export (``save_model`` to .onnx): biases of quantized layers
    rounded to int32 on their accumulator's grid, QuantizeLinear's ``round(x / scale)`` and
    DequantizeLinear's values, ONNX's HardSwish / HardSigmoid formula, the Convs it leaves in
    float and ConvTranspose as its float GEMM (the plan lists the nodes either rewrites;
    :mod:`lpir.runtime.arithmetic`).
    A MatMul whose constant weights hold at least ``sparse_weights_rate`` exact zeros runs a
    sparse kernel, as OpenVINO's ``CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE`` (1.0: off).
    """
    from lpir.runtime import compile_model as compile_
    if not isinstance(model, Model):
        model = read_model(model)
    return compile_(model, fold_constants=fold_constants, integer=integer, exact=exact,
                    sparse_weights_rate=sparse_weights_rate, arithmetic=arithmetic)


def sparsify(model: Model | str | os.PathLike, sparsity: float = 0.5, *, dataset: Iterable | None = None,
             pattern: str = "unstructured", ignored_scope: IgnoredScope | Iterable[str] | None = None) -> Model:
    """A copy of ``model`` with ``sparsity`` of each MatMul/Convolution's weights set to exact zero.

    Without ``dataset`` by magnitude; with one (model inputs, e.g. an ``lpir.Dataset``) by
    ``|W| · ‖X‖`` per output row, the activation norms collected with taps. ``pattern="2:4"``
    keeps 2 of every 4 input features. Layers in ``ignored_scope`` (names or an ``IgnoredScope``) stay dense.
    """
    from lpir.compression.sparsify import sparsify as sparsify_
    if not isinstance(model, Model):
        model = read_model(model)
    return sparsify_(model, sparsity, dataset=dataset, pattern=pattern, ignored_scope=ignored_scope)


def inspect_model(model: Model | str | os.PathLike, *, sparsity: bool = True,
                  progress: Callable[[Iterable], Iterable] | None = None) -> ModelReport:
    """What a model holds: interface, ops, constants by type, FakeQuantize precision,
    compressed weights, which layers run in low precision and weight sparsity.

    Weights are read one tensor at a time (only for ``sparsity``); ``report.to_dict()`` is the
    ``lpir inspect --json`` document. ``progress`` wraps the iteration over weighted layers
    (a progress bar).
    """
    from lpir.analysis import inspect_model as inspect_
    if not isinstance(model, Model):
        model = read_model(model)
    return inspect_(model, sparsity=sparsity, progress=progress)


def compare_models(reference: Model | str | os.PathLike, candidate: Model | str | os.PathLike, dataset: Iterable, *,
                   layers: Iterable[str] | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> CompareReport:
    """Where ``candidate`` (a quantized or compressed version) departs from ``reference``.

    Both run in lpir's interpreter on each sample of ``dataset`` (inputs as a compiled model takes
    them); the layers both have by name get SQNR, cosine similarity and errors relative to the
    reference's range, the FakeQuantize inputs of the candidate the share of values clipped,
    the outputs top-1 agreement. Memory holds one sample's activations. ``report.to_dict()`` is
    the ``lpir compare --json`` document.
    """
    from lpir.analysis import compare_models as compare_
    models = [m if isinstance(m, Model) else read_model(m) for m in (reference, candidate)]
    return compare_(models[0], models[1], dataset, layers=layers, progress=progress)
