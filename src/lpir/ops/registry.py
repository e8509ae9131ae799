"""The op registry: one definition per (op type, opset), used by IO, runtime and algorithms.

An op definition is a subclass of :class:`Op` decorated with :func:`register`. It declares its
attributes with their spec defaults, its quantization traits, shape/type inference
(:meth:`Op.infer`) and a numpy reference (:meth:`Op.evaluate`). Lookup picks the highest
registered opset not above the one asked for, as OpenVINO resolves ``version="opsetN"``.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import shape as shapes
from lpir.ir import types
from lpir.ir.shape import Shape
from lpir.ir.types import ElementType

REQUIRED = object()


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_list(convert: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        text = text.strip().strip("[]")
        return [convert(part) for part in text.split(",")] if text else []
    return parse


_PARSERS: dict[str, Callable[[str], Any]] = {
    "int": lambda s: int(s.strip()),
    "float": lambda s: float(s.strip()),
    "bool": _parse_bool,
    "str": str,
    "ints": _parse_list(lambda s: int(s.strip())),
    "floats": _parse_list(lambda s: float(s.strip())),
    "strs": _parse_list(lambda s: s.strip()),
    "shape": shapes.parse_shape,
    "etype": types.parse_type,
}


@dataclass(frozen=True)
class Attr:
    """An attribute: its kind (a key of the parser table) and its spec default."""

    kind: str
    default: Any = REQUIRED

    @property
    def is_required(self) -> bool:
        return self.default is REQUIRED

    def parse(self, text: str) -> Any:
        return _PARSERS[self.kind](text)


def format_attr(value: Any) -> str:
    """An attribute value as OpenVINO writes it in IR XML: lists joined by ", ", booleans in lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, ElementType):
        return value.name
    if isinstance(value, float):
        return format(value, ".17g")  # every digit of the double, "6" for 6.0, as OpenVINO writes
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ", ".join(format_attr(v) if not isinstance(v, shapes.Dim) else str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Traits:
    """What algorithms need to know about an op without keeping lists of op names.

    The placement traits follow NNCF's OpenVINO metatype groups (a test pins them):

    ``quantizable``: quantizers go on its activation inputs, so it can run in low precision
    (NNCF's INPUTS_QUANTIZABLE_OPERATIONS);
    ``quantization_agnostic``: passes quantized values through unchanged, so quantizers move
    up through it (MaxPool, Reshape ...; NNCF's QUANTIZE_AGNOSTIC_OPERATIONS, plus Concat);
    ``unified_input_scales``: all its inputs must share one quantizer range (Concat);
    ``activation_inputs``: the inputs that carry tensor data (None: all); the others are
    shapes, axes or parameters and are never quantized;
    ``weight_inputs``: inputs that hold weights when they are constants (quantized per output
    channel along :meth:`Op.weight_channel_axes`; NNCF's OPERATIONS_WITH_WEIGHTS);
    ``has_bias``: a following Add of a constant is its bias (NNCF's OPERATIONS_WITH_BIAS);
    ``elementwise``: output element i depends only on input element i (after broadcasting);
    ``precision_sensitive_inputs``: inputs whose constants OpenVINO keeps in full precision when
    it compresses weights to f16 (Interpolate's scales);
    ``table_inputs``: inputs holding a table read by index (Gather's data): a constant one is an
    embedding, whose rows weight compression treats as channels.
    """

    elementwise: bool = False
    quantizable: bool = False
    quantization_agnostic: bool = False
    unified_input_scales: bool = False
    activation_inputs: tuple[int, ...] | None = None
    weight_inputs: tuple[int, ...] = ()
    has_bias: bool = False
    precision_sensitive_inputs: tuple[int, ...] = ()
    table_inputs: tuple[int, ...] = ()

    def quantizable_inputs(self, num_inputs: int) -> tuple[int, ...]:
        """Inputs that may carry a quantizer: activations and weights, not shapes or axes."""
        data = range(num_inputs) if self.activation_inputs is None else self.activation_inputs
        return tuple(i for i in data if i < num_inputs)


@functools.cache
def signature_input_range(method: Callable) -> tuple[int, int | None]:
    """(fewest, most) positional arguments ``method`` takes after ``self`` (None: any number)."""
    fewest, most = 0, 0
    for parameter in list(inspect.signature(method).parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return fewest, None
        if parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            break
        most += 1
        fewest += parameter.default is inspect.Parameter.empty
    return fewest, most


class InferContext:
    """What :meth:`Op.infer` may look at: input types, shapes and statically known values."""

    def __init__(self, node, attrs: dict[str, Any], value_of: Callable[[Any], np.ndarray | None],
                 partial_of: Callable[[Any], Shape | None] | None = None):
        self.node = node
        self.attrs = attrs
        self._value_of = value_of
        self._partial_of = partial_of

    @property
    def num_inputs(self) -> int:
        return len(self.node.inputs)

    def etype(self, i: int) -> ElementType:
        return self.node.inputs[i].source.etype

    def shape(self, i: int) -> Shape | None:
        return self.node.inputs[i].source.shape

    def value(self, i: int) -> np.ndarray | None:
        """The value of input ``i`` if it is known before running the model (else None)."""
        return self._value_of(self.node.inputs[i].source)

    def partial_value(self, i: int) -> Shape | None:
        """Input ``i`` as a flat tuple of dimensions when only some elements are known.

        Shape subgraphs (ShapeOf → Gather → Concat → Reshape) carry values such as
        ``(?, 128, 12, 32)``: dynamic elements are :class:`~lpir.ir.shape.Dim`. None if unknown.
        """
        if self._partial_of is None:
            return None
        return self._partial_of(self.node.inputs[i].source)

    def fail(self, message: str) -> ValidationError:
        from lpir.errors import describe_node
        return ValidationError(f"{describe_node(self.node)}: {message}")


class Op:
    """Base of op definitions. Subclasses set ``attrs``/``traits`` and override the methods."""

    type: ClassVar[str]
    opset: ClassVar[int]
    attrs: ClassVar[dict[str, Attr]] = {}
    traits: ClassVar[Traits] = Traits()
    # True when evaluate always returns new arrays that share no memory with its inputs: the
    # interpreter may then let a following elementwise op write its result into them.
    fresh_outputs: ClassVar[bool] = False

    def infer(self, ctx: InferContext) -> list[tuple[ElementType, Shape | None]]:
        """Output element types and shapes from the inputs' (possibly dynamic) ones."""
        raise NotImplementedError(f"{self.type}-opset{self.opset} has no shape inference")

    def weight_channel_axes(self, attrs: dict[str, Any]) -> tuple[int, ...]:
        """Axes of the weight input that together index an output channel, for these attributes
        (negative axes count from the end). Ops with ``traits.weight_inputs`` override it:
        MatMul's axis depends on ``transpose_b``, grouped convolutions index an output channel
        with two axes."""
        return ()

    def partial_value(self, ctx: InferContext) -> Shape | None:
        """Output 0 as a flat tuple of possibly dynamic dimensions (see InferContext.partial_value).

        Ops that compute shapes (ShapeOf, Gather, Concat, ...) override it; None means unknown.
        """
        return None

    def evaluate(self, *inputs: np.ndarray, **attrs) -> tuple[np.ndarray, ...]:
        """The numpy reference: inputs positional, attributes keyword-only, outputs a tuple."""
        raise NotImplementedError(f"{self.type}-opset{self.opset} has no reference evaluation")

    def input_count_range(self) -> tuple[int, int | None]:
        """(fewest, most) inputs :meth:`evaluate` accepts, read off its signature (None: any number)."""
        return signature_input_range(type(self).evaluate)

    def evaluate_used(self, *inputs: np.ndarray, used: tuple[bool, ...], **attrs) -> tuple[np.ndarray | None, ...]:
        """:meth:`evaluate` when only the outputs flagged in ``used`` will be read. Ops whose
        other outputs cost real work (MaxPool's indices) override it and return None for those."""
        return self.evaluate(*inputs, **attrs)

    def parse_attrs(self, raw: dict[str, str], where: str) -> dict[str, Any]:
        """Typed attributes from the strings of an IR ``<data>`` element, defaults filled in."""
        parsed: dict[str, Any] = {}
        for key, text in raw.items():
            spec = self.attrs.get(key)
            if spec is None:
                parsed[key] = text  # unknown to the spec: kept verbatim for the writer
                continue
            try:
                parsed[key] = spec.parse(text)
            except (ValueError, ValidationError) as exc:
                raise ValidationError(f"{where}: attribute {key}={text!r} is not a valid {spec.kind} ({exc})") from exc
        return parsed

    def resolved_attrs(self, attrs: dict[str, Any], where: str) -> dict[str, Any]:
        """The attributes with spec defaults filled in; raises on a missing required one."""
        resolved = {}
        for key, spec in self.attrs.items():
            if key in attrs:
                resolved[key] = attrs[key]
            elif spec.is_required:
                raise ValidationError(f"{where}: required attribute {key!r} is missing")
            else:
                resolved[key] = spec.default
        return resolved


_REGISTRY: dict[str, dict[int, Op]] = {}


def register(op_type: str, opset: int = 1):
    """Class decorator: register an :class:`Op` subclass for ``op_type`` from ``opset`` on."""
    def decorate(cls: type[Op]) -> type[Op]:
        cls.type = op_type
        cls.opset = opset
        versions = _REGISTRY.setdefault(op_type, {})
        if opset in versions:
            raise RuntimeError(f"{op_type}-opset{opset} is registered twice")
        versions[opset] = cls()
        return cls
    return decorate


def lookup(op_type: str, opset: int) -> Op | None:
    """The definition for ``op_type`` with the highest opset ≤ ``opset`` (None if unknown)."""
    versions = _REGISTRY.get(op_type)
    if not versions:
        return None
    usable = [v for v in versions if v <= opset]
    if not usable:
        return None
    return versions[max(usable)]


def describe_versions(op_type: str) -> str:
    """What a user needs when an op is missing: ``"(lpir has Foo from opset5, opset8)"``, or that
    lpir does not know the op type at all."""
    versions = _REGISTRY.get(op_type)
    if not versions:
        return f"(lpir does not know {op_type} at any opset)"
    return f"(lpir has {op_type} from " + ", ".join(f"opset{v}" for v in sorted(versions)) + ")"


def registered_types() -> dict[str, list[int]]:
    """Every registered op type with its opset versions (for docs and ``lpir inspect``)."""
    return {name: sorted(versions) for name, versions in sorted(_REGISTRY.items())}
