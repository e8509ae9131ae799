"""Read OpenVINO IR v10/v11 (.xml + .bin) into a :class:`~lpir.ir.graph.Model`.

The XML is parsed with defusedxml (no entities, no external references). The .bin is
memory-mapped and every Const becomes a lazy :class:`~lpir.ir.tensor.Tensor` over its bytes,
so reading costs time and memory in proportion to the XML only.

Port ids are labels: inputs and outputs are matched to op ports by their position in the
``<input>`` / ``<output>`` lists, as OpenVINO's own reader does.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from lpir.errors import ModelParseError, ValidationError
from lpir.ir import types
from lpir.ir.graph import Input, Model, Node, RtEntry
from lpir.ir.shape import Shape, parse_dim
from lpir.ir.tensor import Tensor
from lpir.io.openvino import names
from lpir.ops import registry

SUPPORTED_VERSIONS = ("10", "11")
SINK_TYPES = {"Assign"}


def read_ir(xml_path: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> Model:
    """Read an IR; ``bin_path`` defaults to the .xml path with the suffix ``.bin``."""
    xml_path = Path(xml_path)
    bin_path = Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin")
    root = _parse_xml(xml_path)
    reader = _IrReader(xml_path, bin_path)
    try:
        return reader.build(root)
    except ModelParseError:
        raise
    except ValidationError as exc:
        raise ModelParseError(f"{xml_path}: {exc}") from None


def _parse_xml(xml_path: Path) -> Element:
    try:
        root = SafeET.parse(str(xml_path)).getroot()
    except FileNotFoundError:
        raise ModelParseError(f"{xml_path}: no such file") from None
    except DefusedXmlException as exc:
        raise ModelParseError(f"{xml_path}: unsafe XML refused ({type(exc).__name__}: {exc})") from None
    except ParseError as exc:
        raise ModelParseError(f"{xml_path}: malformed XML ({exc})") from None
    if root.tag != "net":
        raise ModelParseError(f"{xml_path}: not an OpenVINO IR (root element <{root.tag}>, expected <net>)")
    version = root.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelParseError(f"{xml_path}: IR version {version!r} is not supported (10 or 11 expected)")
    return root


def parse_rt_entries(element: Element | None) -> list[RtEntry]:
    """The children of an ``<rt_info>`` element, kept verbatim."""
    if element is None:
        return []
    return [RtEntry(child.tag, dict(child.attrib), parse_rt_entries(child)) for child in element]


def _split_names(text: str) -> list[str]:
    """Tensor names are comma-separated with ``\\,`` escaping a comma inside a name."""
    names, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            names.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    names.append("".join(current).strip())
    return [n for n in names if n]


class _IrReader:
    def __init__(self, xml_path: Path, bin_path: Path):
        self.xml_path = xml_path
        self.bin_path = bin_path
        self._weights: memoryview | None = None

    # -- weights ----------------------------------------------------------------------------
    def weights(self, where: str) -> memoryview:
        if self._weights is None:
            if not self.bin_path.exists():
                raise ModelParseError(f"{self.xml_path}: {where} needs weights but {self.bin_path} does not exist")
            with open(self.bin_path, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    self._weights = memoryview(b"")
                else:
                    self._weights = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        return self._weights

    def constant_tensor(self, node: Node, where: str) -> Tensor:
        attrs = node.attrs
        try:
            offset, size = int(attrs.pop("offset")), int(attrs.pop("size"))
        except KeyError as exc:
            raise ModelParseError(f"{where}: Const has no {exc.args[0]!r} attribute") from None
        etype, shape = attrs.get("element_type"), attrs.get("shape")
        if not isinstance(etype, types.ElementType) or shape is None:
            raise ModelParseError(f"{where}: Const needs element_type and shape attributes")
        if any(not isinstance(d, int) for d in shape):
            raise ModelParseError(f"{where}: Const shape {shape} is not static")
        weights = self.weights(where)
        if offset < 0 or size < 0 or offset + size > len(weights):
            raise ModelParseError(
                f"{where}: offset {offset} + size {size} = {offset + size} is beyond the end of "
                f"{self.bin_path} ({len(weights)} bytes); the .bin is truncated or belongs to another model")
        tensor = Tensor.from_buffer(weights[offset:offset + size], etype, shape)
        if size < tensor.nbytes:
            raise ModelParseError(
                f"{where}: size {size} is too small for {etype.name}{list(shape)} ({tensor.nbytes} bytes needed)")
        return tensor

    # -- layers -----------------------------------------------------------------------------
    def build(self, root: Element) -> Model:
        layers_el = root.find("layers")
        if layers_el is None:
            raise ModelParseError(f"{self.xml_path}: no <layers> element")
        by_id: dict[int, tuple[Node, list[str], list[str]]] = {}
        for layer in layers_el.findall("layer"):
            node, in_ports, out_ports = self.read_layer(layer)
            if node.layer_id in by_id:
                raise ModelParseError(f"{self.xml_path}: duplicate layer id {node.layer_id} "
                                      f"('{by_id[node.layer_id][0].name}' and '{node.name}')")
            by_id[node.layer_id] = (node, in_ports, out_ports)
        self.connect_edges(root.find("edges"), by_id)
        nodes = [entry[0] for entry in by_id.values()]
        for node in nodes:
            for port in node.inputs:
                if port.source is None:
                    raise ModelParseError(f"{self.where(node)}: input port {port.index} has no incoming edge")
        parameters = [n for n in nodes if n.type == "Parameter"]
        results = [n for n in nodes if n.type == "Result"]
        sinks = [n for n in nodes if n.type in SINK_TYPES]
        model = Model(parameters, results, name=root.get("name", "model"), sinks=sinks,
                      rt_info=parse_rt_entries(root.find("rt_info")))
        model.source_path = str(self.xml_path)
        model.nodes()  # validates: raises on cycles
        return model

    def where(self, node: Node) -> str:
        return f"{self.xml_path}: layer {node.layer_id} '{node.name}' ({node.type}-{node.version})"

    def read_layer(self, layer: Element) -> tuple[Node, list[str], list[str]]:
        raw_id = layer.get("id")
        try:
            layer_id = int(raw_id)
        except (TypeError, ValueError):
            raise ModelParseError(f"{self.xml_path}: layer '{layer.get('name')}' has id {raw_id!r}, not an integer") from None
        op_type = names.from_ir(layer.get("type", ""))
        if not op_type:
            raise ModelParseError(f"{self.xml_path}: layer {layer_id} has no type")
        node = Node(op_type, layer.get("version", "opset1"), layer.get("name", f"layer_{layer_id}"))
        node.layer_id = layer_id
        where = self.where(node)
        data = layer.find("data")
        raw_attrs = dict(data.attrib) if data is not None else {}
        op = registry.lookup(op_type, node.opset)
        try:
            node.attrs = op.parse_attrs(raw_attrs, where) if op is not None else raw_attrs
        except ValidationError as exc:
            raise ModelParseError(str(exc)) from None
        node.rt_info = parse_rt_entries(layer.find("rt_info"))
        if op_type == "Const":
            node.tensor = self.constant_tensor(node, where)
        in_ports = self.read_ports(layer.find("input"), node, where, is_output=False)
        out_ports = self.read_ports(layer.find("output"), node, where, is_output=True)
        return node, in_ports, out_ports

    def read_ports(self, element: Element | None, node: Node, where: str, *, is_output: bool) -> list[str]:
        port_ids = []
        for port in element.findall("port") if element is not None else []:
            port_id = port.get("id", "")
            if port_id in port_ids:
                raise ModelParseError(f"{where}: duplicate port id {port_id}")
            port_ids.append(port_id)
            if is_output:
                etype = self.port_type(port, node, where)
                out = node.add_output(etype, self.port_shape(port, where))
                out.names = _split_names(port.get("names", ""))
                out.rt_info = parse_rt_entries(port.find("rt_info"))
            else:
                node.inputs.append(Input(node, len(node.inputs)))
                node.inputs[-1].rt_info = parse_rt_entries(port.find("rt_info"))
        return port_ids

    @staticmethod
    def port_type(port: Element, node: Node, where: str) -> types.ElementType:
        if node.type in ("Const", "Parameter") and isinstance(node.attrs.get("element_type"), types.ElementType):
            return node.attrs["element_type"]
        precision = port.get("precision")
        if precision is None:
            return types.dynamic
        try:
            return types.parse_type(precision)
        except ValidationError:
            raise ModelParseError(f"{where}: port {port.get('id')} has unknown precision {precision!r}") from None

    @staticmethod
    def port_shape(port: Element, where: str) -> Shape:
        try:
            return tuple(parse_dim(dim.text or "") for dim in port.findall("dim"))
        except (ValueError, ValidationError):
            dims = [dim.text for dim in port.findall("dim")]
            raise ModelParseError(f"{where}: port {port.get('id')} has invalid dims {dims}") from None

    def connect_edges(self, edges: Element | None, by_id) -> None:
        for edge in edges.findall("edge") if edges is not None else []:
            try:
                from_layer, to_layer = int(edge.get("from-layer")), int(edge.get("to-layer"))
            except (TypeError, ValueError):
                raise ModelParseError(f"{self.xml_path}: edge {dict(edge.attrib)} has a non-integer layer id") from None
            for layer_id in (from_layer, to_layer):
                if layer_id not in by_id:
                    raise ModelParseError(f"{self.xml_path}: edge {dict(edge.attrib)} refers to missing layer {layer_id}")
            producer, _, producer_outs = by_id[from_layer]
            consumer, consumer_ins, _ = by_id[to_layer]
            from_port, to_port = edge.get("from-port"), edge.get("to-port")
            if from_port not in producer_outs:
                raise ModelParseError(f"{self.where(producer)}: edge to layer {to_layer} leaves from missing output port {from_port}")
            if to_port not in consumer_ins:
                raise ModelParseError(f"{self.where(consumer)}: edge from layer {from_layer} enters missing input port {to_port}")
            port = consumer.inputs[consumer_ins.index(to_port)]
            if port.source is not None:
                raise ModelParseError(f"{self.where(consumer)}: input port {to_port} has more than one incoming edge")
            port.connect(producer.outputs[producer_outs.index(from_port)])
