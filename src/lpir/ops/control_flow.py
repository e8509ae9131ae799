"""TensorIterator, Loop and If: ops that run sub-graph bodies (:mod:`lpir.ir.body`).

Their inference reads the bodies' declared Result types and shapes; their references receive,
besides the input arrays, ``bodies``: one runnable body per ``node.bodies`` entry, given by the
runtime. A runnable body has ``spec`` (the :class:`~lpir.ir.body.Body`) and is called with the
body Parameters' values in order, returning its Results' values in order; it is compiled once
and reused across iterations and calls.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from lpir.errors import EvaluationError
from lpir.ir import types
from lpir.ir.body import Body, OutputMap, Slicing
from lpir.ir.shape import DYNAMIC, Shape
from lpir.ops.common import normalize_axis
from lpir.ops.registry import InferContext, Op, register


class RunnableBody(Protocol):
    spec: Body

    def __call__(self, values: list[np.ndarray]) -> list[np.ndarray]: ...


# -- structure ------------------------------------------------------------------------------------
def check_bodies(ctx: InferContext, count: int, first_port: int) -> list[Body]:
    """The node's bodies after checking that each maps real ports onto real Parameters and
    Results: every Parameter fed once, data inputs from ``first_port`` on, every output given."""
    bodies = ctx.node.bodies
    if len(bodies) != count:
        raise ctx.fail(f"needs {count} sub-graph bod{'y' if count == 1 else 'ies'}, has {len(bodies)}")
    num_outputs = max((m.port + 1 for body in bodies for m in body.outputs), default=0)
    for which, body in enumerate(bodies):
        label = "body" if count == 1 else ("then_body", "else_body")[which]
        params, results = body.model.parameters, body.model.results
        fed = [m.parameter for m in body.inputs]
        if body.current_iteration is not None:
            fed.append(body.current_iteration)
        for m in body.inputs:
            if not first_port <= m.port < ctx.num_inputs:
                raise ctx.fail(f"{label} reads input port {m.port}, outside {first_port}..{ctx.num_inputs - 1}")
            if m.back_edge is not None and not 0 <= m.back_edge < len(results):
                raise ctx.fail(f"{label} has a back edge from Result {m.back_edge} of {len(results)}")
        for m in [*body.inputs, *body.outputs]:
            if m.slicing is not None and (m.slicing.stride == 0 or m.slicing.part_size < 1):
                raise ctx.fail(f"{label} slices port {m.port} with stride {m.slicing.stride} and part_size "
                               f"{m.slicing.part_size} (a non-zero stride and a part of at least 1 expected)")
        bad = [p for p in fed if not 0 <= p < len(params)]
        if bad:
            raise ctx.fail(f"{label} maps onto Parameter {bad[0]}, it has {len(params)}")
        if sorted(fed) != list(range(len(params))):
            twice = sorted({p for p in fed if fed.count(p) > 1})
            missing = sorted(set(range(len(params))) - set(fed))
            what = f"Parameter {params[twice[0]].name!r} is fed twice" if twice else \
                f"Parameter {params[missing[0]].name!r} is fed by no input"
            raise ctx.fail(f"{label}: {what}")
        ports = [m.port for m in body.outputs]
        for m in body.outputs:
            if not 0 <= m.result < len(results):
                raise ctx.fail(f"{label} gives an output from Result {m.result}, it has {len(results)}")
        if len(set(ports)) != len(ports):
            raise ctx.fail(f"{label} gives output port {ports[0]} twice")
        if count == 2 and sorted(ports) != list(range(num_outputs)):
            raise ctx.fail(f"{label} gives outputs {sorted(ports)}, the node has {num_outputs}")
        if body.execution_condition is not None and not 0 <= body.execution_condition < len(results):
            raise ctx.fail(f"{label} has its condition in Result {body.execution_condition} of {len(results)}")
    return bodies


def result_type(body: Body, index: int) -> tuple[types.ElementType, Shape | None]:
    source = body.model.results[index].inputs[0].source
    return source.etype, source.shape


def _merge(a: tuple, b: tuple) -> tuple[types.ElementType, Shape | None]:
    """What either of two branches' outputs may be: their common type and dims."""
    etype = a[0] if a[0] == b[0] else types.dynamic
    if a[1] is None or b[1] is None or len(a[1]) != len(b[1]):
        return etype, None
    return etype, tuple(x if x == y else DYNAMIC for x, y in zip(a[1], b[1]))


def _iterated_outputs(ctx: InferContext, body: Body, iterations: int | None) -> list:
    """Output types and shapes of a TensorIterator or Loop running ``iterations`` times (None:
    unknown): concatenated outputs grow along their axis, the others are the last value."""
    outputs: list = [(types.dynamic, None)] * max((m.port + 1 for m in body.outputs), default=0)
    for m in body.outputs:
        etype, shape = result_type(body, m.result)
        if m.slicing is not None and shape is not None:
            axis = normalize_axis(m.slicing.axis, len(shape))
            part = shape[axis]
            size = part * iterations if isinstance(part, int) and iterations is not None else DYNAMIC
            shape = shape[:axis] + (size,) + shape[axis + 1:]
        outputs[m.port] = (etype, shape)
    return outputs


# -- slicing ----------------------------------------------------------------------------------
def _bounds(slicing: Slicing, length: int) -> tuple[int, int]:
    """``start``/``end`` as positions: negative ones count from the end, -1 being the end."""
    start = slicing.start + length + 1 if slicing.start < 0 else slicing.start
    end = slicing.end + length + 1 if slicing.end < 0 else slicing.end
    return start, end


def slice_count(slicing: Slicing, length: int) -> int:
    """How many parts ``slicing`` cuts an axis of ``length`` into."""
    start, end = _bounds(slicing, length)
    return abs(end - start) // abs(slicing.stride)


def take_part(value: np.ndarray, slicing: Slicing, iteration: int) -> np.ndarray:
    """The part of ``value`` that iteration ``iteration`` reads."""
    axis = normalize_axis(slicing.axis, value.ndim)
    start, _ = _bounds(slicing, value.shape[axis])
    if slicing.stride > 0:
        begin = start + iteration * slicing.stride
    else:
        begin = start + (iteration + 1) * slicing.stride
    index = [slice(None)] * value.ndim
    index[axis] = slice(begin, begin + slicing.part_size)
    return value[tuple(index)]


def join_parts(parts: list[np.ndarray], slicing: Slicing) -> np.ndarray:
    """Every iteration's value concatenated along the axis (in reverse for a negative stride)."""
    axis = normalize_axis(slicing.axis, parts[0].ndim)
    return np.concatenate(parts[::-1] if slicing.stride < 0 else parts, axis=axis)


# -- iteration --------------------------------------------------------------------------------
def iterate(body: RunnableBody, inputs: Sequence[np.ndarray], iterations: int | None,
            condition: bool = True) -> tuple[np.ndarray, ...]:
    """Run ``body`` up to ``iterations`` times (None: until its condition is false) and assemble
    the outputs, as TensorIterator and Loop do."""
    spec = body.spec
    params = spec.model.parameters
    values: list[Any] = [None] * len(params)
    sliced = [m for m in spec.inputs if m.slicing is not None]
    for m in sliced:
        count = slice_count(m.slicing, inputs[m.port].shape[normalize_axis(m.slicing.axis, inputs[m.port].ndim)])
        iterations = count if iterations is None else min(iterations, count)
    for m in spec.inputs:
        if m.slicing is None:
            values[m.parameter] = inputs[m.port]
    collected: dict[int, list[np.ndarray]] = {m.port: [] for m in spec.outputs if m.slicing is not None}
    last: list[np.ndarray] | None = None
    done = 0
    while condition and (iterations is None or done < iterations):
        for m in sliced:
            values[m.parameter] = take_part(inputs[m.port], m.slicing, done)
        if spec.current_iteration is not None:
            counter = params[spec.current_iteration].outputs[0]  # a scalar or [1], i32 or i64
            values[spec.current_iteration] = np.full(counter.shape or (), done, dtype=counter.etype.dtype)
        last = body(values)
        for m in spec.outputs:
            if m.slicing is not None:
                collected[m.port].append(last[m.result])
        for m in spec.inputs:
            if m.back_edge is not None:
                values[m.parameter] = last[m.back_edge]
        if spec.execution_condition is not None:
            condition = bool(np.asarray(last[spec.execution_condition]).reshape(-1)[0])
        done += 1
    return _assemble(spec, inputs, last, collected)


def _assemble(spec: Body, inputs: Sequence[np.ndarray], last: list[np.ndarray] | None,
              collected: dict[int, list[np.ndarray]]) -> tuple[np.ndarray, ...]:
    outputs: list[Any] = [None] * max((m.port + 1 for m in spec.outputs), default=0)
    for m in spec.outputs:
        if m.slicing is not None:
            parts = collected[m.port]
            outputs[m.port] = join_parts(parts, m.slicing) if parts else _no_iteration_value(spec, m)
        elif last is not None:
            outputs[m.port] = last[m.result]
        else:  # no iteration ran: a carried value is its initial one
            feeding = next((i for i in spec.inputs if i.back_edge == m.result), None)
            outputs[m.port] = inputs[feeding.port] if feeding is not None else _no_iteration_value(spec, m)
    return tuple(outputs)


def zeros_of_result(body: Body, result: int, axis: int | None = None) -> np.ndarray | None:
    """Zeros in the declared type and shape of body Result ``result``, its unknown dimensions
    (and ``axis``, when given) of length 0; None when its rank is unknown.

    This is what a TensorIterator or Loop gives for an output when no iteration ran and no
    initial value stands for it: OpenVINO's CPU plugin sizes such an output from the body
    Result with unknown dimensions as 0 (its reference ``evaluate`` refuses zero iterations),
    and ONNX Runtime does the same for the scan outputs of a Loop that ran no iteration."""
    etype, shape = result_type(body, result)
    if shape is None:
        return None
    dims = [d if isinstance(d, int) else 0 for d in shape]
    if axis is not None:
        dims[normalize_axis(axis, len(dims))] = 0
    return np.zeros(dims, dtype=etype.dtype)


def _no_iteration_value(spec: Body, m: OutputMap) -> np.ndarray:
    value = zeros_of_result(spec, m.result, None if m.slicing is None else m.slicing.axis)
    if value is None:
        raise EvaluationError(f"no iteration ran, and output {m.port} (body Result {m.result}) has no initial "
                              "value and an unknown rank to be zeros of")
    return value


def _scalar(value: np.ndarray | None):
    return None if value is None or value.size != 1 else value.reshape(-1)[0]


# -- the ops ----------------------------------------------------------------------------------
@register("TensorIterator", opset=1)
class TensorIterator(Op):
    """Runs its body once per part of its sliced inputs."""

    def infer(self, ctx: InferContext):
        (body,) = check_bodies(ctx, 1, 0)
        if not any(m.slicing is not None for m in body.inputs):
            raise ctx.fail("has no sliced input, so no iteration count")
        iterations = None
        for m in body.inputs:
            shape = ctx.shape(m.port)
            if m.slicing is not None and shape is not None:
                length = shape[normalize_axis(m.slicing.axis, len(shape))]
                if isinstance(length, int):
                    iterations = slice_count(m.slicing, length)
        return _iterated_outputs(ctx, body, iterations)

    def evaluate(self, *inputs, bodies):
        return iterate(bodies[0], inputs, None)


@register("Loop", opset=5)
class Loop(Op):
    """Runs its body while its condition holds, at most ``trip_count`` times (-1: no limit)."""

    def infer(self, ctx: InferContext):
        (body,) = check_bodies(ctx, 1, 2)
        for index, what in ((0, "trip count"), (1, "execution condition")):
            shape = ctx.shape(index)
            if shape is not None and (len(shape) > 1 or any(isinstance(d, int) and d != 1 for d in shape)):
                raise ctx.fail(f"the {what} (input {index}) must hold one value, its shape is {list(shape)}")
        trip, first = _scalar(ctx.value(0)), _scalar(ctx.value(1))
        iterations = None
        if (first is not None and not first) or trip == 0:  # none runs, whatever the body's condition
            iterations = 0
        elif trip is not None and trip >= 0 and first is not None and _always_true(body):
            iterations = int(trip)
        return _iterated_outputs(ctx, body, iterations)

    def evaluate(self, trip_count, execution_condition, *inputs, bodies):
        trip = int(np.asarray(trip_count).reshape(-1)[0])
        condition = bool(np.asarray(execution_condition).reshape(-1)[0])
        if trip < 0 and condition and _always_true(bodies[0].spec):
            raise EvaluationError("no trip count and a body condition that is always true: it would never end")
        return iterate(bodies[0], (trip_count, execution_condition) + inputs, None if trip < 0 else trip, condition)


def _always_true(body: Body) -> bool:
    """Whether the body's condition is a constant true (or absent): a counted loop."""
    if body.execution_condition is None:
        return True
    source = body.model.results[body.execution_condition].inputs[0].source
    if source.node.type != "Const" or source.node.tensor is None:
        return False
    return bool(np.all(source.node.tensor.numpy()))


@register("If", opset=8)
class If(Op):
    """Runs its then-body when the condition is true, else its else-body."""

    def infer(self, ctx: InferContext):
        then_body, else_body = check_bodies(ctx, 2, 1)
        condition = _scalar(ctx.value(0))
        outputs = []
        for port in range(len(then_body.outputs)):
            a = result_type(then_body, then_body.output_for(port).result)
            b = result_type(else_body, else_body.output_for(port).result)
            outputs.append(_merge(a, b) if condition is None else a if bool(condition) else b)
        return outputs

    def evaluate(self, condition, *inputs, bodies):
        body = bodies[0] if bool(np.asarray(condition).reshape(-1)[0]) else bodies[1]
        args = (condition,) + inputs
        values: list[Any] = [None] * len(body.spec.model.parameters)
        for m in body.spec.inputs:
            values[m.parameter] = args[m.port]
        results = body(values)
        return tuple(results[body.spec.output_for(port).result] for port in range(len(body.spec.outputs)))
