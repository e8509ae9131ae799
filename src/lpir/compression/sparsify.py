"""Making sparse models: zeros written into the weights, no mask (facts §5).

Per layer, the weights with the lowest score are set to exactly zero:

* without data, the score is the magnitude ``|W|``, ranked over the whole layer;
* with calibration data, the score is ``|W_ij| · ‖X_j‖``, the weight's magnitude times the norm
  of the input feature it multiplies over the calibration set, ranked within each output row
  ("Wanda", Sun et al. 2023: pruning by weights and activations). The norms are collected in one
  pass of the interpreter with taps on the layers' inputs.

``pattern="2:4"`` (any ``N:M``) keeps the best ``M - N`` of every ``M`` consecutive input
features of a row instead, which hardware with structured-sparsity units can use. The result is
an ordinary model (only zeros change), so sparsify-then-quantize keeps the zeros: 0 maps to 0
under symmetric weight quantization.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from lpir.errors import ValidationError, describe_node
from lpir.ir.graph import Model, Node
from lpir.ir.passes import clone_model
from lpir.ir.rewrite import replace_constant
from lpir.ops import lookup
from lpir.scope import IgnoredScope, as_ignored_scope


def sparsify(model: Model, sparsity: float = 0.5, *, dataset: Iterable[Any] | None = None,
             pattern: str = "unstructured", ignored_scope: IgnoredScope | Iterable[str] | None = None) -> Model:
    """A copy of ``model`` whose MatMul and Convolution weights hold ``sparsity`` exact zeros.

    ``dataset``: model inputs (each what ``compiled(inputs)`` takes) for the data-aware score;
    ``pattern``: ``"unstructured"`` or ``"N:M"`` (e.g. ``"2:4"``: 2 zeros in every 4 input
    features); ``ignored_scope``: layers left dense (an :class:`~lpir.scope.IgnoredScope` or names).
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValidationError(f"sparsity={sparsity} must be in [0, 1)")
    structure = _parse_pattern(pattern)
    model = clone_model(model)
    ignored = as_ignored_scope(ignored_scope).ignored_names(model)
    layers = [(node, const) for node in model.nodes() if node.name not in ignored
              for const in [_float_weight(node)] if const is not None]
    norms = _input_norms(model, [node for node, _ in layers], dataset) if dataset is not None else {}
    for node, const in layers:
        matrix, restore = _as_rows(node, const.tensor.numpy())
        score = np.abs(matrix).astype(np.float64)
        if node.name in norms:
            score *= _feature_norms(node, norms[node.name], matrix.shape[1])[None, :]
        if structure is not None:
            keep = _n_of_m(node, score, *structure)
        elif node.name in norms:
            keep = _per_row(score, sparsity)
        else:
            keep = _per_layer(score, sparsity)
        replace_constant(const, restore(np.where(keep, matrix, 0).astype(matrix.dtype)))
    return model


def _parse_pattern(pattern: str) -> tuple[int, int] | None:
    if pattern == "unstructured":
        return None
    match = re.fullmatch(r"(\d+):(\d+)", pattern)
    if not match or not 0 < int(match[1]) < int(match[2]):
        raise ValidationError(f"pattern={pattern!r} must be 'unstructured' or 'N:M' with 0 < N < M (e.g. '2:4')")
    return int(match[1]), int(match[2])


def _float_weight(node: Node) -> Node | None:
    """The float Const holding the weights of a MatMul or (non-grouped) Convolution, if any."""
    op = lookup(node.type, node.opset)
    if op is None or op.traits.weight_inputs != (1,) or node.type not in ("MatMul", "Convolution"):
        return None
    source = node.inputs[1].source.node
    if source.type == "Const" and source.tensor is not None and source.tensor.etype.is_float \
            and len(source.outputs[0].consumers) == 1 and len(source.tensor.shape) >= 2:
        return source
    return None


def _as_rows(node: Node, weights: np.ndarray):
    """Weights as ``[outputs, input features]`` (features: input channels last-varying for
    convolutions: ``[C_OUT, taps, C_IN]``), and the function that puts such a matrix back."""
    if node.type == "MatMul":
        transposed = node.attrs.get("transpose_b", False) in (True, "true")
        matrix = weights if transposed else np.swapaxes(weights, -1, -2)
        matrix2 = matrix.reshape(-1, matrix.shape[-1])
        return matrix2, lambda m: (m.reshape(matrix.shape) if transposed else np.swapaxes(m.reshape(matrix.shape), -1, -2))
    out, cin = weights.shape[:2]
    moved = np.moveaxis(weights, 1, -1)  # [C_OUT, k..., C_IN]
    return moved.reshape(out, -1), lambda m: np.moveaxis(m.reshape(moved.shape), -1, 1)


def _feature_norms(node: Node, channel_norms: np.ndarray, features: int) -> np.ndarray:
    """One norm per input feature of the row layout (convolutions repeat a channel's per tap)."""
    return np.tile(channel_norms, features // channel_norms.size)


def _input_norms(model: Model, layers: list[Node], dataset: Iterable[Any]) -> dict[str, np.ndarray]:
    """‖X_j‖ per input channel of each layer's input 0 over the dataset (one interpreter pass per sample)."""
    from lpir.runtime import compile_model
    compiled = compile_model(model)
    squares: dict[str, np.ndarray] = {}
    by_output = {}
    for node in layers:
        by_output.setdefault(node.inputs[0].source, []).append(node)

    def collect(output, value):
        for node in by_output[output]:
            axis = 1 if node.type == "Convolution" else (-2 if node.attrs.get("transpose_a") in (True, "true") else -1)
            moved = np.moveaxis(value.astype(np.float64), axis, -1)
            total = np.sum(moved.reshape(-1, moved.shape[-1]) ** 2, axis=0)
            squares[node.name] = squares.get(node.name, 0) + total

    taps = compiled.tap(list(by_output), collect)
    count = 0
    for sample in dataset:
        compiled(sample, taps=taps)
        count += 1
    if count == 0:
        raise ValidationError("sparsify: the dataset is empty")
    return {name: np.sqrt(value) for name, value in squares.items()}


def _per_layer(score: np.ndarray, sparsity: float) -> np.ndarray:
    count = int(round(sparsity * score.size))
    keep = np.ones(score.shape, bool)
    if count:
        keep.reshape(-1)[np.argsort(score, axis=None, kind="stable")[:count]] = False
    return keep


def _per_row(score: np.ndarray, sparsity: float) -> np.ndarray:
    count = int(round(sparsity * score.shape[1]))
    keep = np.ones(score.shape, bool)
    if count:
        order = np.argsort(score, axis=1, kind="stable")[:, :count]
        np.put_along_axis(keep, order, False, axis=1)
    return keep


def _n_of_m(node: Node, score: np.ndarray, n: int, m: int) -> np.ndarray:
    channels = node.inputs[0].source.shape[1 if node.type == "Convolution" else -1]
    if not isinstance(channels, int) or channels % m:
        raise ValidationError(f"{describe_node(node)}: pattern {n}:{m} needs input channels divisible by {m}, "
                              f"the layer has {channels}")
    groups = score.reshape(score.shape[0], -1, m)
    order = np.argsort(groups, axis=2, kind="stable")[:, :, :n]
    keep = np.ones(groups.shape, bool)
    np.put_along_axis(keep, order, False, axis=2)
    return keep.reshape(score.shape)
