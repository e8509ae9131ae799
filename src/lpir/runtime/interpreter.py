"""The reference interpreter: runs a model node by node with the ops' numpy references.

Compilation resolves every node to its op definition once (so unknown ops are reported all
together, before anything runs), fixes the execution order and computes, for every
intermediate tensor, the step after which nothing reads it — the interpreter drops it there,
so peak memory follows the widest cut of the graph, not its total.

An optional observer sees every node's outputs as they are produced; quantization uses it to
collect statistics in one pass.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lpir.errors import EvaluationError, LpirError, UnsupportedOpError, ValidationError, describe_node
from lpir.ir import types
from lpir.ir.graph import RESULT_NAMES, Model, Node
from lpir.ir.shape import Shape
from lpir.ops.infer import partial_value, static_value
from lpir.ops.registry import InferContext, Op, lookup
from lpir.runtime.inplace import INPLACE_KERNELS, run_inplace

Observer = Callable[[Node, Sequence[np.ndarray]], None]


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


class _Step:
    __slots__ = ("node", "op", "attrs", "inputs", "outputs", "release", "inplace", "used")

    def __init__(self, node: Node, op: Op | None, attrs: dict[str, Any], inputs: list[int], outputs: list[int]):
        self.node, self.op, self.attrs, self.inputs, self.outputs = node, op, attrs, inputs, outputs
        self.release: list[int] = []
        self.inplace = False  # may write its result into input 0 (see runtime.inplace)
        self.used: tuple[bool, ...] | None = None  # which outputs are read, when not all are


class CompiledModel:
    """A model prepared for execution. Call it with inputs; get an :class:`InferResult`."""

    def __init__(self, model: Model, *, fold_constants: bool = True):
        self.model = model
        nodes = model.nodes()
        _check_supported(nodes)
        slot_of: dict[tuple[int, int], int] = {}
        self._constants: dict[int, np.ndarray] = {}
        self._steps: list[_Step] = []
        for node in nodes:
            out_slots = []
            for out in node.outputs:
                slot_of[(node.uid, out.index)] = len(slot_of)
                out_slots.append(slot_of[(node.uid, out.index)])
            in_slots = [slot_of[(p.source.node.uid, p.source.index)] for p in node.inputs]
            if node.type == "Const":
                self._constants[out_slots[0]] = _constant_value(node)
                continue
            if node.type == "Parameter":
                continue
            is_result = node.type == "Result"
            op = None if is_result else lookup(node.type, node.opset)
            attrs = {} if is_result else op.resolved_attrs(node.attrs, describe_node(node))
            if not is_result:  # attributes or input types/shapes the op rejects fail here, not mid-run
                op.infer(InferContext(node, attrs, static_value, partial_value))
            step = _Step(node, op, attrs, in_slots, out_slots)
            if fold_constants and not is_result and all(s in self._constants for s in in_slots):
                # Weight decompression (Convert, Subtract, Multiply, Reshape of constants) runs once here.
                values = _evaluate(step, [self._constants[s] for s in in_slots])
                self._constants.update(zip(out_slots, values))
                continue
            self._steps.append(step)
        used = {s for step in self._steps for s in step.inputs}
        self._constants = {s: v for s, v in self._constants.items() if s in used}
        self._num_slots = len(slot_of)
        self._param_slots = [slot_of[(p.uid, 0)] for p in model.parameters]
        self._result_slots = [step.inputs[0] for step in self._steps if step.node.type == "Result"]
        self._output_names = [_result_names(r) for r in model.results]
        self._schedule_release()

    def _schedule_release(self) -> None:
        last_use: dict[int, int] = {}
        for i, step in enumerate(self._steps):
            for slot in step.inputs:
                last_use[slot] = i
        keep = set(self._constants) | set(self._result_slots)
        for slot, i in last_use.items():
            if slot not in keep:
                self._steps[i].release.append(slot)
        for step in self._steps:  # outputs nothing reads (MaxPool's indices ...) go at once
            used = tuple(s in last_use or s in keep for s in step.outputs)
            step.release += [s for s, is_used in zip(step.outputs, used) if not is_used]
            step.used = None if all(used) else used
        for step in self._steps:
            if step.node.type in INPLACE_KERNELS and step.inputs[0] not in keep:
                source = step.node.inputs[0].source
                producer = lookup(source.node.type, source.node.opset)
                step.inplace = producer is not None and producer.fresh_outputs and len(source.consumers) == 1

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
    def __call__(self, inputs, *, observer: Observer | None = None) -> InferResult:
        slots: list[np.ndarray | None] = [None] * self._num_slots
        for slot, value in self._constants.items():
            slots[slot] = value
        for slot, value in zip(self._param_slots, self._bind_inputs(inputs)):
            slots[slot] = value
        for step in self._steps:
            if step.op is None:  # Result
                continue
            args = [slots[s] for s in step.inputs]
            if observer is None:
                outputs = _evaluate(step, args, used=step.used, inplace=step.inplace)
            else:  # an observer is shown every output and may keep them: all computed, none reused
                outputs = _evaluate(step, args)
            for slot, value in zip(step.outputs, outputs):
                slots[slot] = value
            if observer is not None:
                observer(step.node, outputs)
            for slot in step.release:
                slots[slot] = None
        return InferResult([slots[s] for s in self._result_slots], self._output_names)

    infer = __call__


def compile_model(model: Model, *, fold_constants: bool = True) -> CompiledModel:
    """Prepare ``model`` for the reference interpreter (raises if any op is unsupported).

    With ``fold_constants`` every node whose inputs are all constant (weight decompression
    subgraphs, FakeQuantize on weights) is evaluated once here instead of on every call.
    """
    return CompiledModel(model, fold_constants=fold_constants)


def _check_supported(nodes: list[Node]) -> None:
    """Report every op without a definition at once, with the layers that use it; then any layer
    with more or fewer inputs than its op takes."""
    missing: dict[str, list[str]] = {}
    miscounted: list[str] = []
    for node in nodes:
        if node.type in ("Parameter", "Const", "Result"):
            continue
        op = lookup(node.type, node.opset)
        if op is None or type(op).evaluate is Op.evaluate:
            missing.setdefault(f"{node.type}-{node.version}", []).append(node.name)
            continue
        fewest, most = op.input_count_range()
        if len(node.inputs) < fewest or (most is not None and len(node.inputs) > most):
            takes = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most is not None else f"{fewest} or more"
            miscounted.append(f"{describe_node(node)} has {len(node.inputs)} inputs; "
                              f"{node.type}-{node.version} takes {takes}")
    if missing:
        parts = [f"{key} ×{len(names)} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                 for key, names in sorted(missing.items())]
        raise UnsupportedOpError(f"lpir cannot run {sum(map(len, missing.values()))} layers: " + "; ".join(parts))
    if miscounted:
        raise ValidationError(miscounted[0] + (f" (and {len(miscounted) - 1} more such layers)" if len(miscounted) > 1 else ""))


def _result_names(result: Node) -> list[str]:
    """Names a model output answers to: its tensor's names, then the Result's own (IR 2025+)."""
    names = list(result.inputs[0].source.names)
    own = result.attrs.get(RESULT_NAMES) or []
    return names + [n for n in ([own] if isinstance(own, str) else own) if n not in names]


def _constant_value(node: Node) -> np.ndarray:
    """The value of a Const as the ops see it: nf4/f4e2m1 codes decoded to float32."""
    tensor = node.tensor
    values = tensor.numpy()
    if tensor.etype in (types.nf4, types.f4e2m1):
        return types.to_float(values, tensor.etype)
    return values


def _check_input(param: Node, value) -> np.ndarray:
    etype, shape = param.outputs[0].etype, param.outputs[0].shape
    array = np.asarray(value)
    name = param.outputs[0].names[0] if param.outputs[0].names else param.name
    if array.dtype != etype.dtype:
        if not isinstance(value, np.ndarray) and np.can_cast(array.dtype, etype.dtype, "same_kind"):
            array = array.astype(etype.dtype)
        else:
            raise ValidationError(f"input '{name}' must be {etype.name} ({etype.dtype}), got {array.dtype}")
    if not _fits(array.shape, shape):
        raise ValidationError(f"input '{name}' must have shape {_format(shape)}, got {list(array.shape)}")
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


def _evaluate(step: _Step, args: list[np.ndarray], used: tuple[bool, ...] | None = None,
              inplace: bool = False) -> tuple[np.ndarray | None, ...]:
    """The step's outputs (written into input 0 when ``inplace`` and possible; None for outputs
    ``used`` marks unread), errors reported with the layer's name."""
    try:
        outputs = run_inplace(step.node.type, args, step.attrs) if inplace else None
        if outputs is not None:
            return outputs
        if used is None:
            outputs = step.op.evaluate(*args, **step.attrs)
        else:
            outputs = step.op.evaluate_used(*args, used=used, **step.attrs)
    except LpirError as exc:
        raise type(exc)(f"{describe_node(step.node)}: {exc}") from None
    except Exception as exc:  # an op's numpy code failed on these inputs: name the layer
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
        raise EvaluationError(f"{describe_node(step.node)} failed on inputs ({shapes}): "
                              f"{type(exc).__name__}: {exc}") from exc
    if len(outputs) != len(step.outputs):
        raise EvaluationError(f"{describe_node(step.node)} produced {len(outputs)} outputs, "
                              f"the graph has {len(step.outputs)}")
    return outputs

