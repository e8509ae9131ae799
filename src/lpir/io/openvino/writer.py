"""Write a :class:`~lpir.ir.graph.Model` as OpenVINO IR v11 (.xml + .bin).

Layout follows OpenVINO's serializer: layers in topological order (parameters first, results
last), ports numbered inputs first then outputs, Const data back to back in the .bin with
identical blobs stored once. Both files are written under temporary names and renamed into
place only when complete, so an interrupted save never leaves a broken model. Saving a model
over the files it was read from unmaps the old .bin before the rename (a mapped file cannot be
replaced on every platform) and then reads the model's constants from the new one.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lpir.errors import ValidationError
from lpir.io.atomic import TempFile
from lpir.io.openvino import names
from lpir.io.openvino.port_maps import BODY_TAGS, map_entries
from lpir.ir.graph import RESULT_NAMES, Model, Node, RtEntry, with_body_nodes
from lpir.ir.shape import dim_for_port, format_shape
from lpir.ir.tensor import MappedFile, Tensor
from lpir.ops.registry import format_attr

IR_VERSION = "11"


def write_ir(model: Model, xml_path: str | os.PathLike) -> None:
    """Write ``model`` to ``xml_path`` and the .bin beside it, atomically.

    Both files are complete (and on Linux still nameless) before either is renamed into place;
    if anything fails (a constant whose data cannot be read, a full disk, the process killed)
    no temporary file stays and whatever model was at ``xml_path`` before is left untouched. Missing parent
    folders are created, as ``openvino.save_model`` does.
    """
    xml_path = Path(xml_path)
    bin_path = xml_path.with_suffix(".bin")
    nodes = model.nodes()
    ids = {node.uid: index for index, node in enumerate(nodes)}
    bin_tmp, xml_tmp = TempFile(bin_path), TempFile(xml_path)
    replaced, bin_written = None, False
    try:
        xml_path.parent.mkdir(parents=True, exist_ok=True)
        with bin_tmp.open() as bin_file:
            blobs = _BlobWriter(bin_file)
            layers = [_layer_xml(node, ids[node.uid], blobs) for node in nodes]
        with xml_tmp.open() as xml_file:
            xml_file.write(_net_xml(model, nodes, ids, layers).encode("utf-8"))
        bin_tmp.link()
        xml_tmp.link()
        replaced = _own_weights(model, bin_path)
        if replaced is not None:
            replaced.close()  # a mapped file cannot be replaced on every platform
        bin_tmp.commit()
        bin_written = True
        xml_tmp.commit()
        if replaced is not None:
            _read_weights_from(model, nodes, replaced, bin_path, blobs.placed)
    except BaseException as exc:
        bin_tmp.discard()
        xml_tmp.discard()
        if replaced is not None and model.weights is replaced:  # closed, then the save failed
            if bin_written:
                _read_weights_from(model, nodes, replaced, bin_path, blobs.placed)
            else:
                replaced.reopen()
        if isinstance(exc, OSError):
            raise ValidationError(f"{xml_path}: cannot save the model ({exc.strerror or exc})") from exc
        raise


def _own_weights(model: Model, bin_path: Path) -> MappedFile | None:
    """The model's mapped weights when they are the file about to be replaced."""
    mapping = model.weights
    if mapping is None or mapping.closed or not bin_path.exists():
        return None
    return mapping if os.path.samefile(mapping.path, bin_path) else None


def _read_weights_from(model: Model, nodes: list[Node], old: MappedFile, bin_path: Path,
                       placed: dict[int, int]) -> None:
    """After saving over its own .bin, the model's lazy constants read from the new file."""
    mapping = MappedFile(bin_path)
    for node in with_body_nodes(nodes):
        tensor = node.tensor
        if tensor is not None and tensor.mapping is old:
            node.tensor = Tensor.from_file(mapping, placed[node.uid], tensor.etype, tensor.shape)
    model.weights = mapping


def _net_xml(model: Model, nodes: list[Node], ids: dict[int, int], layers: list[str]) -> str:
    return "\n".join([
        '<?xml version="1.0"?>',
        f"<net name={quoteattr(model.name)} version=\"{IR_VERSION}\">",
        *_graph_xml(model, nodes, ids, layers),
        *(_entry_xml(section, 1) for section in model.sections),
        "</net>", "",
    ])


def _graph_xml(model: Model, nodes: list[Node], ids: dict[int, int], layers: list[str]) -> list[str]:
    """``<layers>``, ``<edges>`` and ``<rt_info>`` of a model or a body, one tab deep."""
    links = sorted(
        (ids[port.source.node.uid], len(port.source.node.inputs) + port.source.index, ids[node.uid], port.index)
        for node in nodes for port in node.inputs
    )
    edges = [f'\t\t<edge from-layer="{a}" from-port="{b}" to-layer="{c}" to-port="{d}" />' for a, b, c, d in links]
    return ["\t<layers>", *layers, "\t</layers>", "\t<edges>", *edges, "\t</edges>", *_rt_info_xml(model.rt_info, 1)]


def _bodies_xml(node: Node, blobs: _BlobWriter) -> tuple[list[str], list[str]]:
    """The port maps (with back edges) and the bodies of a TensorIterator, Loop or If, as
    OpenVINO writes them: port maps before the ports, bodies after them."""
    keys = ["body"] if len(node.bodies) == 1 else ["then", "else"]
    maps, bodies = {}, []
    for key, body in zip(keys, node.bodies):
        body_tag, map_tag = BODY_TAGS[key]
        nodes = body.model.nodes()
        ids = {n.uid: index for index, n in enumerate(nodes)}
        layers = [_layer_xml(n, ids[n.uid], blobs) for n in nodes]
        entries, edges = map_entries(body, ids, len(node.inputs))
        maps[key] = [f"<{map_tag}>", *(f"\t{e}" for e in entries), f"</{map_tag}>"]
        if edges:
            maps[key] += ["<back_edges>", *(f"\t{e}" for e in edges), "</back_edges>"]
        bodies += [f"<{body_tag}>", *_graph_xml(body.model, nodes, ids, layers), f"</{body_tag}>"]
    order = ["body"] if "body" in maps else ["else", "then"]  # OpenVINO writes else_port_map first
    lines = [line for key in order for line in maps[key]]
    return _indent(lines), _indent(bodies)


def _indent(lines: list[str]) -> list[str]:
    """Lines (possibly several per string) moved three tabs in, to sit inside a layer."""
    return ["\t\t\t" + line for text in lines for line in text.split("\n")]


class _BlobWriter:
    """Appends constant data to the .bin, storing identical byte strings once.

    A blob is compared in full only with earlier blobs of the same size and the same sampled
    bytes (head, tail and 64 strided bytes), and then against what is already in the file, so
    dedup holds no copies of the data and costs nothing for blobs that differ.
    """

    _CHUNK = 1 << 24

    def __init__(self, file):
        self.file = file
        self.offset = 0
        self.by_key: dict[tuple, list[int]] = {}
        self.placed: dict[int, int] = {}  # Const node uid → offset of its bytes

    def add(self, data) -> tuple[int, int]:
        view = memoryview(data).cast("B")
        size = len(view)
        step = max(1, size // 64)
        key = (size, bytes(view[:32]), bytes(view[-32:]), bytes(view[::step]))
        for offset in self.by_key.get(key, ()):
            if self._written_equals(offset, view):
                return offset, size
        offset = self.offset
        self.file.write(view)
        self.offset += size
        self.by_key.setdefault(key, []).append(offset)
        return offset, size

    def _written_equals(self, offset: int, view: memoryview) -> bool:
        self.file.flush()
        fd = self.file.fileno()
        for start in range(0, len(view), self._CHUNK):
            chunk = view[start:start + self._CHUNK]
            if os.pread(fd, len(chunk), offset + start) != chunk:
                return False
        return True


def _attr(name: str, value) -> str:
    return f"{name}={quoteattr(value if isinstance(value, str) else format_attr(value))}"


def _layer_xml(node: Node, layer_id: int, blobs: _BlobWriter) -> str:
    data = dict(node.attrs)
    result_names = data.pop(RESULT_NAMES, None) if node.type == "Result" else None
    extra = f" {RESULT_NAMES}={quoteattr(_join_names(result_names))}" if result_names else ""
    head = (f"\t\t<layer id=\"{layer_id}\" name={quoteattr(node.name)} type={quoteattr(names.to_ir(node.type))} "
            f"version={quoteattr(node.version)}{extra}>")
    lines = [head]
    if node.type == "Const" and node.tensor is not None:
        offset, size = blobs.add(node.tensor.raw_bytes())
        blobs.placed[node.uid] = offset
        data = {"element_type": node.tensor.etype, "shape": format_shape(node.tensor.shape, sep=", "),
                "offset": offset, "size": size}
    elif "shape" in data and not isinstance(data["shape"], str):  # a partial shape: "?,3,224,224"
        data["shape"] = format_shape(data["shape"])
    if data:
        lines.append("\t\t\t<data " + " ".join(_attr(k, v) for k, v in data.items()) + " />")
    port_maps, bodies = _bodies_xml(node, blobs) if node.bodies else ([], [])
    lines += port_maps
    lines += _rt_info_xml(node.rt_info, 3, skip_empty=True)
    if node.inputs:
        lines.append("\t\t\t<input>")
        for port in node.inputs:
            source = port.source
            lines += _port_xml(port.index, source.etype, source.shape, [], port.rt_info)
        lines.append("\t\t\t</input>")
    if node.outputs:
        lines.append("\t\t\t<output>")
        for out in node.outputs:
            lines += _port_xml(len(node.inputs) + out.index, out.etype, out.shape, out.names, out.rt_info)
        lines.append("\t\t\t</output>")
    lines += bodies
    lines.append("\t\t</layer>")
    return "\n".join(lines)


def _port_xml(port_id: int, etype, shape, names: list[str], rt_info: list[RtEntry]) -> list[str]:
    head = f'\t\t\t\t<port id="{port_id}" precision="{etype.precision}"'
    if names:
        head += " names=" + quoteattr(_join_names(names))
    body = [f"\t\t\t\t\t<dim>{dim_for_port(d)}</dim>" for d in (shape or ())]
    body += _rt_info_xml(rt_info, 5, skip_empty=True)
    if not body:
        return [head + " />"]
    return [head + ">", *body, "\t\t\t\t</port>"]


def _join_names(tensor_names: list[str]) -> str:
    """Sorted, comma-separated, commas inside a name escaped as ``\\,`` (OpenVINO's format)."""
    return ",".join(n.replace(",", "\\,") for n in sorted(tensor_names))


def _rt_info_xml(entries: list[RtEntry], depth: int, *, skip_empty: bool = False) -> list[str]:
    indent = "\t" * depth
    if not entries:
        return [] if skip_empty else [f"{indent}<rt_info />"]
    return [f"{indent}<rt_info>", *(_entry_xml(e, depth + 1) for e in entries), f"{indent}</rt_info>"]


def _entry_xml(entry: RtEntry, depth: int) -> str:
    indent = "\t" * depth
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in entry.attrs.items())
    # a line break in text is written as a reference, so indenting a body's lines cannot alter it
    tag, text = escape(entry.tag), escape(entry.text, {"\n": "&#10;", "\r": "&#13;"})
    if not entry.children:
        return f"{indent}<{tag}{attrs}>{text}</{tag}>" if text else f"{indent}<{tag}{attrs} />"
    inner = [_entry_xml(child, depth + 1) for child in entry.children]
    return "\n".join([f"{indent}<{tag}{attrs}>{text}", *inner, f"{indent}</{tag}>"])
