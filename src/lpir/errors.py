"""The one exception hierarchy of lpir.

Every error a user can cause (a malformed model, a bad argument, an op lpir does not know) is
an :class:`LpirError`; the CLI prints its message on one line and exits with code 2. Anything
else that escapes is a bug in lpir.

Messages name the object at fault (file, layer id and name, op type and opset, port), what was
expected and what came instead.
"""

from __future__ import annotations


class LpirError(Exception):
    """Base class of every error lpir raises on purpose."""


class ModelParseError(LpirError):
    """A model file (IR .xml/.bin or ONNX) cannot be read: malformed, truncated, inconsistent."""


class ValidationError(LpirError):
    """A graph, an argument or an input does not satisfy a documented constraint."""


class UnsupportedOpError(LpirError):
    """One or more ops (by type and opset) have no definition in lpir."""


class EvaluationError(LpirError):
    """An op failed while the interpreter ran it."""


class QuantizationError(LpirError):
    """Quantization or weight compression cannot proceed (bad ranges, bad group size, ...)."""


def describe_node(node: object) -> str:
    """A short label for a node in messages: ``layer 12 'conv1' (Convolution-opset1)``."""
    layer_id = getattr(node, "layer_id", None)
    name = getattr(node, "name", "?")
    op_type = getattr(node, "type", "?")
    version = getattr(node, "version", "?")
    prefix = f"layer {layer_id} " if layer_id is not None else "node "
    return f"{prefix}'{name}' ({op_type}-{version})"


class LpirWarning(UserWarning):
    """Something worth knowing that is not an error (e.g. a model with nothing to compress)."""


class LowPrecisionWarning(LpirWarning):
    """A low-precision request that lpir could only partly honour (e.g. integer=True on a float model)."""
