"""f16 weight compression against OpenVINO's own (save_model(..., compress_to_fp16=True)): the same
constants end up in f16, and the same stay in full precision, on every real model."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import lpir
from lpir.compression import compress_weights_to_f16
from lpir.zoo import all_models

REAL_MODELS = sorted(all_models())


def const_types(model: lpir.Model) -> Counter:
    return Counter((n.tensor.etype.name, n.tensor.shape) for n in model.nodes() if n.type == "Const")


@pytest.mark.parametrize("name", REAL_MODELS)
def test_the_same_constants_are_compressed_as_by_openvino(real_ir, name):
    ours = compress_weights_to_f16(lpir.read_model(real_ir(name)))
    assert const_types(ours) == const_types(lpir.read_model(real_ir(name, True)))


def test_single_values_stay_in_f32_exactly_when_openvino_keeps_them(tmp_path):
    """OpenVINO keeps a one-element constant in f32 when f16 would move it by more than 1e-4 of
    its value; tensors of several values only by their share outside the f16 range."""
    import openvino as ov
    from openvino import opset13 as ops
    values = [0.1, 0.5, 1.0001, 1.001, 100.03, 3.0, 70000.0, 1e-8, 0.0, -2.7182817]
    params = [ops.parameter([1], np.float32, name=f"p{i}") for i in range(len(values) + 1)]
    outs = [ops.add(p, ops.constant(np.array([v], np.float32))) for p, v in zip(params, values)]
    outs.append(ops.add(params[-1], ops.constant(np.full(2, 0.1, np.float32))))  # two values: compressed
    model = ov.Model(outs, params)
    ov.save_model(model, str(tmp_path / "f32.xml"), compress_to_fp16=False)
    ov.save_model(model, str(tmp_path / "f16.xml"), compress_to_fp16=True)
    ours = compress_weights_to_f16(lpir.read_model(tmp_path / "f32.xml"))
    theirs = const_types(lpir.read_model(tmp_path / "f16.xml"))
    assert const_types(ours) == theirs and theirs[("f32", (1,))] == 6 and theirs[("f16", (2,))] == 1
