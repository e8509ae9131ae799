"""Ops that move, select or reshape data without arithmetic (Reshape, Transpose, Concat, Gather, Slice, ...).

Shape inference here works on partial shapes: a dimension is an ``int`` or a dynamic
:class:`~lpir.ir.shape.Dim`. Where an output shape depends on an input *value* (Reshape's
target, Slice's bounds, Gather's axis ...) the value is taken from ``ctx.value`` when it is
known before running, else from ``ctx.partial_value`` (shape subgraphs such as ShapeOf →
Gather → Concat carry dynamic elements); otherwise the rank is kept when it can be and the
dimensions become dynamic. The same shape functions serve inference and evaluation, so the two cannot disagree.
"""

from lpir.ops.movement import gather, rearrange, reshape, slicing, unique  # noqa: F401  (registrations)
