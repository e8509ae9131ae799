"""ONNX If, Loop and Scan as OpenVINO's If-8, Loop-5 and TensorIterator-1.

Body graphs are converted recursively; an outer tensor a body reads becomes an extra input of
the node, fed to a body Parameter unchanged in every iteration, and an outer constant a Const of
the body (OpenVINO's frontend does the same). Loop's per-iteration scan outputs and Scan's scanned inputs and outputs have no iteration
axis in ONNX bodies: the body squeezes a sliced part of length 1 and unsqueezes a value before
it is concatenated, as OpenVINO's port maps cut and join along an axis of the tensor.
"""

from __future__ import annotations

import numpy as np

import onnx
from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir import DYNAMIC, make_node, make_parameter, make_result, types
from lpir.ir.body import Body, InputMap, OutputMap, Slicing
from lpir.ir.graph import Model, Node, Output
from lpir.ops import infer_node

_I64 = np.int64


def _declared(value: onnx.ValueInfoProto, like: Output | None, where: str) -> tuple:
    """A body input's element type and shape: as declared, else those of the outer value it
    starts from with every dimension open (a carried value may change shape between iterations)."""
    tensor_type = value.type.tensor_type
    etype = element_type(tensor_type.elem_type, where) if tensor_type.elem_type else (
        like.etype if like is not None else types.dynamic)
    if tensor_type.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else DYNAMIC for d in tensor_type.shape.dim)
    elif like is not None and like.shape is not None:
        shape = (DYNAMIC,) * len(like.shape)
    else:
        shape = None
    return etype, shape


def _body_parameter(value: onnx.ValueInfoProto, like: Output | None, ctx: NodeContext) -> Node:
    etype, shape = _declared(value, like, f"ONNX node '{ctx.name}' body input {value.name!r}")
    if etype is types.dynamic:
        raise ctx.fail(f"the element type of body input {value.name!r} is unknown")
    return make_parameter(etype, shape, name=f"{ctx.name}/{value.name}")


def _axis_op(ctx: NodeContext, op_type: str, value: Output, axis: int, suffix: str) -> Output:
    return ctx.op(op_type, value, ctx.const(np.asarray([axis], _I64), f"{suffix}_axis"), suffix=suffix)


def _finish(ctx: NodeContext, op_type: str, version: str, inputs: list[Output], bodies: list[Body]) -> Node:
    node = make_node(op_type, inputs, name=ctx.name, version=version)
    node.bodies = bodies
    infer_node(node)
    return node


def _capture(inputs: list[Output], body_inputs: list[InputMap], scope, parameters: list[Node], first: int) -> None:
    """Feed the outer tensors ``scope`` captured: one node input each from port ``first`` on
    (shared between bodies)."""
    for outer, parameter in scope.captured:
        port = next((i for i, existing in enumerate(inputs) if existing is outer and i >= first), None)
        if port is None:
            port = len(inputs)
            inputs.append(outer)
        body_inputs.append(InputMap(port, len(parameters)))
        parameters.append(parameter)


@converter("If", emits=("If",))
def _if(ctx: NodeContext) -> list[Output]:
    inputs = [ctx.input(0)]
    bodies = []
    for key in ("then_branch", "else_branch"):
        graph = ctx.attr(key, required=True)
        outputs, scope = ctx.convert_body(graph, [])
        parameters: list[Node] = []
        maps: list[InputMap] = []
        _capture(inputs, maps, scope, parameters, 1)
        results = [make_result(value, name=f"{ctx.name}/{key}/{i}") for i, value in enumerate(outputs)]
        bodies.append(Body(Model(parameters, results, name=f"{ctx.name}/{key}"), maps,
                           [OutputMap(i, i) for i in range(len(results))]))
    if len(bodies[0].outputs) != len(bodies[1].outputs):
        raise ctx.fail(f"then_branch has {len(bodies[0].outputs)} outputs, else_branch {len(bodies[1].outputs)}")
    return list(_finish(ctx, "If", "opset8", inputs, bodies).outputs)


@converter("Loop", emits=("Loop", "Maximum", "Unsqueeze"))
def _loop(ctx: NodeContext) -> list[Output]:
    graph = ctx.attr("body", required=True)
    trip = ctx.optional_input(0)
    condition = ctx.optional_input(1)
    # OpenVINO's -1 is "no limit"; in ONNX only an absent trip count is, and a negative one runs nothing
    trip = ctx.op("Maximum", trip, ctx.const_like(0, trip, "no_trip"), suffix="trip_count") if trip is not None \
        else ctx.const(_I64(-1), "trip_count")
    condition = condition if condition is not None else ctx.const(np.bool_(True), "condition")
    carried = [ctx.input(i) for i in range(2, ctx.num_inputs)]
    if len(graph.input) != 2 + len(carried):
        raise ctx.fail(f"the body has {len(graph.input)} inputs, 2 + {len(carried)} loop-carried values expected")
    iteration = _body_parameter(graph.input[0], None, ctx)
    body_condition = make_parameter(types.boolean, None, name=f"{ctx.name}/{graph.input[1].name}")
    states = [_body_parameter(value, init, ctx) for value, init in zip(graph.input[2:], carried)]
    parameters = [iteration, body_condition, *states]
    outputs, scope = ctx.convert_body(graph, [p.outputs[0] for p in parameters])
    if len(outputs) < 1 + len(carried):
        raise ctx.fail(f"the body has {len(outputs)} outputs, at least 1 + {len(carried)} expected")
    # results: condition, carried values, then scan outputs with a new leading axis
    values = outputs[:1 + len(carried)]
    values += [_axis_op(ctx, "Unsqueeze", v, 0, f"scan_{k}") for k, v in enumerate(outputs[1 + len(carried):])]
    results = [make_result(v, name=f"{ctx.name}/body_out_{i}") for i, v in enumerate(values)]
    inputs = [trip, condition, condition, *carried]
    maps = [InputMap(2, 1, back_edge=0)] + [InputMap(3 + k, 2 + k, back_edge=1 + k) for k in range(len(carried))]
    _capture(inputs, maps, scope, parameters, 3 + len(carried))
    out_maps = [OutputMap(k, 1 + k) for k in range(len(carried))]
    out_maps += [OutputMap(len(carried) + k, 1 + len(carried) + k, Slicing(0))
                 for k in range(len(outputs) - 1 - len(carried))]
    body = Body(Model(parameters, results, name=f"{ctx.name}/body"), maps, out_maps,
                current_iteration=0, execution_condition=0)
    return list(_finish(ctx, "Loop", "opset5", inputs, [body]).outputs)


@converter("Scan", emits=("TensorIterator", "Squeeze", "Unsqueeze"))
def _scan(ctx: NodeContext) -> list[Output]:
    graph = ctx.attr("body", required=True)
    scanned_count = ctx.attr("num_scan_inputs", required=True)
    if ctx.opset < 9:
        return _batched_scan(ctx, graph, scanned_count)
    inputs = ctx.inputs()
    states, scanned = inputs[:len(inputs) - scanned_count], inputs[len(inputs) - scanned_count:]
    scan_outputs = len(graph.output) - len(states)
    return _scan_node(ctx, graph, states, scanned, ctx.attr("scan_input_axes", [0] * scanned_count),
                      ctx.attr("scan_input_directions", [0] * scanned_count),
                      ctx.attr("scan_output_axes", [0] * scan_outputs),
                      ctx.attr("scan_output_directions", [0] * scan_outputs), None)


def _scan_node(ctx: NodeContext, graph: onnx.GraphProto, states: list[Output], scanned: list[Output],
               in_axes: list[int], in_dirs: list[int], out_axes: list[int], out_dirs: list[int], within) -> list[Output]:
    """A TensorIterator running ``graph`` over ``scanned`` as Scan-9 does (``within``: the scope
    of an enclosing body being built, None at the node's own level)."""
    parameters = [_body_parameter(value, init, ctx) for value, init in zip(graph.input, states)]
    bound = [p.outputs[0] for p in parameters]
    maps = [InputMap(k, k, back_edge=k) for k in range(len(states))]
    for k, (value, source) in enumerate(zip(graph.input[len(states):], scanned)):
        axis = in_axes[k] % ctx.rank(source)
        etype, _ = _declared(value, source, value.name)
        shape = tuple(1 if i == axis else d for i, d in enumerate(source.shape))
        part = make_parameter(etype, shape, name=f"{ctx.name}/{value.name}")
        maps.append(InputMap(len(states) + k, len(parameters), _direction(axis, in_dirs[k])))
        parameters.append(part)
        bound.append(_axis_op(ctx, "Squeeze", part.outputs[0], axis, f"part_{k}"))
    outputs, scope = ctx.convert_body(graph, bound, within)
    values = outputs[:len(states)]
    out_maps = [OutputMap(k, k) for k in range(len(states))]
    for k, value in enumerate(outputs[len(states):]):
        axis = out_axes[k] % (ctx.rank(value) + 1)
        values.append(_axis_op(ctx, "Unsqueeze", value, axis, f"scan_{k}"))
        out_maps.append(OutputMap(len(states) + k, len(states) + k, _direction(axis, out_dirs[k])))
    results = [make_result(v, name=f"{ctx.name}/body_out_{i}") for i, v in enumerate(values)]
    node_inputs = [*states, *scanned]
    _capture(node_inputs, maps, scope, parameters, len(node_inputs))
    body = Body(Model(parameters, results, name=f"{ctx.name}/body"), maps, out_maps)
    return list(_finish(ctx, "TensorIterator", "opset1", node_inputs, [body]).outputs)


def _batched_scan(ctx: NodeContext, graph: onnx.GraphProto, scanned_count: int) -> list[Output]:
    """Scan-8: every input and output has a leading batch axis the body does not see, and the
    scan axis is the next one. An outer TensorIterator runs over the batch, one element per
    iteration, around the Scan-9 form of the node."""
    if ctx.optional_input(0) is not None:
        raise ctx.fail("Scan-8 with sequence_lens is not supported (only whole sequences)")
    inputs = [ctx.input(i) for i in range(1, ctx.num_inputs)]
    directions = ctx.attr("directions", [0] * scanned_count)
    scope = ctx.body_scope()
    parameters = [make_parameter(v.etype, (1, *v.shape[1:]) if v.shape else None, name=f"{ctx.name}/batch_{i}")
                  for i, v in enumerate(inputs)]
    for v in inputs:
        ctx.rank(v)
    values = [_axis_op(ctx, "Squeeze", p.outputs[0], 0, f"batch_{i}") for i, p in enumerate(parameters)]
    split = len(values) - scanned_count
    scan_outputs = len(graph.output) - split
    inner = _scan_node(ctx, graph, values[:split], values[split:], [0] * scanned_count, directions,
                       [0] * scan_outputs, [0] * scan_outputs, scope)
    results = [make_result(_axis_op(ctx, "Unsqueeze", v, 0, f"batch_out_{i}"), name=f"{ctx.name}/batch_out_{i}")
               for i, v in enumerate(inner)]
    maps = [InputMap(i, i, Slicing(0)) for i in range(len(inputs))]
    _capture(inputs, maps, scope, parameters, len(inputs))
    body = Body(Model(parameters, results, name=f"{ctx.name}/batch"), maps,
                [OutputMap(i, i, Slicing(0)) for i in range(len(results))])
    return list(_finish(ctx, "TensorIterator", "opset1", inputs, [body]).outputs)


def _direction(axis: int, reverse: int) -> Slicing:
    """Parts of 1 along ``axis``, first to last or (``reverse``) last to first."""
    return Slicing(axis, start=-1, end=0, stride=-1) if reverse else Slicing(axis)
