"""Compilation in four stages: resolve, validate, fold, schedule.

* **resolve**: every node to its op definition and resolved attributes, every tensor to a slot;
* **validate**: every op is known, takes the node's input count and accepts its attributes,
  types and shapes (unknown ops are reported all together, before anything runs);
* **fold**: nodes whose inputs are all constants (weight decompression, FakeQuantize on
  weights) are computed once;
* **schedule**: the step after which each tensor is dead (the interpreter drops it there, so
  peak memory follows the widest cut of the graph), which outputs nobody reads, and which
  steps may run an in-place kernel.

The result is a :class:`Program`: a list of steps over numbered slots, run by
:mod:`lpir.runtime.interpreter`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from lpir.errors import EvaluationError, LpirError, UnsupportedOpError, ValidationError, describe_node
from lpir.ir import types
from lpir.ir.graph import Model, Node, Output
from lpir.ir.shape import is_static
from lpir.ops.infer import input_count_problem, partial_value, static_value
from lpir.ops.registry import InferContext, Op, describe_versions, lookup
from lpir.runtime.bodies import compile_bodies
from lpir.runtime.kernels import Kernel, kernels_for

_LEAVES = ("Parameter", "Const", "Result")


class Step:
    """One node to run: its op, attributes, input and output slots and scheduling facts."""

    __slots__ = ("node", "op", "attrs", "inputs", "outputs", "release", "used", "kernels", "inplace_kernels",
                 "may_inplace")

    def __init__(self, node: Node, op: Op | None, attrs: dict[str, Any], inputs: list[int], outputs: list[int]):
        self.node, self.op, self.attrs, self.inputs, self.outputs = node, op, attrs, inputs, outputs
        self.release: list[int] = []
        self.used: tuple[bool, ...] | None = None  # which outputs are read, when not all are
        self.kernels: list[Kernel] = []
        self.inplace_kernels: tuple[Kernel, ...] = ()
        self.may_inplace = False  # input 0 is fresh and read by nobody else

    def run(self, args: list[np.ndarray], *, used: tuple[bool, ...] | None = None,
            inplace: bool = False) -> tuple[np.ndarray | None, ...]:
        """The step's outputs: a kernel's where one applies, else the op's reference (errors
        are reported with the layer's name)."""
        try:
            outputs = None
            for kernel in (self.inplace_kernels if inplace else ()) + tuple(self.kernels):
                outputs = kernel.run(*args, **self.attrs)
                if outputs is not None:
                    break
            if outputs is None:
                outputs = (self.op.evaluate(*args, **self.attrs) if used is None
                           else self.op.evaluate_used(*args, used=used, **self.attrs))
        except LpirError as exc:
            raise type(exc)(f"{describe_node(self.node)}: {exc}") from exc
        except Exception as exc:  # an op's numpy code failed on these inputs: name the layer
            shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
            raise EvaluationError(f"{describe_node(self.node)} failed on inputs ({shapes}): "
                                  f"{type(exc).__name__}: {exc}") from exc
        if len(outputs) != len(self.outputs):
            raise EvaluationError(f"{describe_node(self.node)} produced {len(outputs)} outputs, "
                                  f"the graph has {len(self.outputs)}")
        return outputs


class Program:
    """The compiled form of a model: constants and steps over numbered tensor slots."""

    def __init__(self, model: Model, *, fold_constants: bool = True, mode: str = "float"):
        self.model = model
        self.mode = mode
        nodes = model.nodes()
        validate(nodes)
        self.slot_of: dict[tuple[int, int], int] = {}
        self.steps: list[Step] = resolve(nodes, self.slot_of)
        self.constants: dict[int, np.ndarray] = {}
        self.folded: dict[int, Step] = {}  # slot → the step that computed it at compile time
        self.const_nodes: dict[int, Node] = {}
        self.fused_steps: list[Step] | None = None  # the steps with some fused (calls without taps run these)
        for node in nodes:
            if node.type == "Const":
                slot = self.slot_of[(node.uid, 0)]
                self.constants[slot] = constant_value(node)
                self.const_nodes[slot] = node
        if fold_constants:
            self.steps = fold(self.steps, self.constants, self.folded)
        self.param_slots = [self.slot_of[(p.uid, 0)] for p in model.parameters]
        self.result_slots = [step.inputs[0] for step in self.steps if step.node.type == "Result"]
        used = {s for step in self.steps for s in step.inputs}
        self.constants = {s: v for s, v in self.constants.items() if s in used}
        schedule(self.steps, set(self.constants) | set(self.result_slots), mode)

    @property
    def num_slots(self) -> int:
        return len(self.slot_of)

    def slot(self, output: Output) -> int | None:
        return self.slot_of.get((output.node.uid, output.index))

    def constant(self, slot: int) -> np.ndarray:
        """The compile-time value of a Const or folded slot (recomputed if it was dropped)."""
        if slot in self.constants:
            return self.constants[slot]
        if slot in self.const_nodes:
            return constant_value(self.const_nodes[slot])
        step = self.folded[slot]
        values = step.run([self.constant(s) for s in step.inputs])
        return values[step.outputs.index(slot)]


def resolve(nodes: list[Node], slot_of: dict[tuple[int, int], int]) -> list[Step]:
    """Number every tensor and turn every computing node into a :class:`Step`."""
    steps = []
    budget = memory_budget()
    for node in nodes:
        for out in node.outputs:
            slot_of[(node.uid, out.index)] = len(slot_of)
        if node.type in ("Parameter", "Const"):
            continue
        in_slots = [slot_of[(p.source.node.uid, p.source.index)] for p in node.inputs]
        out_slots = [slot_of[(node.uid, out.index)] for out in node.outputs]
        if node.type == "Result":
            steps.append(Step(node, None, {}, in_slots, out_slots))
            continue
        op = lookup(node.type, node.opset)
        attrs = op.resolved_attrs(node.attrs, describe_node(node))
        # attributes or input types/shapes the op rejects fail here, not mid-run
        for index, (etype, shape) in enumerate(op.infer(InferContext(node, attrs, static_value, partial_value))):
            _check_size(node, index, etype, shape, budget)
        if node.bodies:
            attrs["bodies"] = compile_bodies(node)
        steps.append(Step(node, op, attrs, in_slots, out_slots))
    return steps


def memory_budget() -> int:
    """Bytes one tensor may take: half of this machine's memory, or of the process's address-space
    limit when one is set (a tensor larger than that cannot be computed here anyway)."""
    import resource
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        total = min(total, soft)
    return total // 2


def _check_size(node: Node, index: int, etype, shape, budget: int) -> None:
    """Refuse an output whose static size is beyond the memory budget (a Tile or Broadcast to
    86 GiB), naming the layer, instead of letting the allocation fail mid-run."""
    if not is_static(shape):
        return
    size = etype.nbytes(math.prod(shape)) if etype.bits else 4 * math.prod(shape)
    if size > budget:
        raise ValidationError(f"{describe_node(node)}: output {index} would take {size / 2**30:,.1f} GiB "
                              f"({etype.name}{list(shape)}), more than the {budget / 2**30:,.1f} GiB one tensor "
                              "may take on this machine")


def validate(nodes: list[Node]) -> None:
    """Report every op without a definition at once, with the layers that use it; then any layer
    with more or fewer inputs than its op takes."""
    missing: dict[str, list[str]] = {}
    miscounted: list[str] = []
    for node in nodes:
        if node.type in _LEAVES:
            continue
        op = lookup(node.type, node.opset)
        if op is None or type(op).evaluate is Op.evaluate:
            missing.setdefault(f"{node.type}-{node.version}", []).append(node.name)
            continue
        problem = input_count_problem(node, op)
        if problem:
            miscounted.append(problem)
    if missing:
        parts = [f"{key} ×{len(names)} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}) "
                 f"{describe_versions(key.rsplit('-', 1)[0])}" for key, names in sorted(missing.items())]
        raise UnsupportedOpError(f"lpir cannot run {sum(map(len, missing.values()))} layers: " + "; ".join(parts))
    if miscounted:
        raise ValidationError(miscounted[0] + (f" (and {len(miscounted) - 1} more such layers)" if len(miscounted) > 1 else ""))


def fold(steps: list[Step], constants: dict[int, np.ndarray], folded: dict[int, Step]) -> list[Step]:
    """Compute every step whose inputs are all constants; return the steps left to run."""
    remaining = []
    for step in steps:
        if step.op is not None and all(s in constants for s in step.inputs):
            values = step.run([constants[s] for s in step.inputs])
            constants.update(zip(step.outputs, values))
            folded.update((s, step) for s in step.outputs)
        else:
            remaining.append(step)
    return remaining


def schedule(steps: list[Step], keep: set[int], mode: str) -> None:
    """Release points, unread outputs, kernels and in-place eligibility of every step."""
    last_use: dict[int, int] = {}
    for i, step in enumerate(steps):
        for slot in step.inputs:
            last_use[slot] = i
    for slot, i in last_use.items():
        if slot not in keep:
            steps[i].release.append(slot)
    for step in steps:  # outputs nothing reads (MaxPool's indices ...) go at once
        used = tuple(s in last_use or s in keep for s in step.outputs)
        step.release += [s for s, is_used in zip(step.outputs, used) if not is_used]
        step.used = None if all(used) else used
        if step.op is None:
            continue
        kernels = kernels_for(step.node.type, mode) + (kernels_for(step.node.type) if mode != "float" else [])
        step.kernels = [k for k in kernels if not k.inplace]
        step.inplace_kernels = tuple(k for k in kernels if k.inplace)
        if step.inplace_kernels and step.inputs[0] not in keep:
            source = step.node.inputs[0].source
            producer = lookup(source.node.type, source.node.opset)
            step.may_inplace = producer is not None and producer.fresh_outputs and len(source.consumers) == 1


def constant_value(node: Node) -> np.ndarray:
    """The value of a Const as the ops see it: nf4/f4e2m1 codes decoded to float32."""
    tensor = node.tensor
    values = tensor.numpy()
    if tensor.etype in (types.nf4, types.f4e2m1):
        return types.to_float(values, tensor.etype)
    return values
