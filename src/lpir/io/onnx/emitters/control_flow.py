"""If, Loop and TensorIterator as ONNX If and Loop; their bodies are written by the emitters of
the ops inside (:func:`lpir.io.onnx.emit.emit_nodes`), nested bodies included.

ONNX sub-graphs read the tensors of the enclosing graphs by name, so a body Parameter fed
whole from a port of the node (If's inputs, invariant inputs) is simply that outer tensor.

A Loop or TensorIterator becomes an ONNX Loop:

- merged inputs (a back edge from a Result) are loop-carried values;
- a sliced input is cut inside the body by a Slice at the iteration number, in either
  direction, with any stride and part size: Scan would cover only parts of one;
- a last-iteration output is the final value of the carried value its Result feeds, or of an
  extra carried value started at zeros when its Result feeds no back edge;
- a concatenated output is an ONNX scan output, stacked on a new leading axis, then reversed
  for a negative stride and merged into its concatenation axis;
- OpenVINO's iteration counter is ONNX's iteration number and its execution condition the
  body's condition output; its trip count of -1 (no limit) is ONNX's absent one, and sliced
  inputs bound the trip count by their number of parts.
"""

from __future__ import annotations

import numpy as np

import onnx
from lpir.io.onnx.emit import EmitContext, emit_nodes, emitter, onnx_type, value_info
from lpir.ir import types
from lpir.ir.body import Body, InputMap, OutputMap
from lpir.ir.graph import Node, Output
from lpir.ir.shape import Shape
from lpir.ir.types import ElementType
from lpir.ops.common import normalize_axis
from lpir.ops.control_flow import zeros_of_result
from onnx import helper

_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min


# -- If -------------------------------------------------------------------------------------
@emitter("If")
def _if(ctx: EmitContext, node: Node) -> None:
    """ONNX If: branches without inputs, reading the If's inputs from the enclosing graph."""
    branches = {}
    for key, body in zip(("then_branch", "else_branch"), node.bodies):
        inner = ctx.body_context(body.model)
        for m in body.inputs:
            parameter = body.model.parameters[m.parameter].outputs[0]
            if parameter.consumers:  # unused ones would leave unread initializers behind
                inner.bind_outer(parameter, node.inputs[m.port].source, ctx)
        emit_nodes(inner, body.model.nodes())
        sources = [_result_source(body, body.output_for(port).result) for port in range(len(node.outputs))]
        outputs = _graph_outputs(inner, [(inner.name(s), s.etype, s.shape) for s in sources], node)
        branches[key] = helper.make_graph(inner.nodes, f"{node.name}/{key}", [], outputs, inner.initializers)
    _check_branch_types(ctx, node)
    ctx.add("If", [ctx.name(node.inputs[0].source)], [ctx.output_name(o) for o in node.outputs],
            name=node.name, **branches)


def _check_branch_types(ctx: EmitContext, node: Node) -> None:
    then_body, else_body = node.bodies
    for port in range(len(node.outputs)):
        a = _result_source(then_body, then_body.output_for(port).result).etype
        b = _result_source(else_body, else_body.output_for(port).result).etype
        if a != b:
            raise ctx.fail(node, f"output {port} is {a.name} in then_body and {b.name} in else_body; "
                                 "the branches of an ONNX If give one element type")


# -- Loop and TensorIterator ----------------------------------------------------------------
class _LoopBody:
    """The ONNX Loop body being written: its inputs, carried values and outputs."""

    def __init__(self, ctx: EmitContext, node: Node, body: Body):
        self.ctx, self.node, self.body = ctx, node, body
        self.inner = ctx.body_context(body.model)
        self.iteration = self.inner.unique(f"{node.name}/iteration")
        self.condition = self.inner.unique(f"{node.name}/condition")
        self.inputs = [value_info(self.iteration, types.i64, (), node.name),
                       value_info(self.condition, types.boolean, (), node.name)]
        self.initial: list[str] = []  # carried values: their outer initial tensors ...
        self.carried: list[int] = []  # ... and the body Results they take from the second iteration
        self.lengths = {m.parameter: _axis_length(ctx, node, m) for m in body.inputs if m.slicing is not None}

    def carry(self, initial: str, result: int, etype: ElementType, shape: Shape | None) -> str:
        """A new carried value: its body input's name."""
        name = self.inner.unique(f"{self.node.name}/carried_{len(self.carried)}")
        self.inputs.append(value_info(name, etype, shape, self.node.name))
        self.initial.append(initial)
        self.carried.append(result)
        return name

    def result(self, index: int) -> Output:
        return _result_source(self.body, index)


@emitter("Loop", "TensorIterator")
def _loop(ctx: EmitContext, node: Node) -> None:
    """One ONNX Loop: carried values first among its outputs, then the stacked scan outputs,
    which nodes after it turn into the concatenated ports."""
    loop = _LoopBody(ctx, node, node.bodies[0])
    trip = _trip_count(loop)
    condition = _first_condition(ctx, node) if node.type == "Loop" else ""
    _bind_inputs(loop)
    emit_nodes(loop.inner, loop.body.model.nodes())
    finals = _last_values(loop)
    scanned = [m for m in loop.body.outputs if m.slicing is not None]
    parts = [_scan_part(loop, m) for m in scanned]
    carried = [(loop.inner.name(loop.result(r)), loop.result(r).etype, loop.result(r).shape) for r in loop.carried]
    outputs = _graph_outputs(loop.inner, [(_body_condition(loop), types.boolean, ()), *carried, *parts], node)
    graph = helper.make_graph(loop.inner.nodes, f"{node.name}/body", loop.inputs, outputs, loop.inner.initializers)
    final_names = [ctx.output_name(node.outputs[finals[k]]) if k in finals else ctx.unique(f"{node.name}/final_{k}")
                   for k in range(len(loop.carried))]
    steps = [_steps(node, m, shape) for m, (_, _, shape) in zip(scanned, parts)]
    stacked = [ctx.unique(f"{node.name}/stacked_{m.port}") if todo else ctx.output_name(node.outputs[m.port])
               for m, todo in zip(scanned, steps)]
    ctx.add("Loop", [trip, condition, *loop.initial], final_names + stacked, name=node.name, body=graph)
    for m in loop.body.outputs:
        k = _carried_for(loop, m.result) if m.slicing is None else None
        if k is not None and finals[k] != m.port:  # a second port giving the same value
            ctx.add("Identity", [final_names[k]], ctx.output_name(node.outputs[m.port]), name=f"{node.name}/out_{m.port}")
    for m, name, todo in zip(scanned, stacked, steps):
        _concatenate(ctx, node, m, name, todo)


def _bind_inputs(loop: _LoopBody) -> None:
    """Give every body Parameter its ONNX tensor: carried, sliced, outer or the iteration number."""
    ctx, node, body, inner = loop.ctx, loop.node, loop.body, loop.inner
    for m in body.inputs:
        parameter = body.model.parameters[m.parameter].outputs[0]
        source = node.inputs[m.port].source
        if m.back_edge is not None:
            inner.bind(parameter, loop.carry(ctx.name(source), m.back_edge, parameter.etype, parameter.shape))
        elif not parameter.consumers:
            continue  # unread: neither an outer tensor nor a part of one to write
        elif m.slicing is not None:
            inner.bind(parameter, _slice_part(loop, m, ctx.name(source)))
        else:
            inner.bind_outer(parameter, source, ctx)
    if body.current_iteration is not None:
        counter = body.model.parameters[body.current_iteration].outputs[0]
        inner.bind(counter, _as_tensor(inner, loop.iteration, counter, f"{node.name}/iteration_value"))


def _as_tensor(ctx: EmitContext, name: str, like: Output, base: str) -> str:
    """``name`` (an int64 scalar) in the element type and rank of ``like``."""
    if like.etype is not types.i64:
        name = ctx.add("Cast", [name], name=f"{base}/cast", to=onnx_type(like.etype, base))[0]
    if like.shape != ():
        shape = [1] * len(like.shape) if like.shape is not None else [1]
        name = ctx.add("Reshape", [name, ctx.initializer(np.asarray(shape, np.int64), f"{base}/shape")],
                       name=f"{base}/reshape")[0]
    return name


def _scalar(ctx: EmitContext, output: Output, base: str) -> str:
    """The one value of ``output`` (scalar or [1]) as an ONNX scalar."""
    value = ctx.value(output)
    if value is not None and output.shape != ():
        return ctx.initializer(np.asarray(value).reshape(()), base, output.etype)
    name = ctx.name(output)
    if output.shape == ():
        return name
    return ctx.add("Reshape", [name, ctx.initializer(np.zeros(0, np.int64), f"{base}/scalar")], name=f"{base}/scalar")[0]


def _last_values(loop: _LoopBody) -> dict[int, int]:
    """Carried value → the first output port giving its final value; a Result that feeds no
    back edge gets a carried value of its own, started at zeros of its shape."""
    finals: dict[int, int] = {}
    for m in loop.body.outputs:
        if m.slicing is not None:
            continue
        k = _carried_for(loop, m.result)
        if k is None:
            k = len(loop.carried)
            loop.carry(_zeros(loop, m), m.result, loop.result(m.result).etype, loop.result(m.result).shape)
        finals.setdefault(k, m.port)
    return finals


def _carried_for(loop: _LoopBody, result: int) -> int | None:
    return next((k for k, r in enumerate(loop.carried) if r == result), None)


def _zeros(loop: _LoopBody, m: OutputMap) -> str:
    """The initial value of a last-iteration output nothing else starts: what the output is if
    no iteration runs (zeros, empty along unknown dimensions)."""
    value = zeros_of_result(loop.body, m.result)
    if value is None:
        raise loop.ctx.fail(loop.node, f"output {m.port} (the last value of body Result {m.result}) needs a known "
                                       "rank to be an ONNX loop-carried value")
    return loop.ctx.initializer(value, f"{loop.node.name}/initial_{m.port}", loop.result(m.result).etype)


def _body_condition(loop: _LoopBody) -> str:
    index = loop.body.execution_condition
    if index is None:
        return loop.condition  # passed on: ONNX's body condition output is required
    return _scalar(loop.inner, loop.result(index), f"{loop.node.name}/condition_out")


def _first_condition(ctx: EmitContext, node: Node) -> str:
    """OpenVINO Loop's input 1 as ONNX's optional condition (absent when always true)."""
    source = node.inputs[1].source
    value = ctx.value(source)
    if value is not None and np.all(value):
        return ""
    return _scalar(ctx, source, f"{node.name}/condition")


def _result_source(body: Body, index: int) -> Output:
    return body.model.results[index].inputs[0].source


def _graph_outputs(ctx: EmitContext, outputs: list[tuple[str, ElementType, Shape | None]],
                   node: Node) -> list[onnx.ValueInfoProto]:
    """A body's outputs; an Identity gives one its own name when the body does not compute its
    tensor (an outer tensor, an initializer, a body input) or when it is given twice."""
    produced = {name for n in ctx.nodes for name in n.output}
    infos, written = [], set()
    for index, (name, etype, shape) in enumerate(outputs):
        if name not in produced or name in written:
            name = ctx.add("Identity", [name], name=f"{node.name}/body_out_{index}")[0]
        written.add(name)
        infos.append(value_info(name, etype, shape, f"{node.name} body output {index}"))
    return infos


# -- iteration count --------------------------------------------------------------------------
def _trip_count(loop: _LoopBody) -> str:
    """ONNX's trip count: OpenVINO's (Loop) bounded by the parts of every sliced input."""
    ctx, node, body = loop.ctx, loop.node, loop.body
    bounds: list[int | str] = []
    if node.type == "Loop":
        source = node.inputs[0].source
        value = ctx.value(source)
        if value is None:
            bounds.append(_no_limit_when_negative(ctx, node, source))
        elif int(np.asarray(value).reshape(-1)[0]) >= 0:
            bounds.append(int(np.asarray(value).reshape(-1)[0]))
    for m in body.inputs:
        if m.slicing is not None:
            diff = _sub(_bound(m.slicing.end), _bound(m.slicing.start))
            bounds.append(_affine_div(ctx, diff, loop.lengths[m.parameter], abs(m.slicing.stride),
                                      f"{node.name}/parts_{m.port}"))
    static = [b for b in bounds if isinstance(b, int)]
    names = [b for b in bounds if isinstance(b, str)]
    if static:
        names.append(ctx.initializer(np.int64(min(static)), f"{node.name}/trip_count"))
    if len(names) > 1:
        return ctx.add("Min", names, name=f"{node.name}/trip_count")[0]
    return names[0] if names else ""


def _no_limit_when_negative(ctx: EmitContext, node: Node, source: Output) -> str:
    """A run-time trip count; OpenVINO's negative one (no limit) as the largest int64."""
    trip = _scalar(ctx, source, f"{node.name}/trip")
    if source.etype is not types.i64:
        trip = ctx.add("Cast", [trip], name=f"{node.name}/trip_i64", to=onnx.TensorProto.INT64)[0]
    negative = ctx.add("Less", [trip, ctx.initializer(np.int64(0), f"{node.name}/zero")], name=f"{node.name}/no_limit")[0]
    return ctx.add("Where", [negative, ctx.initializer(np.int64(_I64_MAX), f"{node.name}/unbounded"), trip],
                   name=f"{node.name}/trip_count")[0]


# Positions on a sliced axis of length L are affine in L: (coefficient of L, constant).
def _bound(position: int) -> tuple[int, int]:
    """A port map's start or end: a negative one counts from the end, -1 being the end."""
    return (1, position + 1) if position < 0 else (0, position)


def _sub(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] - b[0], a[1] - b[1]


def _axis_length(ctx: EmitContext, node: Node, m: InputMap) -> int | str:
    """The length of the sliced axis of input ``m.port``: known, or an int64 scalar tensor."""
    source = node.inputs[m.port].source
    if source.shape is not None:
        length = source.shape[normalize_axis(m.slicing.axis, len(source.shape))]
        if isinstance(length, int):
            return length
    shape = ctx.add("Shape", [ctx.name(source)], name=f"{node.name}/shape_{m.port}")[0]
    return ctx.add("Gather", [shape, ctx.initializer(np.int64(m.slicing.axis), f"{node.name}/axis_{m.port}")],
                   name=f"{node.name}/length_{m.port}", axis=0)[0]


def _affine(ctx: EmitContext, value: tuple[int, int], length: int | str, base: str) -> int | str:
    """``coefficient * length + constant``: a number when known, else an int64 scalar tensor."""
    coefficient, constant = value
    if coefficient == 0 or isinstance(length, int):
        return coefficient * (length if isinstance(length, int) else 0) + constant
    scaled = length if coefficient == 1 else ctx.add("Neg", [length], name=f"{base}/neg")[0]
    if constant == 0:
        return scaled
    return ctx.add("Add", [scaled, ctx.initializer(np.int64(constant), f"{base}/offset")], name=base)[0]


def _affine_div(ctx: EmitContext, value: tuple[int, int], length: int | str, stride: int, base: str) -> int | str:
    """``|value| // stride``: how many parts of a slicing."""
    diff = _affine(ctx, value, length, f"{base}/span")
    if isinstance(diff, int):
        return abs(diff) // stride
    diff = ctx.add("Abs", [diff], name=f"{base}/abs")[0]
    return ctx.add("Div", [diff, ctx.initializer(np.int64(stride), f"{base}/stride")], name=base)[0]


# -- sliced inputs and concatenated outputs ------------------------------------------------
def _slice_part(loop: _LoopBody, m: InputMap, outer: str) -> str:
    """Body nodes cutting iteration ``i``'s part of ``outer``: ``part_size`` elements from
    ``first + i * stride``, ``first`` being the start (or, walking backwards, start + stride)."""
    ctx, inner, node, slicing = loop.ctx, loop.inner, loop.node, m.slicing
    base = f"{node.name}/part_{m.port}"
    start = _bound(slicing.start)
    first = _affine(ctx, (start[0], start[1] + min(slicing.stride, 0)), loop.lengths[m.parameter], f"{base}/first")
    begin = loop.iteration
    if slicing.stride != 1:
        begin = inner.add("Mul", [begin, inner.initializer(np.int64(slicing.stride), f"{base}/stride")], name=f"{base}/step")[0]
    if first != 0:
        offset = inner.initializer(np.int64(first), f"{base}/first") if isinstance(first, int) else first
        begin = inner.add("Add", [begin, offset], name=f"{base}/begin")[0]
    begin = inner.add("Reshape", [begin, inner.initializer(np.ones(1, np.int64), f"{base}/one_dim")], name=f"{base}/starts")[0]
    end = inner.add("Add", [begin, inner.initializer(np.full(1, slicing.part_size, np.int64), f"{base}/size")],
                    name=f"{base}/ends")[0]
    axes = inner.initializer(np.full(1, slicing.axis, np.int64), f"{base}/axes")
    return inner.add("Slice", [outer, begin, end, axes], name=base)[0]


def _scan_part(loop: _LoopBody, m: OutputMap) -> tuple[str, ElementType, Shape | None]:
    """A concatenated output's per-iteration ONNX scan output; a part of one along the axis is
    squeezed, so that stacking the parts needs no reshape."""
    source = loop.result(m.result)
    if source.shape is None:
        raise loop.ctx.fail(loop.node, f"output {m.port} concatenates body Result {m.result}, whose rank is "
                                       "unknown: ONNX needs it to place the iteration axis")
    axis = normalize_axis(m.slicing.axis, len(source.shape))
    name = loop.inner.name(source)
    if source.shape[axis] != 1:
        return name, source.etype, source.shape
    axes = loop.inner.initializer(np.asarray([axis], np.int64), f"{loop.node.name}/squeeze_{m.port}")
    squeezed = loop.inner.add("Squeeze", [name, axes], name=f"{loop.node.name}/part_out_{m.port}")[0]
    return squeezed, source.etype, source.shape[:axis] + source.shape[axis + 1:]


def _steps(node: Node, m: OutputMap, part_shape: Shape) -> list[str]:
    """What turns ONNX's stacked scan output [iterations, *part] into OpenVINO's concatenation
    of the parts along the slicing axis (last part first for a negative stride)."""
    rank = len(_result_source(node.bodies[0], m.result).shape)
    axis = normalize_axis(m.slicing.axis, rank)
    return [step for step, needed in (("reverse", m.slicing.stride < 0), ("transpose", axis != 0),
                                      ("merge", len(part_shape) == rank)) if needed]


def _concatenate(ctx: EmitContext, node: Node, m: OutputMap, stacked: str, steps: list[str]) -> None:
    """Apply ``steps`` (:func:`_steps`) to the stacked scan output, the last one writing the port."""
    part = _result_source(node.bodies[0], m.result).shape
    axis = normalize_axis(m.slicing.axis, len(part))
    base = f"{node.name}/out_{m.port}"
    current = stacked
    for step in steps:
        out = ctx.output_name(node.outputs[m.port]) if step == steps[-1] else None
        if step == "reverse":
            bounds = [ctx.initializer(np.asarray([v], np.int64), f"{base}/{k}")
                      for k, v in (("start", -1), ("end", _I64_MIN), ("axis", 0), ("step", -1))]
            current = ctx.add("Slice", [current, *bounds], out, name=f"{base}/reversed")[0]
        elif step == "transpose":
            stacked_rank = len(part) + 1 if "merge" in steps else len(part)  # a part of 1 was squeezed
            perm = [*range(1, axis + 1), 0, *range(axis + 1, stacked_rank)]
            current = ctx.add("Transpose", [current], out, name=f"{base}/to_axis", perm=perm)[0]
        else:
            current = ctx.add("Reshape", [current, _merged_shape(ctx, current, part, axis, base)], out,
                              name=f"{base}/merged")[0]


def _merged_shape(ctx: EmitContext, tensor: str, part: Shape, axis: int, base: str) -> str:
    """The shape of [.., iterations, part_size, ..] with those two axes merged into one."""
    others = part[:axis] + part[axis + 1:]
    if all(isinstance(d, int) and d > 0 for d in others):
        return ctx.initializer(np.asarray([*part[:axis], -1, *part[axis + 1:]], np.int64), f"{base}/shape")
    shape = ctx.add("Shape", [tensor], name=f"{base}/shape")[0]
    pieces = []
    if axis:
        pieces.append(_shape_slice(ctx, shape, 0, axis, f"{base}/before"))
    pieces.append(ctx.initializer(np.asarray([-1], np.int64), f"{base}/merged_dim"))
    if axis + 1 < len(part):
        pieces.append(_shape_slice(ctx, shape, axis + 2, len(part) + 1, f"{base}/after"))
    return ctx.add("Concat", pieces, name=f"{base}/target", axis=0)[0]


def _shape_slice(ctx: EmitContext, shape: str, start: int, end: int, base: str) -> str:
    bounds = [ctx.initializer(np.asarray([v], np.int64), f"{base}/{k}") for k, v in (("start", start), ("end", end))]
    return ctx.add("Slice", [shape, *bounds], name=base)[0]
