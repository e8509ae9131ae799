"""What a converter sees of one ONNX node, and the table of converters by ONNX op type.

A converter is a function ``convert(ctx) -> Output | list[Output]`` registered with
:func:`converter` for an ONNX op type. It reads inputs and attributes through
:class:`NodeContext` (which knows the model's opset, so attribute → input migrations are
handled where they happen) and builds OpenVINO-opset nodes with :meth:`NodeContext.build`.
The node that computes the result is named like the ONNX node; helper nodes get the ONNX
name plus a suffix, so users recognise their layers.
"""

from __future__ import annotations

import numbers

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import onnx
from lpir.errors import ModelParseError, UnsupportedOpError, ValidationError
from lpir.ir import make_constant, types
from lpir.ir.graph import Node, Output
from lpir.ir.types import ElementType
from lpir.io.onnx.revisions import KNOWN_OPSET
from lpir.ops import build, registered_types, static_value
from onnx import numpy_helper


@dataclass(frozen=True)
class Converter:
    """A converter with the OpenVINO op types it builds (checked before converting) and the
    ONNX opset whose spec of the op it follows (revisions after that are checked by
    :mod:`lpir.io.onnx.revisions`)."""

    function: Callable[[NodeContext], Output | list[Output] | TensorSequence]
    emits: tuple[str, ...] | Callable[[int], tuple[str, ...]]
    spec_opset: int
    reads_sequences: bool = False

    def needs(self, opset: int) -> tuple[str, ...]:
        """The lpir op types this converter builds for an ONNX model of ``opset``."""
        return self.emits(opset) if callable(self.emits) else self.emits


CONVERTERS: dict[str, Converter] = {}


@dataclass(frozen=True)
class TensorSequence:
    """An ONNX sequence whose length is known when the model is read: its tensors in order.

    The sequence ops are resolved while converting (as OpenVINO's frontend does), so a sequence
    never reaches the lpir graph; only the sequence converters accept one as an input."""

    items: tuple[Output, ...]
    etype: ElementType

    def __len__(self) -> int:
        return len(self.items)


def converter(*onnx_types: str, emits: tuple[str, ...] | str | Callable[[int], tuple[str, ...]] = (),
              spec_opset: int = KNOWN_OPSET, reads_sequences: bool = False):
    """Register the decorated function as the converter of ``onnx_types``.

    ``emits`` names the OpenVINO ops it builds, or maps the ONNX opset to them; ``spec_opset``
    is the ONNX opset whose spec of these ops it follows; only a converter that
    ``reads_sequences`` is given :class:`TensorSequence` inputs.
    """
    emitted = (emits,) if isinstance(emits, str) else emits if callable(emits) else tuple(emits)

    def decorate(function):
        for name in onnx_types:
            if name in CONVERTERS:
                raise RuntimeError(f"ONNX op {name} has two converters")
            CONVERTERS[name] = Converter(function, emitted, spec_opset, reads_sequences)
        return function
    return decorate


# ONNX TensorProto data types with an OpenVINO element type.
_ONNX_TYPES: dict[int, ElementType] = {
    onnx.TensorProto.FLOAT: types.f32, onnx.TensorProto.FLOAT16: types.f16,
    onnx.TensorProto.DOUBLE: types.f64, onnx.TensorProto.BFLOAT16: types.bf16,
    onnx.TensorProto.INT8: types.i8, onnx.TensorProto.UINT8: types.u8,
    onnx.TensorProto.INT16: types.i16, onnx.TensorProto.UINT16: types.u16,
    onnx.TensorProto.INT32: types.i32, onnx.TensorProto.UINT32: types.u32,
    onnx.TensorProto.INT64: types.i64, onnx.TensorProto.UINT64: types.u64,
    onnx.TensorProto.BOOL: types.boolean,
    onnx.TensorProto.FLOAT8E4M3FN: types.f8e4m3, onnx.TensorProto.FLOAT8E5M2: types.f8e5m2,
    onnx.TensorProto.FLOAT8E8M0: types.f8e8m0, onnx.TensorProto.INT4: types.i4,
    onnx.TensorProto.UINT4: types.u4, onnx.TensorProto.FLOAT4E2M1: types.f4e2m1,
    onnx.TensorProto.UINT2: types.u2,
}


def element_type(onnx_type: int, where: str) -> ElementType:
    """The element type of an ONNX data type code (raises UnsupportedOpError)."""
    try:
        return _ONNX_TYPES[onnx_type]
    except KeyError as exc:
        name = onnx.TensorProto.DataType.Name(onnx_type) if onnx_type in onnx.TensorProto.DataType.values() else onnx_type
        raise UnsupportedOpError(f"{where}: ONNX element type {name} has no lpir equivalent") from exc


def tensor_to_array(tensor: onnx.TensorProto) -> np.ndarray:
    """The values of an ONNX tensor; raw little-endian data is viewed without a copy. 2- and
    4-bit types (packed in ONNX) come back as ml_dtypes arrays, which
    :func:`lpir.ir.make_constant` stores in their lpir type."""
    etype = element_type(tensor.data_type, f"tensor {tensor.name!r}")
    if tensor.raw_data and etype.dtype.itemsize > 0 and not etype.is_packed:
        count = int(np.prod(tensor.dims, dtype=np.int64))
        if len(tensor.raw_data) != count * etype.dtype.itemsize:
            raise ModelParseError(f"tensor {tensor.name!r}: {len(tensor.raw_data)} bytes of data for "
                                  f"{etype.name}{list(tensor.dims)} ({count * etype.dtype.itemsize} expected)")
        return np.frombuffer(tensor.raw_data, dtype=etype.dtype).reshape(tuple(tensor.dims))
    try:
        values = np.asarray(numpy_helper.to_array(tensor))
        return values if etype in types.ML_DTYPES else values.astype(etype.dtype, copy=False)
    except ValueError as exc:
        raise ModelParseError(f"tensor {tensor.name!r}: data does not fit {etype.name}{list(tensor.dims)} ({exc})") from exc


def resolve_opset(op_type: str, opset: int) -> int:
    """The highest registered opset of ``op_type`` not above ``opset``."""
    versions = [v for v in registered_types().get(op_type, []) if v <= opset]
    if not versions:
        raise UnsupportedOpError(f"lpir has no definition of {op_type} at opset {opset} or below")
    return versions[-1]


class NodeContext:
    """One ONNX node being converted: its inputs as lpir outputs, its attributes, its opset."""

    def __init__(self, node: onnx.NodeProto, inputs: list[Output | TensorSequence | None], opset: int, name: str):
        self.node = node
        self.opset = opset
        self.name = name
        self._inputs = inputs
        self._attrs = {a.name: a for a in node.attribute}
        # Set by the importer: convert_body(graph, bound, within=None) → (output values, scope)
        # converts a body graph of this node with outer tensors visible (those of ``within``, a
        # scope from body_scope(), when the body sits inside another one the converter builds)
        self.convert_body: Callable[..., tuple[list[Output], Any]] | None = None
        self.body_scope: Callable[[], Any] | None = None

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def num_inputs(self) -> int:
        """Inputs given, trailing empty (omitted optional) ones excluded."""
        return len(self._inputs)

    def fail(self, message: str) -> ValidationError:
        return ValidationError(f"ONNX node '{self.name}' ({self.op_type}, opset {self.opset}): {message}")

    # -- inputs -------------------------------------------------------------------------------
    def input(self, index: int) -> Output:
        """Input ``index``, which must be present."""
        value = self.optional_input(index)
        if value is None:
            raise self.fail(f"input {index} is required but missing")
        return value

    def optional_input(self, index: int) -> Output | None:
        value = self._inputs[index] if index < len(self._inputs) else None
        if isinstance(value, TensorSequence):
            raise UnsupportedOpError(f"ONNX node '{self.name}' ({self.op_type}): input {index} is a sequence "
                                     "where a tensor is expected")
        return value

    def sequence(self, index: int) -> TensorSequence:
        """Input ``index``, which must be a sequence."""
        value = self._inputs[index] if index < len(self._inputs) else None
        if not isinstance(value, TensorSequence):
            raise self.fail(f"input {index} must be a sequence")
        return value

    def inputs(self) -> list[Output]:
        return [v for v in self._inputs if v is not None]

    def value(self, index: int) -> np.ndarray | None:
        """The statically known value of input ``index`` (None when absent or computed at run time)."""
        source = self.optional_input(index)
        return None if source is None else static_value(source)

    def static_input(self, index: int, what: str) -> np.ndarray:
        """Input ``index`` as a known value; lpir needs it at conversion time."""
        value = self.value(index)
        if value is None:
            raise self.fail(f"input {index} ({what}) must be a constant")
        return value

    # -- attributes ---------------------------------------------------------------------------
    def has_attr(self, key: str) -> bool:
        return key in self._attrs

    def attr(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        """Attribute ``key`` as a Python value (strings decoded, tensors as arrays).

        A missing ``required`` attribute, or a value of another kind than ``default`` (a list
        where a number is expected ...), is an error naming the node."""
        proto = self._attrs.get(key)
        if proto is None:
            if required:
                raise self.fail(f"required attribute {key!r} is missing")
            return default
        value = onnx.helper.get_attribute_value(proto)
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        elif isinstance(value, onnx.TensorProto):
            return tensor_to_array(value)
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", errors="replace") for v in value]
        if default is not None and not _same_kind(value, default):
            raise self.fail(f"attribute {key}={value!r} is not {_kind(default)} (its default is {default!r})")
        return value

    def axes(self, attr_key: str, input_index: int, since: int) -> np.ndarray | None:
        """Axes given as an attribute before opset ``since`` and as an input from it on."""
        if self.opset < since:
            value = self.attr(attr_key)
            return None if value is None else np.asarray(value, dtype=np.int64)
        if self.optional_input(input_index) is None:
            return None
        return self.static_input(input_index, attr_key).astype(np.int64).reshape(-1)

    # -- building -----------------------------------------------------------------------------
    def build(self, op_type: str, inputs: list[Output], attrs: dict[str, Any] | None = None, *,
              opset: int = 1, suffix: str | None = None) -> Node:
        """A node of the OpenVINO op ``op_type`` (the newest lpir version up to ``opset``)."""
        name = self.name if suffix is None else f"{self.name}/{suffix}"
        return build(op_type, inputs, attrs or {}, name=name, opset=resolve_opset(op_type, opset))

    def op(self, op_type: str, *inputs: Output, opset: int = 1, suffix: str | None = None,
           **attrs: Any) -> Output:
        """The single output of a new node (shorthand for :meth:`build`)."""
        return self.build(op_type, list(inputs), attrs, opset=opset, suffix=suffix).outputs[0]

    def element(self, values: Output, index: int, suffix: str) -> Output:
        """Element ``index`` of the 1-D tensor ``values``, as a 1-element 1-D tensor."""
        return self.op("Gather", values, self.const(np.asarray([index], dtype=np.int64), f"{suffix}_index"),
                       self.const(np.int64(0), f"{suffix}_axis"), opset=8, suffix=suffix)

    def const(self, value: Any, suffix: str, etype: ElementType | str | None = None) -> Output:
        """A Const holding ``value``, named after this node."""
        return make_constant(np.asarray(value), etype, name=f"{self.name}/{suffix}").outputs[0]

    def const_like(self, value: Any, like: Output, suffix: str) -> Output:
        """A Const of ``value`` in the element type of ``like``."""
        etype = like.etype if like.etype is not types.dynamic else types.f32
        return self.const(np.asarray(value, dtype=etype.dtype), suffix)

    def rank(self, value: Output) -> int:
        """The rank of ``value``, which lpir needs to know here."""
        if value.shape is None:
            raise self.fail("the rank of the input must be known")
        return len(value.shape)


def _same_kind(value: Any, default: Any) -> bool:
    """True when an attribute value can stand where ``default`` does (an int for a float too)."""
    if isinstance(default, numbers.Integral):
        return isinstance(value, numbers.Integral)
    if isinstance(default, numbers.Real):
        return isinstance(value, numbers.Real)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def _kind(default: Any) -> str:
    if isinstance(default, numbers.Integral):
        return "an integer"
    if isinstance(default, numbers.Real):
        return "a number"
    if isinstance(default, (list, tuple)):
        return "a list"
    return f"a {type(default).__name__}"
