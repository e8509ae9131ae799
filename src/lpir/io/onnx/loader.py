"""Reading an ONNX file: protobuf, external weight files, and the checks that make errors clear.

External data is read only from files inside the model's folder: a location that is absolute or
climbs out of it (``../secret``) is refused, since a model file is untrusted input.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from lpir.errors import ModelParseError
from onnx import external_data_helper


def load_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """The model at ``path`` with every external tensor loaded (raises ModelParseError)."""
    path = Path(path)
    if not path.is_file():
        raise ModelParseError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning, ValueError ...
        raise ModelParseError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    if not model.HasField("graph") or not model.graph.node:
        raise ModelParseError(f"{path}: the file holds no ONNX graph (is it an ONNX model?)")
    _check_names(model.graph, path)
    _load_external_data(model, path)
    return model


def _check_names(graph: onnx.GraphProto, path: Path) -> None:
    """Every name and op type is text: protobuf hands out a string that is not valid UTF-8 as
    bytes, which nothing downstream expects."""
    named = [*graph.input, *graph.output, *graph.value_info, *graph.initializer]
    texts = [value.name for value in named]
    for node in graph.node:
        texts += [node.name, node.op_type, node.domain, *node.input, *node.output]
    for text in texts:
        if not isinstance(text, str):
            raise ModelParseError(f"{path}: the name {text!r} is not valid UTF-8")


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Load external tensors after checking each entry: a location inside the model folder, an
    existing file, and offset/length that are non-negative integers within the file."""
    base = path.parent.resolve()
    tensors = [t for t in external_data_helper._get_all_tensors(model)
               if external_data_helper.uses_external_data(t)]
    for tensor in tensors:
        _check_external_entry(tensor, path, base)
    if tensors:
        try:
            external_data_helper.load_external_data_for_model(model, str(base))
        except Exception as exc:
            raise ModelParseError(f"{path}: cannot read external data ({exc})") from exc


def _check_external_entry(tensor: onnx.TensorProto, path: Path, base: Path) -> None:
    where = f"{path}: tensor {tensor.name!r}"
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location", "")
    if not location or len(location) > 1024 or "\0" in location:
        raise ModelParseError(f"{where}: external data location {location[:64]!r} is not a file name")
    target = (base / location).resolve()
    if Path(location).is_absolute() or base not in target.parents:
        raise ModelParseError(f"{where} points to external data {location!r} outside the model folder {base}")
    try:
        size = target.stat().st_size if target.is_file() else None
    except OSError as exc:
        raise ModelParseError(f"{where}: external data {location!r} cannot be read ({exc.strerror or exc})") from exc
    if size is None:
        raise ModelParseError(f"{where}: external data {location!r} is missing")
    numbers = {}
    for key in ("offset", "length"):
        text = entries.get(key)
        if text is None:
            continue
        if not text.isdigit():
            raise ModelParseError(f"{where}: external data {key} {text!r} is not a non-negative integer")
        numbers[key] = int(text)
    offset = numbers.get("offset", 0)
    length = numbers.get("length", size - offset)
    if offset + length > size:
        raise ModelParseError(f"{where}: external data offset {offset} + length {length} is beyond the end of "
                              f"{location!r} ({size} bytes)")
