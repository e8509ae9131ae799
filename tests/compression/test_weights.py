"""lpir.compress_weights on small built models: which layers get which mode, laziness, the
dequantization subgraph it builds, and one clear error for each kind of bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lpir
from lpir.errors import LpirWarning, QuantizationError, ValidationError
from lpir.ir import make_constant, make_parameter, make_result
from lpir.ir.dequantization import make_dequantization, match_dequantization
from lpir.ops import build

from compression.builders import mlp, set_weight_value


def modes(model: lpir.Model) -> dict[str, str]:
    """Weight name → element type of its constant (compressed or float)."""
    return {n.name: n.tensor.etype.name for n in model.nodes() if n.type == "Const" and n.name[:1] in "wtk"
            and "/" not in n.name}


def test_layer_selection_follows_nncf():
    model = mlp((64, 32, 32, 16), conv=True, embedding=True)
    assert modes(lpir.compress_weights(model, mode="int4_sym", group_size=16)) == {
        "table": "u8", "kernel": "u8", "w0": "i4", "w1": "i4", "w2": "u8"}  # last MatMul: backup
    assert modes(lpir.compress_weights(model, mode="int4_sym", group_size=16, all_layers=True)) == {
        "table": "i4", "kernel": "u8", "w0": "i4", "w1": "i4", "w2": "i4"}  # convolutions stay 8-bit
    assert modes(lpir.compress_weights(model, mode="int8_sym")) == {
        "table": "i8", "kernel": "i8", "w0": "i8", "w1": "i8", "w2": "i8"}
    assert modes(lpir.compress_weights(model, mode="nf4", group_size=16, backup_mode="none")) == {
        "table": "f32", "kernel": "f32", "w0": "nf4", "w1": "nf4", "w2": "f32"}


def test_ignored_layers_keep_float_weights():
    model = mlp((64, 32, 32, 16))
    ignored = lpir.IgnoredScope(names=("mm1",))
    assert modes(lpir.compress_weights(model, mode="int4_asym", group_size=16, ignored_scope=ignored)) == {
        "w0": "u4", "w1": "f32", "w2": "u8"}
    with pytest.warns(LpirWarning, match="nothing to compress"):
        every_matmul = lpir.IgnoredScope(types=("MatMul",))
        assert modes(lpir.compress_weights(model, ignored_scope=every_matmul))["w0"] == "f32"
    assert modes(lpir.compress_weights(model, ignored_scope=lpir.IgnoredScope(patterns=("mm[01]",)))) == {
        "w0": "f32", "w1": "f32", "w2": "u8"}
    with pytest.raises(ValidationError, match="'nope'"):
        lpir.compress_weights(model, ignored_scope=["nope"])


def test_ratio_keeps_the_least_sensitive_weights_in_the_primary_mode():
    model = mlp((64, 64, 64, 64, 16))
    # scale w1 up a lot: its int8 error, hence its sensitivity ranking, changes
    for node in model.nodes():
        if node.name == "w0":
            node.tensor = lpir.Tensor.from_array(node.tensor.numpy() * 100)
    half = modes(lpir.compress_weights(model, mode="int4_asym", group_size=16, ratio=0.5))
    # three candidates of 4096 weights (the last MatMul is backup): below half means one in 4-bit,
    # and the large-error w0 is the least sensitive
    assert half == {"w0": "u4", "w1": "u8", "w2": "u8", "w3": "u8"}
    assert set(modes(lpir.compress_weights(model, mode="int4_asym", group_size=16, ratio=0)).values()) == {"u8"}


def test_compression_is_lazy_and_the_interpreter_runs_it(tmp_path):
    model = mlp((64, 32, 16))
    lpir.save_model(model, tmp_path / "f32.xml")
    lowered = []
    compressed = lpir.compress_weights(lpir.read_model(tmp_path / "f32.xml"), mode="int8_asym",
                                       on_lowered=lambda site: lowered.append(site.name))
    assert lowered == []  # nothing computed until read
    x = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    expected = lpir.compile_model(model)([x])[0]
    actual = lpir.compile_model(compressed)([x])[0]
    assert sorted(lowered) == ["w0", "w1"]
    assert np.abs(actual - expected).max() <= 0.02 * np.abs(expected).max()
    lpir.save_model(compressed, tmp_path / "int8.xml")
    again = lpir.compile_model(lpir.read_model(tmp_path / "int8.xml"))([x])[0]
    np.testing.assert_array_equal(again, actual)


def test_the_input_model_is_not_modified():
    model = mlp()
    before = modes(model)
    lpir.compress_weights(model, mode="int4_asym", group_size=16)
    assert modes(model) == before


def test_make_dequantization_builds_what_match_dequantization_finds():
    codes = make_constant(np.arange(24, dtype=np.uint8).reshape(2, 3, 4) % 16, "u4", name="w")
    scale = lpir.Tensor.from_array(np.full((2, 3, 1), 0.5, np.float16))
    zero_point = lpir.Tensor.from_array(np.full((2, 3, 1), 8, np.uint8), "u4")
    dq = make_dequantization(codes.output, scale, zero_point, name="w", out_shape=(2, 12), out_etype=lpir.ir.types.f32)
    match = match_dequantization(codes.output)
    assert match is not None and match.output is dq.output and match.has_zero_point
    assert [match.multiply.name, match.subtract.name] == ["w/fq_weights_1", "w/zero_point/subtract"]
    assert match.granularity() == ("group", 4)
    x = make_parameter("f32", (1, 2), name="x")
    mm = build("MatMul", [x.output, dq.output], name="mm")
    model = lpir.Model([x], [make_result(mm.output)])
    out = lpir.compile_model(model)([np.ones((1, 2), np.float32)])[0]
    expected = ((np.arange(24).reshape(2, 12) % 16 - 8) * 0.5).sum(axis=0)
    np.testing.assert_array_equal(out[0], expected)


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "int3"}, "unknown weight compression mode 'int3'"),
    ({"mode": "int4_asym", "ratio": 1.5}, r"ratio=1.5 is outside \[0, 1\]"),
    ({"mode": "int4_asym", "ratio": -0.1}, r"outside \[0, 1\]"),
    ({"mode": "int8_asym", "group_size": 32}, "per output channel"),
    ({"mode": "int8_sym", "ratio": 0.5}, "applies to 4-bit modes"),
    ({"mode": "int4_sym", "group_size": 0}, "group_size=0"),
    ({"mode": "int4_sym", "backup_mode": "int2"}, "unknown backup mode"),
    ({"mode": "int4_sym", "sensitivity_metric": "max_activation_variance"}, "needs a dataset"),
    ({"mode": "int4_sym", "sensitivity_metric": "max_variance"}, "unknown sensitivity_metric 'max_variance'"),
    ({"mode": "int4_sym", "dataset": [], "subset_size": 0}, "subset_size=0"),
    ({"mode": "int4_sym", "dataset": [], "ratio": 0.5}, "the dataset gave no samples"),
])
def test_bad_arguments_raise_one_clear_error(kwargs, message):
    with pytest.raises(QuantizationError, match=message):
        lpir.compress_weights(mlp(), **kwargs)


def test_a_group_size_that_does_not_divide_names_the_layers():
    model = mlp((48, 32, 32, 16))
    with pytest.raises(QuantizationError, match=r"group size 32 does not divide .* 'w0' \[32, 48\] .*'mm0'"):
        lpir.compress_weights(model, mode="int4_asym", group_size=32)
    # only weights still in the 4-bit mode after the ratio split are checked (NNCF's rule)
    lpir.compress_weights(model, mode="int4_asym", group_size=32, ratio=0.4)


def test_group_size_fallbacks():
    model = mlp((96, 48, 64, 32, 16))  # input channels 96, 48, 64, 32 (the last MatMul: backup)
    adjusted = lpir.compress_weights(model, mode="int4_sym", group_size=64, group_size_fallback="adjust")
    assert modes(adjusted) == {"w0": "i4", "w1": "u8", "w2": "i4", "w3": "u8"}  # 48: 16 < 32, backup
    groups = {n.name: n.tensor.shape for n in adjusted.nodes() if n.name in ("w0", "w2")}
    assert groups == {"w0": (48, 3, 32), "w2": (32, 1, 64)}  # 96 → groups of 32 (its largest power of 2)
    ignored = lpir.compress_weights(model, mode="int4_sym", group_size=64, group_size_fallback="ignore")
    assert modes(ignored) == {"w0": "f32", "w1": "f32", "w2": "i4", "w3": "u8"}
    with pytest.raises(QuantizationError, match="unknown group_size_fallback 'skip'"):
        lpir.compress_weights(model, mode="int4_sym", group_size_fallback="skip")


def test_nothing_to_compress_warns_and_keeps_the_model():
    x = make_parameter("f32", (2,), name="x")
    relu = build("Relu", [x.output], name="relu")
    model = lpir.Model([x], [make_result(relu.output)])
    with pytest.warns(LpirWarning, match="nothing to compress"):
        result = lpir.compress_weights(model)
    assert [n.type for n in result.nodes()] == ["Parameter", "Relu", "Result"]


def test_an_already_compressed_model_keeps_its_compression():
    once = lpir.compress_weights(mlp(), mode="int4_asym", group_size=16, all_layers=True)
    with pytest.warns(LpirWarning, match="2 compressed weights keep their compression"):
        twice = lpir.compress_weights(once, mode="int8_asym")
    assert modes(twice) == {"w0": "u4", "w1": "u4"}
    partly = lpir.compress_weights(mlp((64, 32, 32, 16)), mode="int8_sym", ignored_scope=["mm2"])
    with pytest.warns(LpirWarning, match="2 weights already compressed keep their compression"):
        assert modes(lpir.compress_weights(partly, mode="int8_asym")) == {"w0": "i8", "w1": "i8", "w2": "u8"}


def test_nan_weights_name_the_layer_and_leave_no_file(tmp_path):
    model = mlp()
    set_weight_value(model, "w1", (3, 2), np.nan)
    compressed = lpir.compress_weights(model, mode="int4_sym", group_size=16, all_layers=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(QuantizationError, match=r"weight 'w1' \[32, 16\] of node 'mm1' .*NaN or infinite"):
            lpir.save_model(compressed, tmp_path / "out.xml")
    assert list(tmp_path.iterdir()) == []
