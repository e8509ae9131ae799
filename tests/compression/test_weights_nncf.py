"""lpir.compress_weights against nncf.compress_weights on real models converted by OpenVINO: the
same layers compressed in the same mode, every compressed constant (codes, scales, zero points)
identical byte for byte, and the decompression subgraph of the same structure.

Each case reads the IR in both tools, compresses it, and compares the saved results as read back
by lpir (NNCF's through ``openvino.save_model`` without f16 compression)."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import lpir
import ovmodels
import realdata
from lpir.ir import types
from lpir.ir.dequantization import match_dequantization

# (model, f16 weights, mode, keyword arguments): every data-free mode, per channel and in
# groups, ratio 1 and below, all_layers, f32 and f16 weights, on all four real models, and the
# two group-size fallbacks.
CASES = [
    ("minilm", False, "int8_asym", {}),
    ("minilm", False, "int4_sym", {"group_size": -1, "ratio": 0.6}),
    ("minilm", False, "nf4", {"group_size": 64, "all_layers": True}),
    ("minilm", True, "int4_asym", {"ratio": 0.8, "group_size": 32}),
    ("ppocr_rec", False, "int4_sym", {"group_size": 40, "ratio": 0.5}),
    ("ppocr_rec", False, "nf4", {"group_size": -1, "ratio": 0.7, "backup_mode": "int8_sym"}),
    ("ppocr_det", False, "int8_sym", {}),
    ("ppocr_cls", True, "int4_asym", {"group_size": 8, "ratio": 0.5, "all_layers": True}),
    ("minilm", False, "int4_asym", {"group_size": 256, "group_size_fallback": "adjust"}),
    ("ppocr_rec", False, "int4_sym", {"group_size": 48, "group_size_fallback": "ignore", "ratio": 0.8}),
]


def nncf_compress(xml: str, out: str, mode: str, **kw) -> None:
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedCompressionParameters, GroupSizeFallbackMode
    if "backup_mode" in kw:
        kw["backup_mode"] = nncf.BackupMode(kw["backup_mode"])
    if "group_size_fallback" in kw:
        fallback = GroupSizeFallbackMode(kw.pop("group_size_fallback"))
        kw["advanced_parameters"] = AdvancedCompressionParameters(group_size_fallback_mode=fallback)
    model = nncf.compress_weights(ov.Core().read_model(xml), mode=nncf.CompressWeightsMode(mode), **kw)
    ov.save_model(model, out, compress_to_fp16=False)


def compressed_constants(model: lpir.Model) -> dict[str, tuple]:
    """Every constant of a compressed weight by name: codes, zero points and scales."""
    found = {}
    for node in model.nodes():
        if node.type != "Const":
            continue
        if node.tensor.etype in types.LOW_PRECISION_WEIGHT_TYPES or node.name.endswith("/scale"):
            found[node.name] = (node.tensor.etype.name, node.tensor.shape, bytes(node.tensor.raw_bytes()))
    return found


def structure(model: lpir.Model) -> dict[str, tuple]:
    """Per compressed weight: its dequantization subgraph's shape and the layer that reads it."""
    shapes = {}
    for node in model.nodes():
        if node.type == "Const" and (match := match_dequantization(node.outputs[0])) is not None:
            final = match.output
            readers = sorted(p.node.name for p in final.consumers)
            shapes[node.name] = (match.etype, match.has_zero_point, match.multiply.name,
                                 match.reshape is not None, final.etype.name, tuple(final.shape), tuple(readers))
    return shapes


@pytest.mark.parametrize("name, f16, mode, kw", CASES,
                         ids=[f"{n}{'-f16' if h else ''}-{m}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for n, h, m, kw in CASES])
def test_the_same_bytes_as_nncf(real_ir, tmp_path, name, f16, mode, kw):
    source = real_ir(name, f16)
    nncf_compress(source, str(tmp_path / "nncf.xml"), mode, **kw)
    theirs = lpir.read_model(tmp_path / "nncf.xml")
    lpir.save_model(lpir.compress_weights(lpir.read_model(source), mode=mode, **kw), tmp_path / "lpir.xml")
    ours = lpir.read_model(tmp_path / "lpir.xml")

    expected, actual = compressed_constants(theirs), compressed_constants(ours)
    assert len(expected) > 0
    assert sorted(actual) == sorted(expected)
    differing = [key for key in expected if actual[key] != expected[key]]
    assert not differing, f"{len(differing)} constants differ, e.g. {differing[:3]}"
    assert structure(ours) == structure(theirs)


DATA_AWARE = ["hessian_input_activation", "mean_activation_variance", "max_activation_variance",
              "mean_activation_magnitude", None]


def token_samples(names: list[str]) -> list[dict[str, np.ndarray]]:
    """Six inputs of random valid token ids, of different batch sizes and lengths."""
    return [dict(zip(names, realdata.token_batch(1 + s % 3, 8 + 4 * s, seed=s))) for s in range(6)]


def primary_layers(model: lpir.Model) -> set[str]:
    return {name for name, (etype, _, _) in compressed_constants(model).items()
            if etype in ("u4", "i4") and not name.endswith("/zero_point")}


@pytest.mark.parametrize("metric", DATA_AWARE, ids=[m or "default" for m in DATA_AWARE])
def test_data_aware_selection_is_nncfs(real_ir, tmp_path, metric):
    """With a dataset and ratio < 1, the layers ranked by NNCF's data-aware sensitivity take the
    primary mode: the same layers and bytes as nncf.compress_weights on the same samples."""
    import nncf
    source = real_ir("minilm")
    samples = token_samples([i.get_any_name() for i in ov.Core().read_model(source).inputs])
    metric_kw = {} if metric is None else {"sensitivity_metric": metric}
    model = nncf.compress_weights(ov.Core().read_model(source), mode=nncf.CompressWeightsMode.INT4_ASYM, ratio=0.5,
                                  dataset=nncf.Dataset(samples), subset_size=5,
                                  **{k: nncf.SensitivityMetric(v) for k, v in metric_kw.items()})
    ov.save_model(model, str(tmp_path / "nncf.xml"), compress_to_fp16=False)
    ours = lpir.compress_weights(lpir.read_model(source), mode="int4_asym", ratio=0.5,
                                 dataset=lpir.Dataset(samples), subset_size=5, **metric_kw)
    lpir.save_model(ours, tmp_path / "lpir.xml")
    theirs, ours = lpir.read_model(tmp_path / "nncf.xml"), lpir.read_model(tmp_path / "lpir.xml")
    assert primary_layers(ours) == primary_layers(theirs) and primary_layers(ours)
    assert compressed_constants(ours) == compressed_constants(theirs)


def test_the_data_changes_the_selection(real_ir):
    """The data-aware rankings are not the data-free one in disguise: on MiniLM they pick
    other layers, and not all the same ones."""
    source = lpir.read_model(real_ir("minilm"))
    samples = token_samples([p.name for p in source.parameters])
    chosen = {metric: frozenset(primary_layers(lpir.compress_weights(
        source, mode="int4_asym", ratio=0.5, dataset=lpir.Dataset(samples), sensitivity_metric=metric)))
        for metric in DATA_AWARE[:-1] + ["weight_quantization_error"]}
    assert len(set(chosen.values())) >= 3
    assert chosen["max_activation_variance"] != chosen["weight_quantization_error"]


def test_openvino_runs_it_compressed_and_agrees_with_lpir(real_ir, tmp_path):
    """OpenVINO's CPU plugin keeps lpir's int4/int8 weights compressed (its FullyConnected layers
    read u4/u8 constants) and computes what lpir's interpreter computes."""
    path = tmp_path / "minilm_int4.xml"
    lpir.save_model(lpir.compress_weights(lpir.read_model(real_ir("minilm")), mode="int4_asym"), path)
    compiled = ovmodels.core().compile_model(str(path), "CPU", ovmodels.F32_HINT)
    weight_types = []
    for op in compiled.get_runtime_model().get_ops():
        if op.get_rt_info()["layerType"].astype(str) == "FullyConnected":
            weight = op.input_value(1).get_node()
            weight_types.append(weight.get_rt_info()["outputPrecisions"].astype(str))
    assert len(weight_types) == 18 and set(weight_types) == {"u4", "u8"}  # the last MatMul: int8 backup
    inputs = realdata.inputs_for("minilm")
    expected = ovmodels.run(str(path), inputs)
    actual = lpir.compile_model(lpir.read_model(path))(inputs)
    for a, e in zip(actual, expected):
        span = float(e.max() - e.min())
        # f16 decompression: lpir rounds the f16 product as the graph says, the plugin keeps f32
        assert float(np.abs(a - e).max()) <= 3e-4 * span


def test_the_last_layer_of_parallel_heads_is_nncfs(tmp_path):
    """With several heads "the last MatMul" depends on the walk order: NNCF numbers nodes
    breadth-first from the inputs, consumers by name; the result must agree with it."""
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, 64], np.float32, name="x")
    trunk = ops.relu(ops.matmul(x, ops.constant(rng.standard_normal((64, 64)).astype(np.float32), name="w_trunk"),
                                False, True))
    heads = []
    for name, depth in (("zeta", 2), ("alpha", 1), ("mid", 3)):
        value = trunk
        for i in range(depth):
            weight = ops.constant(rng.standard_normal((64, 64)).astype(np.float32), name=f"w_{name}{i}")
            value = ops.matmul(value, weight, False, True)
            value.set_friendly_name(f"{name}{i}")
        heads.append(value)
    path = str(tmp_path / "heads.xml")
    ov.save_model(ov.Model(heads, [x], "heads"), path, compress_to_fp16=False)
    nncf_compress(path, str(tmp_path / "nncf.xml"), "int4_asym", group_size=32)
    lpir.save_model(lpir.compress_weights(lpir.read_model(path), mode="int4_asym", group_size=32),
                    tmp_path / "lpir.xml")
    theirs = compressed_constants(lpir.read_model(tmp_path / "nncf.xml"))
    assert compressed_constants(lpir.read_model(tmp_path / "lpir.xml")) == theirs
    backup = [name for name, (etype, _, _) in theirs.items() if etype == "u8" and "/" not in name]
    assert backup == ["w_zeta1"]  # not the last head in the IR, not the deepest one


@pytest.mark.parametrize("transpose_b", [False, True])
def test_batched_matmul_weights_keep_their_batch_axes(tmp_path, transpose_b):
    """A 3-D MatMul weight (experts, a batch of matrices): statistics per matrix and output
    channel, over the input channels only, as NNCF takes them."""
    from openvino import opset13 as ops

    rng = np.random.default_rng(1)
    x = ops.parameter([4, 2, 64], np.float32, name="x")
    shape = (4, 32, 64) if transpose_b else (4, 64, 32)
    first = ops.matmul(x, ops.constant(rng.standard_normal(shape).astype(np.float32), name="w_batched"),
                       False, transpose_b)
    last = ops.matmul(first, ops.constant(rng.standard_normal((32, 8)).astype(np.float32), name="w_last"),
                      False, False)
    path = str(tmp_path / "batched.xml")
    ov.save_model(ov.Model([last], [x], "batched"), path, compress_to_fp16=False)
    nncf_compress(path, str(tmp_path / "nncf.xml"), "int4_sym", group_size=16)
    lpir.save_model(lpir.compress_weights(lpir.read_model(path), mode="int4_sym", group_size=16), tmp_path / "lpir.xml")
    theirs = compressed_constants(lpir.read_model(tmp_path / "nncf.xml"))
    assert compressed_constants(lpir.read_model(tmp_path / "lpir.xml")) == theirs
    assert theirs["w_batched"][:2] == ("i4", (4, 32, 4, 16) if transpose_b else (4, 4, 16, 32))
