"""Write a :class:`~lpir.ir.graph.Model` as OpenVINO IR v11 (.xml + .bin).

Layout follows OpenVINO's serializer: layers in topological order (parameters first, results
last), ports numbered inputs first then outputs, Const data back to back in the .bin with
identical blobs stored once. Both files are written under temporary names and renamed into
place only when complete, so an interrupted save never leaves a broken model, and saving over
the model that is being read is safe (the old files stay mapped until released).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lpir.io.openvino import names
from lpir.ir.graph import Model, Node, RtEntry
from lpir.ir.shape import dim_for_port, format_shape
from lpir.ops.registry import format_attr

IR_VERSION = "11"


def write_ir(model: Model, xml_path: str | os.PathLike) -> None:
    """Write ``model`` to ``xml_path`` and the .bin beside it, atomically."""
    xml_path = Path(xml_path)
    bin_path = xml_path.with_suffix(".bin")
    nodes = model.nodes()
    ids = {node.uid: index for index, node in enumerate(nodes)}
    with _AtomicFile(bin_path) as bin_file:
        blobs = _BlobWriter(bin_file)
        layers = [_layer_xml(node, ids[node.uid], blobs) for node in nodes]
    links = sorted(
        (ids[port.source.node.uid], len(port.source.node.inputs) + port.source.index, ids[node.uid], port.index)
        for node in nodes for port in node.inputs
    )
    edges = [f'\t\t<edge from-layer="{a}" from-port="{b}" to-layer="{c}" to-port="{d}" />' for a, b, c, d in links]
    text = "\n".join([
        '<?xml version="1.0"?>',
        f"<net name={quoteattr(model.name)} version=\"{IR_VERSION}\">",
        "\t<layers>", *layers, "\t</layers>",
        "\t<edges>", *edges, "\t</edges>",
        *_rt_info_xml(model.rt_info, 1),
        "</net>", "",
    ])
    try:
        with _AtomicFile(xml_path) as xml_file:
            xml_file.write(text.encode("utf-8"))
    except BaseException:
        bin_path.unlink(missing_ok=True)
        raise


class _AtomicFile:
    """A file written under a temporary name in the target folder, renamed on success."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent or ".")
        os.fchmod(fd, 0o666 & ~_umask())
        self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, exc_type, exc, tb):
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _BlobWriter:
    """Appends constant data to the .bin, storing identical byte strings once."""

    def __init__(self, file):
        self.file = file
        self.offset = 0
        self.by_key: dict[tuple, list[tuple[int, memoryview]]] = {}

    def add(self, data) -> tuple[int, int]:
        view = memoryview(data).cast("B")
        size = len(view)
        step = max(1, size // 64)
        key = (size, bytes(view[:32]), bytes(view[-32:]), bytes(view[::step]))
        for offset, other in self.by_key.get(key, []):
            if other == view:
                return offset, size
        offset = self.offset
        self.file.write(view)
        self.offset += size
        self.by_key.setdefault(key, []).append((offset, view))
        return offset, size


def _attr(name: str, value) -> str:
    return f"{name}={quoteattr(value if isinstance(value, str) else format_attr(value))}"


def _layer_xml(node: Node, layer_id: int, blobs: _BlobWriter) -> str:
    lines = [f"\t\t<layer id=\"{layer_id}\" name={quoteattr(node.name)} type={quoteattr(names.to_ir(node.type))} "
             f"version={quoteattr(node.version)}>"]
    data = dict(node.attrs)
    if node.type == "Const" and node.tensor is not None:
        offset, size = blobs.add(node.tensor.raw_bytes())
        data = {"element_type": node.tensor.etype, "shape": format_shape(node.tensor.shape),
                "offset": offset, "size": size}
    elif "shape" in data and not isinstance(data["shape"], str):
        data["shape"] = format_shape(data["shape"])
    if data:
        lines.append("\t\t\t<data " + " ".join(_attr(k, v) for k, v in data.items()) + " />")
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
    lines.append("\t\t</layer>")
    return "\n".join(lines)


def _port_xml(port_id: int, etype, shape, names: list[str], rt_info: list[RtEntry]) -> list[str]:
    head = f'\t\t\t\t<port id="{port_id}" precision="{etype.precision}"'
    if names:
        head += " names=" + quoteattr(",".join(n.replace(",", "\\,") for n in sorted(names)))
    body = [f"\t\t\t\t\t<dim>{dim_for_port(d)}</dim>" for d in (shape or ())]
    body += _rt_info_xml(rt_info, 5, skip_empty=True)
    if not body:
        return [head + " />"]
    return [head + ">", *body, "\t\t\t\t</port>"]


def _rt_info_xml(entries: list[RtEntry], depth: int, *, skip_empty: bool = False) -> list[str]:
    indent = "\t" * depth
    if not entries:
        return [] if skip_empty else [f"{indent}<rt_info />"]
    return [f"{indent}<rt_info>", *(_entry_xml(e, depth + 1) for e in entries), f"{indent}</rt_info>"]


def _entry_xml(entry: RtEntry, depth: int) -> str:
    indent = "\t" * depth
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in entry.attrs.items())
    if not entry.children:
        return f"{indent}<{escape(entry.tag)}{attrs} />"
    inner = "\n".join(_entry_xml(child, depth + 1) for child in entry.children)
    return f"{indent}<{escape(entry.tag)}{attrs}>\n{inner}\n{indent}</{escape(entry.tag)}>"
