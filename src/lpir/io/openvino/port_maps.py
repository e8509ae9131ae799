"""The ``<body>``, ``<port_map>`` and ``<back_edges>`` of TensorIterator, Loop and If layers.

OpenVINO writes a sub-graph layer as its ports plus, for TensorIterator and Loop, one
``<body>`` with a ``<port_map>`` and ``<back_edges>``, and for If a ``<then_body>`` and an
``<else_body>`` with a ``<then_port_map>`` and an ``<else_port_map>``. A port map entry names
a port of the layer by its id (``external_port_id``) and a Parameter or Result of the body by
its layer id (``internal_layer_id``); sliced and concatenated ports add ``axis``, ``start``,
``end``, ``stride`` and ``part_size``; Loop's iteration counter and condition are entries with
``external_port_id="-1"`` and a ``purpose``. A back edge runs from a body Result to the body
Parameter it feeds in the next iteration. In memory these become :mod:`lpir.ir.body` maps over
Parameter and Result positions.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

from lpir.errors import ModelParseError
from lpir.ir.body import Body, InputMap, OutputMap, Slicing
from lpir.ir.graph import Model

# (body element, port map element) of each body, in the order of Node.bodies
BODY_TAGS = {"body": ("body", "port_map"), "then": ("then_body", "then_port_map"),
             "else": ("else_body", "else_port_map")}
_SLICING_KEYS = ("axis", "start", "end", "stride", "part_size")
CURRENT_ITERATION = "current_iteration"
EXECUTION_CONDITION = "execution_condition"


def read_bodies(layer: Element, in_ports: list[str], out_ports: list[str], where: str,
                read_graph: Callable[[Element], Model]) -> list[Body]:
    """The bodies of ``layer`` (none for an ordinary layer); ``in_ports``/``out_ports`` are its
    port ids in order and ``read_graph`` reads a body element into a Model."""
    keys = ["body"] if layer.find("body") is not None else ["then", "else"]
    found = [key for key in keys if layer.find(BODY_TAGS[key][0]) is not None]
    if not found:
        for stray in ("port_map", "back_edges", "then_port_map", "else_port_map"):
            if layer.find(stray) is not None:
                raise ModelParseError(f"{where}: has a <{stray}> but no body")
        return []
    if found != keys:
        missing = next(BODY_TAGS[k][0] for k in keys if k not in found)
        raise ModelParseError(f"{where}: has no <{missing}>")
    bodies = []
    for key in keys:
        body_tag, map_tag = BODY_TAGS[key]
        model = read_graph(layer.find(body_tag))
        port_map = layer.find(map_tag)
        if port_map is None:
            raise ModelParseError(f"{where}: <{body_tag}> has no <{map_tag}>")
        back_edges = layer.find("back_edges") if key == "body" else None
        bodies.append(_read_maps(model, port_map, back_edges, in_ports, out_ports, f"{where} <{map_tag}>"))
    return bodies


def int_attr(entry: Element, key: str, where: str) -> int:
    """Attribute ``key`` of ``entry`` as an integer (ModelParseError naming ``where`` if it is not)."""
    raw = entry.get(key)
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise ModelParseError(f"{where}: {key}={raw!r} is not an integer") from exc


def _position(ids: dict[int, int], layer_id: int, kind: str, where: str) -> int:
    if layer_id not in ids:
        raise ModelParseError(f"{where}: body layer {layer_id} is not a body {kind}")
    return ids[layer_id]


def _slicing(entry: Element, where: str) -> Slicing | None:
    if entry.get("axis") is None:
        return None
    defaults = Slicing(0)
    values = {key: int_attr(entry, key, where) if entry.get(key) is not None else getattr(defaults, key)
              for key in _SLICING_KEYS}
    return Slicing(**values)


def _read_maps(model: Model, port_map: Element, back_edges: Element | None, in_ports: list[str],
               out_ports: list[str], where: str) -> Body:
    parameters = {node.layer_id: i for i, node in enumerate(model.parameters)}
    results = {node.layer_id: i for i, node in enumerate(model.results)}
    body = Body(model)
    feeds: dict[int, int] = {}  # parameter → result feeding it from the second iteration
    for edge in back_edges if back_edges is not None else ():
        if edge.tag != "edge":
            continue
        source = _position(results, int_attr(edge, "from-layer", f"{where} back edge"), "Result", f"{where} back edge")
        target = _position(parameters, int_attr(edge, "to-layer", f"{where} back edge"), "Parameter", f"{where} back edge")
        if target in feeds:
            raise ModelParseError(f"{where}: body Parameter layer {edge.get('to-layer')} has two back edges")
        feeds[target] = source
    for entry in port_map:
        if entry.tag not in ("input", "output"):
            continue
        internal = int_attr(entry, "internal_layer_id", where)
        external = int_attr(entry, "external_port_id", where)
        purpose = entry.get("purpose")
        if entry.tag == "input":
            parameter = _position(parameters, internal, "Parameter", where)
            if purpose == CURRENT_ITERATION:
                body.current_iteration = parameter
                continue
            port = _port_index(in_ports, external, "input", where)
            body.inputs.append(InputMap(port, parameter, _slicing(entry, where), feeds.get(parameter)))
        else:
            result = _position(results, internal, "Result", where)
            if purpose == EXECUTION_CONDITION:
                body.execution_condition = result
                continue
            port = _port_index(out_ports, external, "output", where)
            body.outputs.append(OutputMap(port, result, _slicing(entry, where)))
    fed = {m.parameter for m in body.inputs}
    stray = sorted(set(feeds) - fed)
    if stray:
        raise ModelParseError(f"{where}: back edge to body Parameter {model.parameters[stray[0]].layer_id}, "
                              "which no port_map input feeds")
    return body


def _port_index(port_ids: list[str], external: int, kind: str, where: str) -> int:
    try:
        return port_ids.index(str(external))
    except ValueError:
        raise ModelParseError(f"{where}: external_port_id {external} is not an {kind} port of the layer "
                              f"({', '.join(port_ids) or 'it has none'})") from None


def map_entries(body: Body, ids: dict[int, int], num_inputs: int) -> tuple[list[str], list[str]]:
    """``body``'s port map and back edges as XML lines (no indentation), ``ids`` being the body
    layer ids by node uid and the layer's output port ids following its ``num_inputs`` inputs."""
    parameters, results = body.model.parameters, body.model.results
    entries, edges = [], []
    for m in body.inputs:
        entries.append(_entry("input", m.port, ids[parameters[m.parameter].uid], m.slicing))
        if m.back_edge is not None:
            edges.append(f'<edge from-layer="{ids[results[m.back_edge].uid]}" '
                         f'to-layer="{ids[parameters[m.parameter].uid]}" />')
    for m in body.outputs:
        entries.append(_entry("output", num_inputs + m.port, ids[results[m.result].uid], m.slicing))
    if body.current_iteration is not None:
        entries.append(_entry("input", -1, ids[parameters[body.current_iteration].uid], None, CURRENT_ITERATION))
    if body.execution_condition is not None:
        entries.append(_entry("output", -1, ids[results[body.execution_condition].uid], None, EXECUTION_CONDITION))
    return entries, edges


def _entry(tag: str, external: int, internal: int, slicing: Slicing | None, purpose: str | None = None) -> str:
    text = f'<{tag}'
    if slicing is not None:
        text += f' axis="{slicing.axis}"'
    text += f' external_port_id="{external}" internal_layer_id="{internal}"'
    if slicing is not None:
        text += "".join(f' {key}="{getattr(slicing, key)}"' for key in _SLICING_KEYS[1:])
    if purpose is not None:
        text += f' purpose="{purpose}"'
    return text + " />"
