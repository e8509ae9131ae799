"""Models with sub-graph bodies, built with OpenVINO's own API: If, Loop and TensorIterator in
the forms its ONNX frontend and model conversion produce (invariant, merged and sliced inputs,
last-value and concatenated outputs, Loop's iteration counter and condition)."""

from __future__ import annotations

import numpy as np
import openvino as ov
from openvino import opset13 as ops


def if_model() -> ov.Model:
    """relu(x) * y or -x - y by a runtime condition; each branch reads the inputs it uses."""
    condition = ops.parameter([], np.bool_, name="c")
    x, y = ops.parameter([2, 3], np.float32, name="x"), ops.parameter([2, 3], np.float32, name="y")
    then_x, then_y, else_x, else_y = (ops.parameter([2, 3], np.float32) for _ in range(4))
    then_body = ov.Model([ops.result(ops.multiply(ops.relu(then_x), then_y))], [then_x, then_y])
    else_body = ov.Model([ops.result(ops.subtract(ops.negative(else_x), else_y))], [else_x, else_y])
    branch = ops.if_op(condition)
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(x.output(0), then_x, else_x)
    branch.set_input(y.output(0), then_y, else_y)
    output = branch.set_output(then_body.results[0], else_body.results[0])
    return ov.Model([ops.result(output)], [condition, x, y], "if")


def loop_model() -> ov.Model:
    """A running sum acc += x * (i + 1) with a trip count given at run time and a condition
    computed by the body (stop once the sum's maximum exceeds a limit); returns the final sum,
    every iteration's sum stacked, and the iteration counter's last value."""
    trip = ops.parameter([], np.int64, name="trip")
    limit = ops.parameter([], np.float32, name="limit")
    init, x = ops.parameter([2, 3], np.float32, name="init"), ops.parameter([2, 3], np.float32, name="x")
    i = ops.parameter([], np.int64, name="i")
    acc, body_x, body_limit = (ops.parameter([2, 3], np.float32, name="acc"),
                               ops.parameter([2, 3], np.float32, name="bx"),
                               ops.parameter([], np.float32, name="blimit"))
    step = ops.convert(ops.add(i, ops.constant(np.int64(1))), np.float32)
    new_acc = ops.add(acc, ops.multiply(body_x, step))
    go_on = ops.less(ops.reduce_max(new_acc, ops.constant(np.array([0, 1], np.int64))), body_limit)
    stacked = ops.unsqueeze(new_acc, ops.constant(np.array([0], np.int64)))
    results = [ops.result(go_on), ops.result(new_acc), ops.result(stacked), ops.result(i)]
    body = ov.Model(results, [i, acc, body_x, body_limit], "loop_body")
    loop = ops.loop(trip, ops.constant(True))
    loop.set_function(body)
    loop.set_special_body_ports([0, 0])
    loop.set_merged_input(acc, init.output(0), results[1].input_value(0))
    loop.set_invariant_input(body_x, x.output(0))
    loop.set_invariant_input(body_limit, limit.output(0))
    final = loop.get_iter_value(results[1].input_value(0), -1)
    every = loop.get_concatenated_slices(results[2].input_value(0), 0, 1, 1, -1, 0)
    last_i = loop.get_iter_value(results[3].input_value(0), -1)
    return ov.Model([ops.result(final), ops.result(every), ops.result(last_i)], [trip, limit, init, x], "loop")


def tensor_iterator_model() -> ov.Model:
    """A recurrence over the time axis of a [2, 6, 3] sequence read backwards in parts of 2:
    h = tanh(x_t @ W + h @ U), with every step's h concatenated (backwards too) and the last h."""
    rng = np.random.default_rng(7)
    xs, h0 = ops.parameter([2, 6, 3], np.float32, name="xs"), ops.parameter([2, 2, 4], np.float32, name="h0")
    part, h = ops.parameter([2, 2, 3], np.float32, name="part"), ops.parameter([2, 2, 4], np.float32, name="h")
    w = ops.constant(rng.standard_normal((3, 4)).astype(np.float32))
    u = ops.constant(rng.standard_normal((4, 4)).astype(np.float32) * 0.5)
    new_h = ops.tanh(ops.add(ops.matmul(part, w, False, False), ops.matmul(h, u, False, False)))
    result = ops.result(new_h)
    body = ov.Model([result], [part, h], "ti_body")
    iterator = ops.tensor_iterator()
    iterator.set_body(body)
    iterator.set_sliced_input(part, xs.output(0), -1, -2, 2, 0, 1)
    iterator.set_merged_input(h, h0.output(0), result.input_value(0))
    every = iterator.get_concatenated_slices(result.input_value(0), -1, -2, 2, 0, 1)
    last = iterator.get_iter_value(result.input_value(0), -1)
    return ov.Model([ops.result(every), ops.result(last)], [xs, h0], "tensor_iterator")


def inputs_for(model: ov.Model, seed: int = 0, **fixed) -> list[np.ndarray]:
    """Random inputs for ``model`` (standard normal floats), with ``fixed`` values by name."""
    rng = np.random.default_rng(seed)
    values = []
    for parameter in model.get_parameters():
        name = parameter.get_friendly_name()
        if name in fixed:
            values.append(np.asarray(fixed[name], dtype=parameter.get_element_type().to_dtype()))
        else:
            shape = parameter.get_output_partial_shape(0).to_shape()
            values.append(rng.standard_normal(shape).astype(np.float32))
    return values


def sliced_tensor_iterator_model(axis: int, start: int, end: int, stride: int, part_size: int,
                                 out_stride: int, dynamic: bool = False) -> ov.Model:
    """A TensorIterator over a [2, 6, 3] sequence (the 6 moved to ``axis``) cut as given: a
    running state h = 0.5 * h + part, every step's h concatenated (forwards or, with a negative
    ``out_stride``, backwards), the last h, and the last step's part * 2 (a Result that feeds no
    back edge). ``dynamic`` leaves the sequence's other dimensions open."""
    dims = [2, 3]
    dims.insert(axis % 3, 6)
    xs_shape = [-1 if dynamic and i != axis % 3 else d for i, d in enumerate(dims)]
    part_shape = [part_size if i == axis % 3 else d for i, d in enumerate(xs_shape)]
    xs, h0 = ops.parameter(xs_shape, np.float32, name="xs"), ops.parameter(part_shape, np.float32, name="h0")
    part, h = ops.parameter(part_shape, np.float32, name="part"), ops.parameter(part_shape, np.float32, name="h")
    new_h = ops.add(ops.multiply(h, ops.constant(np.float32(0.5))), part)
    doubled = ops.multiply(part, ops.constant(np.float32(2.0)))
    results = [ops.result(new_h), ops.result(doubled)]
    iterator = ops.tensor_iterator()
    iterator.set_body(ov.Model(results, [part, h], "ti_body"))
    iterator.set_sliced_input(part, xs.output(0), start, stride, part_size, end, axis)
    iterator.set_merged_input(h, h0.output(0), results[0].input_value(0))
    order = (0, part_size, part_size, -1, axis) if out_stride > 0 else (-1, -part_size, part_size, 0, axis)
    every = iterator.get_concatenated_slices(results[0].input_value(0), *order)
    last = iterator.get_iter_value(results[0].input_value(0), -1)
    last_doubled = iterator.get_iter_value(results[1].input_value(0), -1)
    return ov.Model([ops.result(every), ops.result(last), ops.result(last_doubled)], [xs, h0], "sliced_ti")


def loop_over_slices_model() -> ov.Model:
    """A Loop reading its sequence one row at a time along axis 1 of a [-1, -1, 3] tensor, with
    an i32 [1] trip count and iteration counter: out = part * (i + 1) + scale, concatenated
    along axis 1, and the counter's last value; the loop stops after ``trip`` iterations or
    when the rows run out."""
    xs = ops.parameter([-1, -1, 3], np.float32, name="xs")
    trip = ops.parameter([1], np.int32, name="trip")
    scale = ops.parameter([3], np.float32, name="scale")
    i = ops.parameter([1], np.int32, name="i")
    part, body_scale = ops.parameter([-1, 1, 3], np.float32, name="part"), ops.parameter([3], np.float32, name="s")
    factor = ops.convert(ops.add(i, ops.constant(np.int32([1]))), np.float32)
    out = ops.add(ops.multiply(part, factor), body_scale)
    results = [ops.result(ops.constant(np.bool_([True]))), ops.result(out), ops.result(i)]
    loop = ops.loop(trip, ops.constant(np.bool_([True])))
    loop.set_function(ov.Model(results, [i, part, body_scale], "loop_body"))
    loop.set_special_body_ports([0, 0])
    loop.set_sliced_input(part, xs.output(0), 0, 1, 1, -1, 1)
    loop.set_invariant_input(body_scale, scale.output(0))
    every = loop.get_concatenated_slices(results[1].input_value(0), 0, 1, 1, -1, 1)
    last_i = loop.get_iter_value(results[2].input_value(0), -1)
    return ov.Model([ops.result(every), ops.result(last_i)], [xs, trip, scale], "loop_over_slices")


def nested_model() -> ov.Model:
    """A Loop whose body holds an If (by the sign of the running sum) whose then-branch holds a
    TensorIterator: acc = acc + (cumulative sum over the rows of x when sum(acc) > 0, else -x)."""
    x, init = ops.parameter([4, 3], np.float32, name="x"), ops.parameter([4, 3], np.float32, name="init")
    trip = ops.parameter([], np.int64, name="trip")
    acc, body_x = ops.parameter([4, 3], np.float32, name="acc"), ops.parameter([4, 3], np.float32, name="bx")
    # then: a TensorIterator running a sum over the rows of x
    then_x = ops.parameter([4, 3], np.float32, name="then_x")
    row, total = ops.parameter([1, 3], np.float32, name="row"), ops.parameter([1, 3], np.float32, name="total")
    running = ops.add(total, row)
    ti_result = ops.result(running)
    iterator = ops.tensor_iterator()
    iterator.set_body(ov.Model([ti_result], [row, total], "rows"))
    iterator.set_sliced_input(row, then_x.output(0), 0, 1, 1, -1, 0)
    iterator.set_merged_input(total, ops.constant(np.zeros((1, 3), np.float32)).output(0), ti_result.input_value(0))
    cumulative = iterator.get_concatenated_slices(ti_result.input_value(0), 0, 1, 1, -1, 0)
    then_body = ov.Model([ops.result(cumulative)], [then_x], "then")
    else_x = ops.parameter([4, 3], np.float32, name="else_x")
    else_body = ov.Model([ops.result(ops.negative(else_x))], [else_x], "else")
    positive = ops.greater(ops.reduce_sum(acc, ops.constant(np.array([0, 1], np.int64))), ops.constant(np.float32(0)))
    branch = ops.if_op(positive.output(0))
    branch.set_then_body(then_body)
    branch.set_else_body(else_body)
    branch.set_input(body_x.output(0), then_x, else_x)
    step = branch.set_output(then_body.results[0], else_body.results[0])
    new_acc = ops.add(acc, step)
    results = [ops.result(ops.constant(True)), ops.result(new_acc)]
    loop = ops.loop(trip, ops.constant(True))
    loop.set_function(ov.Model(results, [acc, body_x], "outer"))
    loop.set_special_body_ports([-1, 0])
    loop.set_merged_input(acc, init.output(0), results[1].input_value(0))
    loop.set_invariant_input(body_x, x.output(0))
    final = loop.get_iter_value(results[1].input_value(0), -1)
    return ov.Model([ops.result(final)], [x, init, trip], "nested")


def quantized_body_model() -> ov.Model:
    """A TensorIterator whose body quantizes its state with a FakeQuantize (256 levels over
    [0, 2.55], zero on the grid) before a MatMul with a constant: QDQ inside a loop."""
    rng = np.random.default_rng(3)
    xs, h0 = ops.parameter([5, 1, 4], np.float32, name="xs"), ops.parameter([1, 4], np.float32, name="h0")
    part, h = ops.parameter([1, 1, 4], np.float32, name="part"), ops.parameter([1, 4], np.float32, name="h")
    low, high = ops.constant(np.float32(0)), ops.constant(np.float32(2.55))
    quantized = ops.fake_quantize(ops.relu(h), low, high, low, high, 256)
    w = ops.constant(rng.standard_normal((4, 4)).astype(np.float32) * 0.5)
    step = ops.reshape(part, ops.constant(np.array([1, 4], np.int64)), False)
    new_h = ops.sigmoid(ops.add(ops.matmul(quantized, w, False, False), step))
    result = ops.result(new_h)
    iterator = ops.tensor_iterator()
    iterator.set_body(ov.Model([result], [part, h], "q_body"))
    iterator.set_sliced_input(part, xs.output(0), 0, 1, 1, -1, 0)
    iterator.set_merged_input(h, h0.output(0), result.input_value(0))
    last = iterator.get_iter_value(result.input_value(0), -1)
    return ov.Model([ops.result(last)], [xs, h0], "quantized_body")


def recurrence_model(rows: int, width: int, step) -> ov.Model:
    """A TensorIterator over the rows of xs [rows, width]: h = step(h, row) from h0 [1, width]
    (``step`` builds the body's output node from the two body Parameters); returns the last h."""
    xs, h0 = ops.parameter([rows, width], np.float32, name="xs"), ops.parameter([1, width], np.float32, name="h0")
    row, h = ops.parameter([1, width], np.float32, name="row"), ops.parameter([1, width], np.float32, name="h")
    result = ops.result(step(h, row))
    iterator = ops.tensor_iterator()
    iterator.set_body(ov.Model([result], [row, h]))
    iterator.set_sliced_input(row, xs.output(0), 0, 1, 1, -1, 0)
    iterator.set_merged_input(h, h0.output(0), result.input_value(0))
    return ov.Model([ops.result(iterator.get_iter_value(result.input_value(0), -1))], [xs, h0], "recurrence")


def constant_through_parameter_model() -> ov.Model:
    """A Loop whose body reads its reduction axes through a Parameter fed by an outer Constant
    (OpenVINO's API and IR allow it; its ONNX frontend puts such constants in the body):
    h = h - mean(h, axes) + x, run ``trip`` times."""
    x = ops.parameter([2, 3], np.float32, name="x")
    init = ops.parameter([2, 3], np.float32, name="init")
    trip = ops.parameter([], np.int64, name="trip")
    h, body_x = ops.parameter([2, 3], np.float32, name="h"), ops.parameter([2, 3], np.float32, name="bx")
    axes = ops.parameter([1], np.int64, name="axes")
    new_h = ops.add(ops.subtract(h, ops.reduce_mean(h, axes, True)), body_x)
    results = [ops.result(ops.constant(True)), ops.result(new_h)]
    loop = ops.loop(trip, ops.constant(True))
    loop.set_function(ov.Model(results, [h, body_x, axes], "body"))
    loop.set_special_body_ports([-1, 0])
    loop.set_merged_input(h, init.output(0), results[1].input_value(0))
    loop.set_invariant_input(body_x, x.output(0))
    loop.set_invariant_input(axes, ops.constant(np.array([1], np.int64)).output(0))
    final = loop.get_iter_value(results[1].input_value(0), -1)
    return ov.Model([ops.result(final)], [x, init, trip], "constant_through_parameter")
