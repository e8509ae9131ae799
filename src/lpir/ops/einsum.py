"""Einsum: Einstein summation over any number of inputs, with numpy's conventions.

The equation names each input's axes with letters (``a-z``, ``A-Z``) and at most one ``...``
for the axes it leaves unnamed; ``->`` gives the output's labels, and without it the output
holds the ``...`` axes and then, in ASCII order, the labels that occur exactly once. Axes with
the same label must have equal sizes or size 1 (broadcast); a label repeated in one input takes
its diagonal; labels absent from the output are summed over.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import Dimension, Shape
from lpir.ops.common import broadcast_dims, broadcast_shapes
from lpir.ops.elementwise import as_compute
from lpir.ops.registry import Attr, InferContext, Op, register

LABELS = frozenset(string.ascii_letters)
ELLIPSIS = "..."


@dataclass(frozen=True)
class Equation:
    """A parsed equation: each term a tuple of labels, ``...`` kept as one item."""

    inputs: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]


def parse_equation(equation: str, num_inputs: int) -> Equation:
    """Split and check ``equation`` for ``num_inputs`` inputs; the implicit output made explicit."""
    text = equation.replace(" ", "")
    left, arrow, right = text.partition("->")
    inputs = tuple(_term(term, equation) for term in left.split(","))
    if len(inputs) != num_inputs:
        raise ValidationError(f"equation {equation!r} has {len(inputs)} input terms for {num_inputs} inputs")
    if arrow:
        output = _term(right, equation)
        if len(set(output)) != len(output):
            raise ValidationError(f"equation {equation!r} repeats a label in its output")
        known = {label for term in inputs for label in term}
        unknown = [label for label in output if label not in known]
        if unknown:
            raise ValidationError(f"equation {equation!r}: output label(s) {unknown} appear in no input")
    else:
        counts: dict[str, int] = {}
        for term in inputs:
            for label in term:
                counts[label] = counts.get(label, 0) + 1
        once = sorted(label for label, count in counts.items() if count == 1 and label != ELLIPSIS)
        output = ((ELLIPSIS,) if ELLIPSIS in counts else ()) + tuple(once)
    return Equation(inputs, output)


def _term(text: str, equation: str) -> tuple[str, ...]:
    if text.count(ELLIPSIS) > 1:
        raise ValidationError(f"equation {equation!r}: a term has more than one '...'")
    head, dots, tail = text.partition(ELLIPSIS)
    bad = [c for c in head + tail if c not in LABELS]
    if bad:
        raise ValidationError(f"equation {equation!r}: {bad[0]!r} is not a label (letters a-z, A-Z, and '...')")
    return tuple(head) + ((ELLIPSIS,) if dots else ()) + tuple(tail)


def output_shape(equation: Equation, shapes: list[Shape]) -> Shape:
    """The output shape for input shapes ``shapes`` (raises when sizes disagree)."""
    sizes: dict[str, Dimension] = {}
    ellipses: list[Shape] = []
    for term, shape in zip(equation.inputs, shapes):
        named = len(term) - (ELLIPSIS in term)
        if len(shape) < named or (ELLIPSIS not in term and len(shape) != named):
            raise ValidationError(f"input of shape {list(shape)} does not fit the term {''.join(term)!r}")
        position = 0
        for label in term:
            if label == ELLIPSIS:
                width = len(shape) - named
                ellipses.append(tuple(shape[position:position + width]))
                position += width
                continue
            dim = shape[position]
            position += 1
            try:
                sizes[label] = broadcast_dims(sizes[label], dim) if label in sizes else dim
            except ValidationError as exc:
                raise ValidationError(f"label {label!r} has sizes {sizes[label]} and {dim}") from exc
    result: list[Dimension] = []
    for label in equation.output:
        if label == ELLIPSIS:
            result.extend(broadcast_shapes(ellipses))
        else:
            result.append(sizes[label])
    return tuple(result)


@register("Einsum", opset=7)
class Einsum(Op):
    """Einsum-7: inputs of one element type, contracted as ``equation`` says."""

    attrs = {"equation": Attr("str")}

    def infer(self, ctx: InferContext):
        try:
            equation = parse_equation(ctx.attrs["equation"], ctx.num_inputs)
        except ValidationError as exc:
            raise ctx.fail(str(exc)) from exc
        etype = ctx.etype(0)
        for i in range(1, ctx.num_inputs):
            if ctx.etype(i) != etype and types.dynamic not in (ctx.etype(i), etype):
                raise ctx.fail(f"input {i} is {ctx.etype(i)}, input 0 is {etype}: types must be equal")
        shapes = [ctx.shape(i) for i in range(ctx.num_inputs)]
        if any(shape is None for shape in shapes):
            return [(etype, None)]
        try:
            return [(etype, output_shape(equation, shapes))]
        except ValidationError as exc:
            raise ctx.fail(f"equation {ctx.attrs['equation']!r}: {exc}") from exc

    def evaluate(self, *inputs, equation):
        arrays = [np.asarray(a) for a in inputs]
        # f16/bf16 summed in f32; with three or more inputs numpy plans a contraction order
        result = np.einsum(equation.replace(" ", ""), *map(as_compute, arrays), optimize=len(arrays) > 2)
        return (np.asarray(result).astype(np.result_type(*arrays), copy=False),)
