"""The reference interpreter: runs a model node by node with the ops' numpy references.

Compilation resolves every node to its op definition once (so unknown ops are reported all
together, before anything runs), fixes the execution order and computes, for every
intermediate tensor, the step after which nothing reads it — the interpreter drops it there,
so peak memory follows the widest cut of the graph, not its total.

Compilation (:mod:`lpir.runtime.program`) resolves, validates, folds and schedules once; a
call then runs the steps, each through a kernel of the kernel table (:mod:`lpir.runtime.kernels`)
or the op's numpy reference. Taps (:mod:`lpir.runtime.taps`) show chosen tensors to a callback
as they are produced; calibration collects all its statistics in one pass with them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from lpir.errors import LowPrecisionWarning, ValidationError
from lpir.ir import types
from lpir.ir.graph import RESULT_NAMES, Model, Node, Output
from lpir.ir.rewrite import layer_name
from lpir.ir.shape import Shape
from lpir.ir.types import ElementType
from lpir.runtime.kernels.integer import bind_integer_kernels, fuse_dequantization
from lpir.runtime.lowering import Plan, lower, lower_to_integer
from lpir.runtime.arithmetic import ARITHMETICS
from lpir.runtime.program import Program
from lpir.runtime.sparse import DEFAULT_SPARSE_RATE, check_rate, choose_sparse_kernels
from lpir.runtime.taps import TapCallback, Taps


class InferResult(list):
    """Model outputs in model order; also indexable by an output's tensor name."""

    def __init__(self, values: list[np.ndarray], names: list[list[str]]):
        super().__init__(values)
        self._index = {name: i for i, output_names in enumerate(names) for name in output_names}

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"no output named {key!r}; outputs are {sorted(self._index)}")
            return list.__getitem__(self, self._index[key])
        return list.__getitem__(self, key)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Outputs keyed by their first tensor name."""
        first = {}
        for name, i in self._index.items():
            first.setdefault(i, name)
        return {first.get(i, f"output_{i}"): value for i, value in enumerate(self)}


class CompiledModel:
    """A model prepared for execution. Call it with inputs; get an :class:`InferResult`.

    ``integer``: whether quantized layers run in integers; ``exact``: whether they are computed
    exactly on their dequantized inputs (the reference integer mode equals); ``lowered``: the
    model the program runs (the rewrite of :attr:`model`, or the model itself); :attr:`plan`:
    how each Convolution/MatMul layer runs; ``sparse_layers``: the layers given the sparse
    kernel, with their share of zeros.
    """

    def __init__(self, model: Model, *, fold_constants: bool = True, integer: bool = False, exact: bool = False,
                 sparse_weights_rate: float = DEFAULT_SPARSE_RATE, arithmetic: str = "reference"):
        if integer and exact:
            raise ValidationError("integer=True and exact=True are two interpretations of the quantized layers: "
                                  "choose one")
        if arithmetic not in ARITHMETICS:
            raise ValidationError(f"arithmetic must be one of {', '.join(ARITHMETICS)}, got {arithmetic!r}")
        if arithmetic != "reference" and not (integer or exact):
            raise ValidationError(f"arithmetic={arithmetic!r} applies to integer=True or exact=True")
        self.model = model
        quantized = _has_fake_quantize(model)
        self.integer, self.exact = integer and quantized, exact and quantized
        if (integer or exact) and not quantized:
            warnings.warn(f"model '{model.name}' has no FakeQuantize: {'integer' if integer else 'exact'}=True has "
                          "nothing to lower, it runs in float", LowPrecisionWarning, stacklevel=3)
        self._plan: Plan | None = None
        self.lowered = model
        if self.integer or self.exact:
            self.lowered, self._plan = lower(model, "integer" if self.integer else "exact", arithmetic=arithmetic)
        self._program = Program(self.lowered, fold_constants=fold_constants,
                                mode="integer" if self.integer else "float")
        if self.integer:
            bind_integer_kernels(self._program, self._plan.input_bounds)
            fuse_dequantization(self._program)
        self.sparse_layers = choose_sparse_kernels(self._program, check_rate(sparse_weights_rate))
        self._output_names = [_result_names(r) for r in model.results]

    @property
    def plan(self) -> Plan:
        """How each Convolution/GroupConvolution/ConvolutionBackpropData/MatMul runs (``print`` it
        for a table): in integers with which input precisions, or in float and why."""
        if self._plan is None:
            self._plan = lower_to_integer(self.model, rewrite=False)[1]
            for layer in self._plan.integer_layers:
                layer.integer, layer.reason = False, "float emulation (compiled without integer=True or exact=True)"
        for layer in self._plan.layers:
            if layer.name in self.sparse_layers:
                layer.kernel = f"sparse {100 * self.sparse_layers[layer.name]:.0f}%"
        return self._plan

    def tap(self, targets: Iterable[Output | str], callback: TapCallback) -> Taps:
        """Taps for ``compiled(inputs, taps=...)``: ``callback(output, value)`` on each target
        (outputs, tensor names or node names), resolved once and reusable across calls.

        In integer and exact mode the program runs a rewritten copy of the model (:attr:`lowered`):
        outputs of the original model are found in it by node name (a layer's output is then its
        dequantized value, rounded to the layer's type), and ``callback`` receives the copy's outputs."""
        if self.lowered is not self.model:
            targets = [self._in_lowered(t) if isinstance(t, Output) else t for t in targets]
        return Taps(self._program, targets, callback)

    def _in_lowered(self, output: Output) -> Output:
        """The output of the rewritten model that stands for ``output`` of the original one."""
        node = self.lowered.node(output.node.name)
        found = node.outputs[output.index]
        if any(row.name == node.name for row in self._plan.integer_layers):
            stem = layer_name(node) + "/"
            while len(found.consumers) == 1 and found.consumers[0].node.name.startswith(stem):
                found = found.consumers[0].node.outputs[0]  # the layer's dequantization, then its rounding
        return found

    # -- inputs -----------------------------------------------------------------------------
    def _bind_inputs(self, inputs) -> list[np.ndarray]:
        params = self.model.parameters
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (Mapping, list, tuple)):
            inputs = [inputs]
        if isinstance(inputs, Mapping):
            by_name = {}
            for i, p in enumerate(params):
                for name in {p.name, *p.outputs[0].names}:
                    by_name[name] = i
            values: list[Any] = [None] * len(params)
            for key, value in inputs.items():
                index = key if isinstance(key, int) and 0 <= key < len(params) else by_name.get(key)
                if index is None:
                    raise ValidationError(f"model '{self.model.name}' has no input {key!r}; inputs are "
                                          f"{[p.outputs[0].names[:1] or [p.name] for p in params]}")
                values[index] = value
        else:
            values = list(inputs)
        if len(values) != len(params) or any(v is None for v in values):
            missing = [p.name for p, v in zip(params, values + [None] * len(params)) if v is None]
            raise ValidationError(f"model '{self.model.name}' takes {len(params)} inputs, got {len(inputs)}"
                                  + (f"; missing {missing}" if missing else ""))
        return [_check_input(p, v) for p, v in zip(params, values)]

    # -- running ----------------------------------------------------------------------------
    def __call__(self, inputs, *, taps: Taps | None = None) -> InferResult:
        program = self._program
        slots: list[np.ndarray | None] = [None] * program.num_slots
        for slot, value in program.constants.items():
            slots[slot] = value
        for slot, value in zip(program.param_slots, self._bind_inputs(inputs)):
            slots[slot] = value
        tapped: set[int] = set()
        if taps is not None:
            tapped = taps.slots
            for out, source in taps.at_start:
                taps.callback(out, slots[source] if isinstance(source, int) else source)
        steps = program.steps if taps is not None or program.fused_steps is None else program.fused_steps
        for index, step in enumerate(steps):
            if step.op is None:  # Result
                continue
            watched = tapped and any(s in tapped for s in step.outputs)
            outputs = step.run([slots[s] for s in step.inputs], used=None if watched else step.used,
                               inplace=step.may_inplace and step.inputs[0] not in tapped)
            for slot, value in zip(step.outputs, outputs):
                slots[slot] = value
            if watched:
                for slot, out in taps.after_step[index]:
                    taps.callback(out, slots[slot])
            for slot in step.release:
                slots[slot] = None
        return InferResult([slots[s] for s in program.result_slots], self._output_names)

    infer = __call__


def compile_model(model: Model, *, fold_constants: bool = True, integer: bool = False, exact: bool = False,
                  sparse_weights_rate: float = DEFAULT_SPARSE_RATE, arithmetic: str = "reference") -> CompiledModel:
    """Prepare ``model`` for the reference interpreter (raises if any op is unsupported).

    With ``fold_constants`` every node whose inputs are all constant (weight decompression
    subgraphs, FakeQuantize on weights) is evaluated once here instead of on every call. With
    ``integer`` the quantized layers run in integers (:mod:`lpir.runtime.lowering`); with
    ``exact`` the same layers are computed in f64 on their exactly dequantized inputs and
    rounded once (the reference integer mode equals end to end; the default float emulation
    rounds each FakeQuantize output and partial sum to f32, and through the next FakeQuantize's
    rounding boundaries those roundings move its results by up to whole quanta). MatMul
    layers whose constant weights have at least ``sparse_weights_rate`` exact zeros run a sparse
    kernel (:mod:`lpir.runtime.sparse`; 1.0 turns it off). ``arithmetic="openvino-cpu"`` (with
    ``integer`` or ``exact``) computes as OpenVINO's CPU plugin where it departs from the
    reference, ``"openvino-cpu-avx2"`` as it does on CPUs without AVX-512
    (:mod:`lpir.runtime.arithmetic`).
    """
    return CompiledModel(model, fold_constants=fold_constants, integer=integer, exact=exact,
                         sparse_weights_rate=sparse_weights_rate, arithmetic=arithmetic)


def _has_fake_quantize(model: Model) -> bool:
    return any(node.type == "FakeQuantize" for node in model.nodes())


def _result_names(result: Node) -> list[str]:
    """Names a model output answers to: its tensor's names, then the Result's own (IR 2025+)."""
    names = list(result.inputs[0].source.names)
    own = result.attrs.get(RESULT_NAMES) or []
    return names + [n for n in ([own] if isinstance(own, str) else own) if n not in names]


def _check_input(param: Node, value) -> np.ndarray:
    etype, shape = param.outputs[0].etype, param.outputs[0].shape
    array = np.asarray(value)
    name = param.outputs[0].names[0] if param.outputs[0].names else param.name
    if etype in types.ML_DTYPES:
        array = _sub_byte_input(array, etype, name)
    elif array.dtype != etype.dtype:
        if not isinstance(value, np.ndarray) and np.can_cast(array.dtype, etype.dtype, "same_kind"):
            array = array.astype(etype.dtype)
        else:
            raise ValidationError(f"input '{name}' must be {etype.name} ({etype.dtype}), got {array.dtype}")
    if not _fits(array.shape, shape):
        raise ValidationError(f"input '{name}' must have shape {_format(shape)}, got {list(array.shape)}")
    return array


def _sub_byte_input(array: np.ndarray, etype: ElementType, name: str) -> np.ndarray:
    """A 2- or 4-bit input as ops see it: u2/i4/u4 values in uint8/int8/uint8, f4e2m1 values in
    float32. It is given as the ml_dtypes array of its type, or in that holder dtype with values
    of the type (f4e2m1 has no NaN or infinity)."""
    holder = np.dtype(np.float32) if etype is types.f4e2m1 else etype.dtype
    if array.dtype == types.ML_DTYPES[etype]:
        return array.astype(holder)
    if array.dtype != holder:
        raise ValidationError(f"input '{name}' must be {etype.name} ({types.ML_DTYPES[etype]} or {holder}), "
                              f"got {array.dtype}")
    if etype is types.f4e2m1:
        bad = array.astype(types.ML_DTYPES[etype]).astype(holder) != array
    else:
        bad = (array < etype.min) | (array > etype.max)
    if bad.any():
        raise ValidationError(f"input '{name}': value {array[bad].flat[0]} is not a {etype.name} value")
    return array


def _fits(actual: tuple[int, ...], expected: Shape | None) -> bool:
    if expected is None:
        return True
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected):
        if isinstance(e, int):
            if a != e:
                return False
        elif a < e.lo or (e.hi is not None and a > e.hi):
            return False
    return True


def _format(shape: Shape | None) -> str:
    return "[...]" if shape is None else "[" + ",".join(str(d) for d in shape) + "]"
