"""Read OpenVINO IR v10/v11 (.xml + .bin) into a :class:`~lpir.ir.graph.Model`.

The XML is parsed by expat into a C-built element tree with defusedxml's policy: entity
declarations and external references are refused, so "billion laughs" and external entity
attacks fail before any expansion. The .bin is memory-mapped and every Const becomes a lazy
:class:`~lpir.ir.tensor.Tensor` over its bytes, so reading costs time and memory in proportion
to the XML only.

Port ids are labels: inputs and outputs are matched to op ports by their position in the
``<input>`` / ``<output>`` lists, as OpenVINO's own reader does.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import pyexpat
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import Element, TreeBuilder

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden

from lpir.errors import ModelParseError, ValidationError, describe_node
from lpir.io.openvino import names
from lpir.io.openvino.port_maps import int_attr, read_bodies
from lpir.ir import types
from lpir.ir.graph import RESULT_NAMES, Input, Model, Node, RtEntry
from lpir.ir.shape import Shape, parse_dim
from lpir.ir.tensor import MappedFile, Tensor
from lpir.ops import registry
from lpir.ops.infer import verify_node

SUPPORTED_VERSIONS = ("10", "11")
SINK_TYPES = {"Assign"}


def read_ir(xml_path: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> Model:
    """Read an IR; ``bin_path`` defaults to the .xml path with the suffix ``.bin``."""
    xml_path = Path(xml_path)
    bin_path = Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin")
    with _gc_paused():
        root = _parse_xml(xml_path)
        reader = _IrReader(xml_path, bin_path)
        try:
            return reader.build(root)
        except ModelParseError:
            raise
        except ValidationError as exc:
            raise ModelParseError(f"{xml_path}: {exc}") from exc


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a model is built.

    Reading allocates tens of thousands of objects that all stay alive; the collections those
    allocations trigger find nothing to free yet rescan the growing graph again and again (a
    quarter of the reading time of a 400-layer model). Paused, one collection runs afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_xml(xml_path: Path) -> Element:
    try:
        data = xml_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelParseError(f"{xml_path}: no such file") from exc
    except OSError as exc:
        raise ModelParseError(f"{xml_path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        root = parse_xml_bytes(data)
    except DefusedXmlException as exc:
        raise ModelParseError(f"{xml_path}: unsafe XML refused ({type(exc).__name__}: {exc})") from exc
    except pyexpat.ExpatError as exc:
        raise ModelParseError(f"{xml_path}: malformed XML ({pyexpat.ErrorString(exc.code)}: "
                              f"line {exc.lineno}, column {exc.offset})") from exc
    if root.tag != "net":
        raise ModelParseError(f"{xml_path}: not an OpenVINO IR (root element <{root.tag}>, expected <net>)")
    version = root.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelParseError(f"{xml_path}: IR version {version!r} is not supported (10 or 11 expected)")
    return root


def parse_xml_bytes(data: bytes) -> Element:
    """Parse XML with expat straight into C tree nodes, refusing entities and external references.

    defusedxml's ElementTree parser enforces the same policy but builds the tree through Python
    callbacks, which made it most of the reading time of a model; here the policy handlers are
    the only Python code and they run only on hostile input.
    """
    builder = TreeBuilder()
    parser = pyexpat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.Parse(data, True)
    return builder.close()


def _refuse_entity(name, is_parameter_entity, value, base, sysid, pubid, notation_name):
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _refuse_unparsed_entity(name, base, sysid, pubid, notation_name):
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _refuse_external(context, base, sysid, pubid):
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def parse_rt_entries(element: Element | None) -> list[RtEntry]:
    """The children of an ``<rt_info>`` element, kept verbatim."""
    if element is None:
        return []
    return [parse_entry(child) for child in element]


def parse_entry(element: Element) -> RtEntry:
    """An element with its attributes, text (when not only whitespace) and children, verbatim."""
    text = element.text if element.text and element.text.strip() else ""
    return RtEntry(element.tag, dict(element.attrib), parse_rt_entries(element), text)


def split_names(text: str) -> list[str]:
    """Tensor names are comma-separated; ``\\,`` is a comma inside a name (other backslashes are literal)."""
    if "\\," not in text:
        return [n.strip() for n in text.split(",") if n.strip()]
    parts = text.replace("\\,", "\0").split(",")
    return [p.replace("\0", ",").strip() for p in parts if p.strip()]


class _IrReader:
    def __init__(self, xml_path: Path, bin_path: Path):
        self.xml_path = xml_path
        self.bin_path = bin_path
        self._weights: MappedFile | None = None
        self._ops: dict[tuple[str, int], registry.Op | None] = {}
        self._root_reader = self  # bodies share the .bin of the whole file
        self.scope = ""  # "layer 4 'loop' (Loop-opset5) body: " inside a body, for messages

    # -- weights ----------------------------------------------------------------------------
    def weights_if_read(self) -> MappedFile | None:
        return self._root_reader._weights

    def weights(self, where: str) -> MappedFile:
        if self._root_reader is not self:
            return self._root_reader.weights(where)
        if self._weights is None:
            try:
                self._weights = MappedFile(self.bin_path)
            except FileNotFoundError as exc:
                raise ModelParseError(f"{where}: needs weights but {self.bin_path} does not exist") from exc
            except OSError as exc:
                raise ModelParseError(f"{where}: cannot read weights {self.bin_path} ({exc.strerror or exc})") from exc
        return self._weights

    def constant_tensor(self, node: Node, data: Element | None, where: str) -> Tensor:
        attrs = node.attrs
        if data is None or data.get("offset") is None or data.get("size") is None:
            raise ModelParseError(f"{where}: Const needs offset and size attributes")
        offset, size = int_attr(data, "offset", where), int_attr(data, "size", where)
        attrs.pop("offset", None)
        attrs.pop("size", None)
        etype, shape = attrs.get("element_type"), attrs.get("shape")
        if not isinstance(etype, types.ElementType) or shape is None:
            raise ModelParseError(f"{where}: Const needs element_type and shape attributes")
        if etype is types.dynamic:
            raise ModelParseError(f"{where}: a Const needs a concrete element_type, got {data.get('element_type')!r}")
        if any(not isinstance(d, int) for d in shape):
            raise ModelParseError(f"{where}: Const shape {data.get('shape')!r} is not static")
        weights = self.weights(where)
        if offset < 0 or size < 0 or offset + size > weights.size:
            raise ModelParseError(
                f"{where}: offset {offset} + size {size} = {offset + size} is beyond the end of "
                f"{self.bin_path} ({weights.size} bytes); the .bin is truncated or belongs to another model")
        needed = etype.nbytes(math.prod(shape))
        if size < needed:
            raise ModelParseError(
                f"{where}: size {size} is too small for {etype.name}{list(shape)} ({needed} bytes needed)")
        return Tensor.from_file(weights, offset, etype, shape)

    def op(self, op_type: str, opset: int) -> registry.Op | None:
        key = (op_type, opset)
        if key not in self._ops:
            self._ops[key] = registry.lookup(op_type, opset)
        return self._ops[key]

    # -- layers -----------------------------------------------------------------------------
    def build(self, root: Element) -> Model:
        parameters, results, sinks = self.read_graph(root)
        if root.get("version") == "10":
            _name_v10_interface(parameters, results)
        model = Model(parameters, results, name=root.get("name", "model"), sinks=sinks,
                      rt_info=parse_rt_entries(root.find("rt_info")))
        model.sections = [parse_entry(child) for child in root if child.tag not in ("layers", "edges", "rt_info")]
        model.source_path = str(self.xml_path)
        model.weights = self.weights_if_read()
        self.verify(model)
        return model

    def read_graph(self, root: Element) -> tuple[list[Node], list[Node], list[Node]]:
        """The parameters, results and sinks of the ``<layers>``/``<edges>`` under ``root`` (the
        ``<net>`` or a layer's ``<body>``), every layer connected and the graph acyclic."""
        layers_el = root.find("layers")
        if layers_el is None:
            raise ModelParseError(f"{self.xml_path}: {self.scope}no <layers> element")
        by_id: dict[int, tuple[Node, list[str], list[str]]] = {}
        for layer in _children(layers_el, "layer"):
            node, in_ports, out_ports = self.read_layer(layer)
            if node.layer_id in by_id:
                raise ModelParseError(f"{self.xml_path}: {self.scope}duplicate layer id {node.layer_id} "
                                      f"('{by_id[node.layer_id][0].name}' and '{node.name}')")
            by_id[node.layer_id] = (node, in_ports, out_ports)
        self.connect_edges(root.find("edges"), by_id)
        nodes = [entry[0] for entry in by_id.values()]
        for node in nodes:
            for port, port_id in zip(node.inputs, by_id[node.layer_id][1]):
                if port.source is None:
                    raise ModelParseError(f"{self.where(node)}: input port {port_id} has no incoming edge")
        self.check_acyclic(nodes)
        for node in nodes:
            self.check_interface_layer(node)
        parameters = [n for n in nodes if n.type == "Parameter"]
        results = [n for n in nodes if n.type == "Result"]
        sinks = [n for n in nodes if n.type in SINK_TYPES]
        return parameters, results, sinks

    def body_reader(self, owner: Node) -> _IrReader:
        """A reader for the body of ``owner``: its own layer ids, the same .bin."""
        reader = _IrReader(self.xml_path, self.bin_path)
        reader._root_reader = self._root_reader
        reader._ops = self._ops
        reader.scope = f"{self.scope}{describe_node(owner)} body: "
        return reader

    def verify(self, model: Model, scope: str = "") -> None:
        """Every layer's op accepts its inputs and computes the outputs the file declares, as
        OpenVINO checks when it reads an IR: a damaged graph is refused here, with its layer,
        instead of failing later inside an algorithm or at run time. Body layers are checked
        before the layer that owns them, whose outputs follow from theirs."""
        for node in model.nodes():
            for body in node.bodies:
                self.verify(body.model, f"{scope}{describe_node(node)} body: ")
            try:
                verify_node(node)
            except ValidationError as exc:
                raise ModelParseError(f"{self.xml_path}: {scope}{exc}") from exc

    def check_interface_layer(self, node: Node) -> None:
        """Parameters and Consts start the graph and Results end it, each with one tensor: a
        layer retyped to one of them while it keeps other edges is refused here."""
        if node.type in ("Parameter", "Const"):
            if node.inputs or len(node.outputs) != 1:
                raise ModelParseError(f"{self.where(node)}: a {node.type} has no inputs and one output "
                                      f"(this one has {len(node.inputs)} and {len(node.outputs)})")
        elif node.type == "Result":
            consumers = sum(len(out.consumers) for out in node.outputs)
            if len(node.inputs) != 1 or consumers:
                raise ModelParseError(f"{self.where(node)}: a Result has one input and feeds nothing "
                                      f"(this one has {len(node.inputs)} inputs and {consumers} consumers)")

    def check_acyclic(self, nodes: list[Node]) -> None:
        """Kahn's algorithm over every layer, so a cycle is found even where no Result reaches it."""
        pending = {node.uid: len(node.inputs) for node in nodes}
        ready = [node for node in nodes if not node.inputs]
        while ready:
            node = ready.pop()
            for out in node.outputs:
                for consumer in out.consumers:
                    pending[consumer.node.uid] -= 1
                    if pending[consumer.node.uid] == 0:
                        ready.append(consumer.node)
        stuck = [node for node in nodes if pending[node.uid] > 0]
        if not stuck:
            return
        # every stuck layer has a stuck producer: walking producers back must come round a cycle
        node, seen = stuck[0], set()
        while node.uid not in seen:
            seen.add(node.uid)
            node = next(p.source.node for p in node.inputs if pending[p.source.node.uid] > 0)
        raise ModelParseError(f"{self.where(node)}: the graph has a cycle through this layer "
                              f"({len(stuck)} layers are on or after a cycle)")

    def where(self, node: Node) -> str:
        return f"{self.xml_path}: {self.scope}layer {node.layer_id} '{node.name}' ({node.type}-{node.version})"

    def read_layer(self, layer: Element) -> tuple[Node, list[str], list[str]]:
        raw_id = layer.get("id")
        try:
            layer_id = int(raw_id)
        except (TypeError, ValueError) as exc:
            raise ModelParseError(f"{self.xml_path}: {self.scope}layer '{layer.get('name')}' has id {raw_id!r}, "
                                  "not an integer") from exc
        op_type = names.from_ir(layer.get("type", ""))
        if not op_type:
            raise ModelParseError(f"{self.xml_path}: {self.scope}layer {layer_id} '{layer.get('name')}' has no type")
        node = Node(op_type, layer.get("version", "opset1"), layer.get("name", f"layer_{layer_id}"))
        node.layer_id = layer_id
        where = self.where(node)
        data = layer.find("data")
        raw_attrs = dict(data.attrib) if data is not None else {}
        op = self.op(op_type, node.opset)
        try:
            node.attrs = op.parse_attrs(raw_attrs, where) if op is not None else raw_attrs
        except ValidationError as exc:
            raise ModelParseError(str(exc)) from exc
        node.rt_info = parse_rt_entries(layer.find("rt_info"))
        if op_type == "Result" and layer.get(RESULT_NAMES) is not None:
            node.attrs[RESULT_NAMES] = split_names(layer.get(RESULT_NAMES))
        if op_type == "Const":
            node.tensor = self.constant_tensor(node, data, where)
        in_ports = self.read_ports(layer.find("input"), node, where, is_output=False)
        out_ports = self.read_ports(layer.find("output"), node, where, is_output=True)
        node.bodies = read_bodies(layer, in_ports, out_ports, where, self.body_graph(node))
        return node, in_ports, out_ports

    def body_graph(self, owner: Node):
        """Reads a ``<body>`` element of ``owner`` into a Model (with its layer ids kept)."""
        def read(element: Element) -> Model:
            reader = self.body_reader(owner)
            parameters, results, sinks = reader.read_graph(element)
            return Model(parameters, results, name=owner.name, sinks=sinks,
                         rt_info=parse_rt_entries(element.find("rt_info")))
        return read

    def read_ports(self, element: Element | None, node: Node, where: str, *, is_output: bool) -> list[str]:
        port_ids: list[str] = []
        if element is None:
            return port_ids
        for port in _children(element, "port"):
            port_id = port.get("id", "")
            if port_id in port_ids:
                raise ModelParseError(f"{where}: duplicate port id {port_id}")
            port_ids.append(port_id)
            rt_info = parse_rt_entries(port.find("rt_info"))
            if is_output:
                out = node.add_output(self.port_type(port, node, where), self.port_shape(port, where))
                names_text = port.get("names")
                if names_text:
                    out.names = split_names(names_text)
                out.rt_info = rt_info
            else:
                node.inputs.append(Input(node, len(node.inputs)))
                node.inputs[-1].rt_info = rt_info
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
        except ValidationError as exc:
            raise ModelParseError(f"{where}: port {port.get('id')} has unknown precision {precision!r}") from exc

    @staticmethod
    def port_shape(port: Element, where: str) -> Shape:
        dims = []
        for dim in _children(port, "dim"):
            text = dim.text or ""
            try:
                value = int(text)
                dims.append(value if value >= 0 else parse_dim(text))
            except ValueError:
                try:
                    dims.append(parse_dim(text))
                except (ValueError, ValidationError) as exc:
                    raise ModelParseError(f"{where}: port {port.get('id')} has invalid dim {text!r} "
                                          "(expected an integer, -1, ? or a range like 1..10)") from exc
            except ValidationError as exc:
                raise ModelParseError(f"{where}: port {port.get('id')} has invalid dim {text!r}") from exc
        return tuple(dims)

    def connect_edges(self, edges: Element | None, by_id) -> None:
        positions = {layer_id: ({p: i for i, p in enumerate(ins)}, {p: i for i, p in enumerate(outs)})
                     for layer_id, (_, ins, outs) in by_id.items()}
        for edge in _children(edges, "edge") if edges is not None else []:
            try:
                from_layer, to_layer = int(edge.get("from-layer")), int(edge.get("to-layer"))
            except (TypeError, ValueError) as exc:
                raise ModelParseError(f"{self.xml_path}: {self.scope}edge {_format_edge(edge)} has a non-integer layer id") from exc
            for layer_id in (from_layer, to_layer):
                if layer_id not in by_id:
                    raise ModelParseError(f"{self.xml_path}: {self.scope}edge {_format_edge(edge)} refers to missing layer {layer_id}")
            producer, consumer = by_id[from_layer][0], by_id[to_layer][0]
            from_port, to_port = edge.get("from-port"), edge.get("to-port")
            out_index = positions[from_layer][1].get(from_port)
            if out_index is None:
                raise ModelParseError(f"{self.where(producer)}: edge to layer {to_layer} leaves from "
                                      f"missing output port {from_port}")
            in_index = positions[to_layer][0].get(to_port)
            if in_index is None:
                raise ModelParseError(f"{self.where(consumer)}: edge from layer {from_layer} enters "
                                      f"missing input port {to_port}")
            port = consumer.inputs[in_index]
            if port.source is not None:
                raise ModelParseError(f"{self.where(consumer)}: input port {to_port} has more than one "
                                      f"incoming edge (from layer {port.source.node.layer_id} and {from_layer})")
            port.connect(producer.outputs[out_index])


def _name_v10_interface(parameters: list[Node], results: list[Node]) -> None:
    """IR v10 has no tensor names; OpenVINO names the model's inputs and outputs after layers.

    A Parameter's tensor takes the layer name; a Result's source takes its producer's name, with
    ``.<output index>`` when the producer has several outputs (``split.1``). Written out as v11,
    the names keep the model's interface the same.
    """
    for parameter in parameters:
        if not parameter.outputs[0].names:
            parameter.outputs[0].names = [parameter.name]
    for result in results:
        source = result.inputs[0].source
        if source is not None and not source.names:
            producer = source.node
            source.names = [producer.name if len(producer.outputs) == 1 else f"{producer.name}.{source.index}"]


def _children(element: Element, tag: str) -> list[Element]:
    """Direct children with ``tag`` (a plain scan: ElementPath's iterfind costs more than the parse)."""
    return [child for child in element if child.tag == tag]


def _format_edge(edge: Element) -> str:
    return " ".join(f"{key}={edge.get(key)!r}" for key in ("from-layer", "from-port", "to-layer", "to-port"))
