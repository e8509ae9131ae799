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
    _load_external_data(model, path)
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Load external tensors after checking each location stays inside the model folder."""
    base = path.parent.resolve()
    tensors = [t for t in external_data_helper._get_all_tensors(model)
               if external_data_helper.uses_external_data(t)]
    for tensor in tensors:
        location = external_data_helper.ExternalDataInfo(tensor).location
        target = (base / location).resolve()
        if Path(location).is_absolute() or base not in target.parents:
            raise ModelParseError(f"{path}: tensor {tensor.name!r} points to external data "
                                  f"{location!r} outside the model folder {base}")
        if not target.is_file():
            raise ModelParseError(f"{path}: external data {location!r} of tensor {tensor.name!r} is missing")
    if tensors:
        try:
            external_data_helper.load_external_data_for_model(model, str(base))
        except Exception as exc:
            raise ModelParseError(f"{path}: cannot read external data ({exc})") from exc
