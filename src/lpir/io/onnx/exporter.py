"""lpir Model → ONNX: standard ONNX ops, FakeQuantize as QDQ, compressed weights as integers.

The inverse of the importer for the ops it covers. Nodes are written in topological order, each
by the emitter of its op type (:mod:`lpir.io.onnx.emitters`); subgraphs that depend on no model
input are folded into initializers, except weights in low precision, which stay integers read
through ``DequantizeLinear``. Sub-graph bodies (If, Loop, TensorIterator) are written by the
same emitters into ONNX If and Loop bodies. The opset is the lowest from 13 on that holds every
node written.

Files are written under temporary names and renamed into place; a model whose initializers
pass ``EXTERNAL_DATA_THRESHOLD`` bytes (protobuf cannot hold 2 GB) keeps them in one data file
beside it, ``<name>.onnx.data``.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import onnx
from lpir.errors import LpirError, UnsupportedOpError, ValidationError
from lpir.io.atomic import TempFile
from lpir.io.onnx import emitters  # noqa: F401  (registers the emitters)
from lpir.io.onnx.emit import (EMITTERS, GRAPH_NODES, EmitContext, emit_nodes, is_folded, upgrade_forms, value_info,
                               with_subgraph_nodes)
from lpir.ir.graph import Model, Node, with_body_nodes
from onnx import helper

MAX_OPSET = 21
# Bytes of initializers above which they go to a data file (a protobuf message stops at 2 GiB).
EXTERNAL_DATA_THRESHOLD = 2_000_000_000


@dataclass(frozen=True)
class OnnxExport:
    """What an export wrote: the model file, its external data file if any, opset and op counts
    (the nodes inside If branches and Loop bodies included)."""

    path: Path
    data_path: Path | None
    opset: int
    op_counts: dict[str, int]

    @property
    def size(self) -> int:
        return self.path.stat().st_size + (self.data_path.stat().st_size if self.data_path else 0)


def export_onnx(model: Model, path: str | os.PathLike, *, opset: int | None = None,
                float_fallback: bool = False) -> OnnxExport:
    """Write ``model`` as ONNX at ``path``, atomically.

    ``opset`` pins the ONNX opset (an error names the first node that needs a newer one);
    ``float_fallback`` writes FakeQuantize nodes that have no QDQ form as float arithmetic
    instead of raising.
    """
    path = Path(path)
    try:
        proto = convert_to_onnx(model, opset=opset, float_fallback=float_fallback)
    except LpirError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    counts = Counter(node.op_type for node in with_subgraph_nodes(proto.graph.node))
    data_path = write_onnx(proto, path)
    return OnnxExport(path, data_path, proto.opset_import[0].version, dict(counts))


def convert_to_onnx(model: Model, *, opset: int | None = None, float_fallback: bool = False) -> onnx.ModelProto:
    """The ONNX model of ``model`` (in memory)."""
    if opset is not None and not 13 <= opset <= MAX_OPSET:
        raise ValidationError(f"ONNX opset {opset} cannot be written (13..{MAX_OPSET})")
    ctx = EmitContext(model, float_fallback=float_fallback)
    nodes = model.nodes()
    check_supported(ctx, nodes)
    inputs = [_interface_value(ctx, param, param.outputs[0]) for param in model.parameters]
    result_names = _prefer_result_names(ctx, model)
    emit_nodes(ctx, nodes)
    outputs, written = [], set()
    for result, name in zip(model.results, result_names):
        outputs.append(_result(ctx, result, name, written))
    if opset is not None and opset < ctx.opset:
        raise ValidationError(f"opset {opset} cannot express {ctx.opset_reasons[ctx.opset]}, "
                              f"which needs opset {ctx.opset}")
    ctx.opset = opset or ctx.opset
    upgrade_forms(ctx)
    graph = helper.make_graph(ctx.nodes, model.name or "lpir_model", inputs, outputs, ctx.initializers)
    opset_ids = [helper.make_opsetid("", ctx.opset)]
    proto = helper.make_model(graph, opset_imports=opset_ids, producer_name="lpir",
                              ir_version=helper.find_min_ir_version_for(opset_ids))
    return proto


def check_supported(ctx: EmitContext, nodes: list[Node]) -> None:
    """Raise one UnsupportedOpError listing every op type that has no ONNX emitter (in the
    sub-graph bodies too)."""
    missing: dict[str, list[str]] = defaultdict(list)
    for node in with_body_nodes(nodes):
        if node.type in GRAPH_NODES or node.type in EMITTERS or is_folded(ctx, node):
            continue
        missing[f"{node.type}-{node.version}"].append(node.name)
    if missing:
        lines = [f"{op}: {len(names)} node(s), e.g. '{names[0]}'" for op, names in sorted(missing.items())]
        raise UnsupportedOpError(f"{len(missing)} op type(s) have no ONNX export: " + "; ".join(lines))


def _interface_value(ctx: EmitContext, node: Node, output) -> onnx.ValueInfoProto:
    name = ctx.output_name(output)
    return value_info(name, output.etype, output.shape, f"input '{node.name}'")


def _prefer_result_names(ctx: EmitContext, model: Model) -> list[str]:
    """Each Result's ONNX name: its tensor name as read (the importer's graph output name)."""
    names = []
    for result in model.results:
        source = result.inputs[0].source
        name = result.name if result.name in source.names else (source.names[0] if source.names else result.name)
        if source.node.type != "Parameter" and (source.node.uid, source.index) not in ctx.names:
            ctx.prefer(source, name)
        names.append(name)
    return names


def _result(ctx: EmitContext, result: Node, name: str, written: set[str]) -> onnx.ValueInfoProto:
    """A graph output; an Identity gives it its own name when its tensor has another one (a
    model input, a constant, a tensor returned twice)."""
    source = result.inputs[0].source
    tensor = ctx.name(source)
    if tensor != name or name in written or source.node.type == "Parameter":
        name = ctx.add("Identity", [tensor], ctx.unique(name), name=f"{name}/identity")[0]
    written.add(name)
    return value_info(name, source.etype, source.shape, f"output '{result.name}'")


def write_onnx(proto: onnx.ModelProto, path: str | os.PathLike, *,
               external_threshold: int = EXTERNAL_DATA_THRESHOLD) -> Path | None:
    """Serialise ``proto`` to ``path`` atomically; when its initializers (sub-graphs' too) hold
    more than ``external_threshold`` bytes, they go to ``<name>.data`` beside it (its path is
    returned)."""
    path = Path(path)
    data_path = path.with_name(path.name + ".data")
    model_tmp, data_tmp = TempFile(path), TempFile(data_path)
    external = sum(len(t.raw_data) for t in _initializers(proto.graph)) > external_threshold
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if external:
            with data_tmp.open() as data_file:
                _move_to_external(proto, data_file, data_path.name)
        with model_tmp.open() as model_file:
            model_file.write(proto.SerializeToString())
        model_tmp.link()
        if external:
            data_tmp.link()
            data_tmp.commit()
        model_tmp.commit()
    except BaseException as exc:
        model_tmp.discard()
        data_tmp.discard()
        if isinstance(exc, OSError):
            raise ValidationError(f"{path}: cannot save the model ({exc.strerror or exc})") from exc
        raise
    return data_path if external else None


_ALIGNMENT = 4096
_SMALL_TENSOR = 1024


def _move_to_external(proto: onnx.ModelProto, data_file, location: str) -> None:
    """Append each initializer of at least _SMALL_TENSOR bytes to ``data_file`` (page-aligned, so
    readers can map it) and point the tensor at it."""
    offset = 0
    for tensor in _initializers(proto.graph):
        data = tensor.raw_data
        if len(data) < _SMALL_TENSOR:
            continue
        padding = -offset % _ALIGNMENT
        data_file.write(b"\0" * padding)
        offset += padding
        data_file.write(data)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(len(data)))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        offset += len(data)


def _initializers(graph: onnx.GraphProto):
    """The initializers of ``graph`` and of its sub-graphs (If branches, Loop bodies)."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _initializers(attribute.g)
