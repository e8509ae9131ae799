"""Mutations of real model files: what a damaged or hostile file looks like.

Each mutator takes the files of one seed model (name → bytes) and a ``random.Random`` and
returns mutated files. IR mutations edit the XML structurally (attributes, ports, dims,
precisions, edges, layer types) or the .bin (flips, truncation); ONNX mutations edit the
protobuf (dims, types, raw data, attributes, node inputs/outputs, opset, external data) or
its bytes. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import onnx

EDGE_VALUES = ["0", "-1", "1", "2", "3", "7", "-7", "65536", "2147483648", "99999999999", "1e30", "nan", "inf",
               "-inf", "", " ", "abc", "0x10", "1,2", "[1]", "?", "-0", "1.5", "true", "dynamic", "undefined"]
ETYPES = ["f32", "f16", "bf16", "f64", "i8", "u8", "i4", "u4", "u1", "i32", "i64", "boolean", "nf4",
          "f8e4m3", "dynamic", "undefined", "string", "FP32", "I64", "weird"]
BODY_TAGS = ("body", "then_body", "else_body")
PORT_MAP_TAGS = ("port_map", "then_port_map", "else_port_map", "back_edges")
OP_TYPES = ["Parameter", "Result", "Const", "Add", "MatMul", "Convolution", "Reshape", "FakeQuantize", "Convert",
            "Concat", "Softmax", "Tile", "Broadcast", "Gather", "Transpose", "NoSuchOp", "Loop"]


# ----------------------------------------------------------------------------- IR

def mutate_ir(files: dict[str, bytes], rng: random.Random) -> dict[str, bytes]:
    """One to three mutations of an IR's .xml or .bin."""
    files = dict(files)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.2:
            files["model.bin"] = _mutate_bytes(files["model.bin"], rng)
        else:
            files["model.xml"] = _mutate_xml(files["model.xml"], rng)
    return files


def _mutate_xml(text: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.05:
        return _mutate_bytes(text, rng)
    try:
        root = ET.fromstring(text)
    except ET.ParseError:  # an earlier mutation already broke the XML: keep breaking bytes
        return _mutate_bytes(text, rng)
    # a model with sub-graph bodies: mutate the top graph or one of the bodies, or a port map
    bodies = [e for e in root.iter() if e.tag in BODY_TAGS]
    graph = rng.choice([root, *bodies]) if bodies else root
    layers = graph.find("layers")
    edges = graph.find("edges")
    if layers is None or not len(layers):
        return text
    layer = rng.choice(list(layers))
    choice = rng.randrange(10 if bodies else 9)
    if choice == 9:
        _mutate_port_map(root, rng)
    elif choice == 0:  # an attribute of <data>
        data = layer.find("data")
        if data is not None and data.attrib:
            key = rng.choice(sorted(data.attrib))
            data.set(key, _mutated_value(data.get(key), rng))
    elif choice == 1:  # a dim of a port
        dims = layer.findall("./*/port/dim")
        if dims:
            rng.choice(dims).text = rng.choice(EDGE_VALUES)
    elif choice == 2:  # a port precision or a Const element type
        ports = layer.findall("./output/port")
        data = layer.find("data")
        if data is not None and "element_type" in data.attrib and rng.random() < 0.5:
            data.set("element_type", rng.choice(ETYPES))
        elif ports:
            rng.choice(ports).set("precision", rng.choice(ETYPES).upper())
    elif choice == 3:  # the layer's type
        layer.set("type", rng.choice(OP_TYPES))
    elif choice == 4 and edges is not None and len(edges):  # rewire or drop an edge
        edge = rng.choice(list(edges))
        if rng.random() < 0.3:
            edges.remove(edge)
        else:
            key = rng.choice(["from-layer", "from-port", "to-layer", "to-port"])
            others = [lay.get("id") for lay in layers]
            edge.set(key, rng.choice(others + EDGE_VALUES[:6]))
    elif choice == 5:  # drop or duplicate a port or dim
        parents = layer.findall("./input") + layer.findall("./output") + layer.findall("./*/port")
        if parents:
            parent = rng.choice(parents)
            children = list(parent)
            if children:
                child = rng.choice(children)
                if rng.random() < 0.5:
                    parent.remove(child)
                else:
                    parent.append(child)
    elif choice == 6:  # remove a layer
        layers.remove(layer)
    elif choice == 7:  # the layer's version or id
        if rng.random() < 0.5:
            layer.set("version", rng.choice(["opset1", "opset3", "opset8", "opset13", "opset99", "opset0", "x", ""]))
        else:
            layer.set("id", rng.choice(EDGE_VALUES[:8]))
    else:  # a Const's offset or size
        consts = [lay for lay in layers if lay.get("type") == "Const" and lay.find("data") is not None]
        if consts:
            data = rng.choice(consts).find("data")
            key = rng.choice(["offset", "size", "shape"])
            data.set(key, _mutated_value(data.get(key, "0"), rng))
    return ET.tostring(root)


def _mutate_port_map(root: ET.Element, rng: random.Random) -> None:
    """An attribute of a port map entry or back edge changed, or the entry dropped or doubled."""
    entries = [(parent, entry) for parent in root.iter() if parent.tag in PORT_MAP_TAGS for entry in parent]
    if not entries:
        return
    parent, entry = rng.choice(entries)
    if rng.random() < 0.2:
        parent.remove(entry) if rng.random() < 0.5 else parent.append(entry)
    else:
        key = rng.choice(sorted(entry.attrib) + ["axis", "purpose"])
        entry.set(key, rng.choice(EDGE_VALUES + ["current_iteration", "execution_condition"]))


def _mutated_value(value: str | None, rng: random.Random) -> str:
    value = value or ""
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(EDGE_VALUES)
    parts = [p.strip() for p in value.split(",")]
    if roll < 0.8 and parts:
        parts[rng.randrange(len(parts))] = rng.choice(EDGE_VALUES[:12])
        return ",".join(parts)
    if roll < 0.9:
        return ",".join(parts[:-1]) if len(parts) > 1 else ""
    return value + "," + rng.choice(EDGE_VALUES[:6])


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    roll = rng.random()
    if roll < 0.4:
        return data[:rng.randrange(len(data))]
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


# ----------------------------------------------------------------------------- ONNX

def mutate_onnx(files: dict[str, bytes], rng: random.Random) -> dict[str, bytes]:
    """One to three structural mutations of the protobuf, or a byte-level one."""
    files = dict(files)
    if rng.random() < 0.1:
        files["model.onnx"] = _mutate_bytes(files["model.onnx"], rng)
        return files
    model = onnx.ModelProto()
    model.ParseFromString(files["model.onnx"])  # seeds are valid; byte-level mutation returned above
    for _ in range(rng.randint(1, 3)):
        _mutate_proto(model, rng, files)
    files["model.onnx"] = model.SerializeToString()
    return files


def _mutate_proto(model: onnx.ModelProto, rng: random.Random, files: dict[str, bytes]) -> None:
    graph = model.graph
    choice = rng.randrange(9)
    initializers = list(graph.initializer) + [a.t for n in graph.node for a in n.attribute if a.HasField("t")]
    if choice == 0 and initializers:  # dims
        tensor = rng.choice(initializers)
        if tensor.dims:
            tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice([0, -1, 1, 3, 1 << 31, 1 << 40])
        else:
            tensor.dims.append(rng.choice([0, 2, 5]))
    elif choice == 1 and initializers:  # element type
        rng.choice(initializers).data_type = rng.choice([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 16, 17, 21, 22, 23, 99])
    elif choice == 2 and initializers:  # raw data length
        tensor = rng.choice(initializers)
        if tensor.raw_data:
            tensor.raw_data = tensor.raw_data[:rng.randrange(len(tensor.raw_data) + 1)]
    elif choice == 3 and graph.node:  # an attribute
        node = rng.choice(graph.node)
        if node.attribute:
            _mutate_attribute(rng.choice(node.attribute), rng)
        else:
            node.attribute.append(onnx.helper.make_attribute(rng.choice(["axis", "group", "equation"]), 0))
    elif choice == 4 and graph.node:  # node inputs/outputs
        node = rng.choice(graph.node)
        names = [n for other in graph.node for n in other.output] + [i.name for i in graph.input]
        ports = node.input if (rng.random() < 0.7 or not node.output) else node.output
        if ports and rng.random() < 0.3:
            del ports[rng.randrange(len(ports))]
        elif ports:
            ports[rng.randrange(len(ports))] = rng.choice(names + ["", "missing"])
        else:
            ports.append(rng.choice(names))
    elif choice == 5:  # opset
        if model.opset_import:
            model.opset_import[0].version = rng.choice([0, 1, 6, 7, 9, 10, 11, 13, 17, 21, 23, 26, 1000])
    elif choice == 6 and graph.node:  # op type or removal
        node = rng.choice(graph.node)
        if rng.random() < 0.5:
            graph.node.remove(node)
        else:
            node.op_type = rng.choice(["Conv", "Einsum", "Reshape", "Gemm", "QuantizeLinear", "Tile", "Expand",
                                       "Slice", "NoSuchOp", "Loop"])
    elif choice == 7 and initializers:  # external data
        tensor = rng.choice(initializers)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", rng.choice(["weights.bin", "../x", "/etc/passwd", "a" * 5000, ""])),
                           ("offset", rng.choice(["0", "-5", "abc", "1e3", "99999999"])),
                           ("length", rng.choice(["0", "4", "-1", "x", "1000000000"]))):
            if rng.random() < 0.85:
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
        tensor.ClearField("raw_data")
        files["weights.bin"] = bytes(rng.randrange(256) for _ in range(64))
    elif graph.input:  # a graph input's shape or type
        value = rng.choice(graph.input).type.tensor_type
        if rng.random() < 0.5:
            value.elem_type = rng.choice([0, 1, 2, 7, 9, 10, 11, 16])
        elif value.shape.dim:
            value.shape.dim[rng.randrange(len(value.shape.dim))].dim_value = rng.choice([0, 1, 3, 1 << 20])


def _mutate_attribute(attribute: onnx.AttributeProto, rng: random.Random) -> None:
    roll = rng.random()
    if roll < 0.2:  # another attribute type under the same name
        name = attribute.name
        attribute.CopyFrom(onnx.helper.make_attribute(name, rng.choice([0, 1.5, "x", [0, 0], [1.0]])))
    elif attribute.type == onnx.AttributeProto.INT:
        attribute.i = rng.choice([0, -1, 1, 2, 7, -100, 1 << 40])
    elif attribute.type == onnx.AttributeProto.INTS:
        if attribute.ints and rng.random() < 0.7:
            attribute.ints[rng.randrange(len(attribute.ints))] = rng.choice([0, -1, 3, 1 << 40])
        else:
            del attribute.ints[:]
    elif attribute.type == onnx.AttributeProto.FLOAT:
        attribute.f = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30])
    elif attribute.type == onnx.AttributeProto.STRING:
        attribute.s = rng.choice([b"", b"NOTSET", b"xyz", b"ij,jk->ik", b"\xff"])
