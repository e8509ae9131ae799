"""NNCF's ignored patterns: on a small graph built for each, lpir.quantize puts its FakeQuantize
nodes exactly where nncf.quantize does (same names, producers and consumers), and the layers
of the pattern are the ones left in float."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import lpir
import ovmodels
import realdata
from lpir.quantization.ignored_patterns import ignored_by_patterns
from lpir.quantization.ptq import NNCF_RANGES

nncf = pytest.importorskip("nncf")


def ov_placement(model: ov.Model) -> set[tuple[str, str, tuple[str, ...]]]:
    """Each activation FakeQuantize as (name, producer, consumers), and each layer whose weights
    NNCF stored compressed (``Const(i8) → Convert → Multiply``) as ("weights", layer, ()).
    ShapeOf consumers are left out: they read only the shape, which a FakeQuantize keeps (NNCF
    puts its quantizer before them too, lpir only before the consumers of values)."""
    found = {(op.get_friendly_name(), op.input_value(0).get_node().get_friendly_name(),
              tuple(sorted(t.get_node().get_friendly_name() for t in op.output(0).get_target_inputs()
                           if t.get_node().get_type_name() != "ShapeOf")))
             for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"}
    for op in model.get_ordered_ops():
        for value in op.input_values():
            scale = value.get_node()
            if scale.get_type_name() == "Multiply" and scale.input_value(0).get_node().get_type_name() == "Convert":
                source = scale.input_value(0).get_node().input_value(0).get_node()
                if source.get_type_name() == "Constant" and source.get_output_element_type(0) == ov.Type.i8:
                    found.add(("weights", op.get_friendly_name(), ()))
    return found


def lpir_placement(model: lpir.Model) -> set[tuple[str, str, tuple[str, ...]]]:
    return {("weights", n.outputs[0].consumers[0].node.name, ()) if "/fq_weights_" in n.name else
            (n.name, n.inputs[0].source.node.name,
             tuple(sorted(p.node.name for p in n.outputs[0].consumers if p.node.type != "ShapeOf")))
            for n in model.nodes() if n.type == "FakeQuantize"}


def quantized_by_both(xml: str, samples: list, transformer: bool = False):
    """(NNCF's placement, lpir's placement, the names lpir's patterns ignore)."""
    kind = {"model_type": nncf.ModelType.TRANSFORMER} if transformer else {}
    reference = nncf.quantize(ovmodels.core().read_model(xml), nncf.Dataset(samples), subset_size=len(samples), **kind)
    model = lpir.read_model(xml)
    ours = lpir.quantize(model, samples, subset_size=len(samples), model_type="transformer" if transformer else None,
                         advanced=NNCF_RANGES)
    return ov_placement(reference), lpir_placement(ours), set(ignored_by_patterns(model, transformer=transformer))


def consumers_of_fake_quantizes(placement) -> set[str]:
    """Layers reading an activation quantizer or holding quantized weights."""
    return {consumer for name, layer, consumers in placement for consumer in (consumers or (layer,))}


def save(outputs, parameters, tmp_path, name) -> str:
    return ovmodels.save(ov.Model([ops.result(o) for o in outputs], parameters, name), tmp_path / f"{name}.xml")


def const(rng, *shape, scale=0.3):
    return ops.constant(rng.normal(0, scale, shape).astype(np.float32))


def named(node, name):
    node.set_friendly_name(name)
    return node


def conv(x, rng, out_channels, in_channels, size, name):
    pad = [size // 2] * 2
    layer = named(ops.convolution(x, const(rng, out_channels, in_channels, size, size), [1, 1], pad, pad, [1, 1]), name)
    return ops.add(layer, const(rng, 1, out_channels, 1, 1, scale=1.0))


def samples(rng, count, *shape):
    return [rng.normal(0.2, 1.0, shape).astype(np.float32) for _ in range(count)]


@pytest.mark.parametrize("gate", ["Sigmoid", "HSigmoid"])
def test_squeeze_and_excitation_block_stays_in_float(tmp_path, gate):
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 12, 12], np.float32, name="x")
    features = ops.relu(conv(x, rng, 8, 3, 3, "stem"))
    pooled = ops.reduce_mean(features, ops.constant(np.array([2, 3])), keep_dims=True)
    squeeze = ops.relu(conv(pooled, rng, 4, 8, 1, "se_reduce"))
    excite = conv(squeeze, rng, 8, 4, 1, "se_expand")
    excite = ops.sigmoid(excite) if gate == "Sigmoid" else ops.hsigmoid(excite)
    out = conv(ops.multiply(features, excite), rng, 6, 8, 3, "head")
    theirs, ours, ignored = quantized_by_both(save([out], [x], tmp_path, "se"), samples(rng, 6, 1, 3, 12, 12))
    assert ours == theirs
    assert {"se_reduce", "se_expand"} <= ignored
    assert {"stem", "head"} <= consumers_of_fake_quantizes(theirs)
    assert not {"se_reduce", "se_expand"} & consumers_of_fake_quantizes(theirs)


def test_squeeze_and_excitation_with_another_gate_is_quantized(tmp_path):
    """HardSigmoid is not in the pattern (the classifier's blocks use it): NNCF quantizes the block."""
    rng = np.random.default_rng(1)
    x = ops.parameter([1, 3, 12, 12], np.float32, name="x")
    features = ops.relu(conv(x, rng, 8, 3, 3, "stem"))
    pooled = ops.reduce_mean(features, ops.constant(np.array([2, 3])), keep_dims=True)
    squeeze = ops.relu(conv(pooled, rng, 4, 8, 1, "se_reduce"))
    excite = ops.hard_sigmoid(conv(squeeze, rng, 8, 4, 1, "se_expand"), ops.constant(np.float32(0.2)),
                              ops.constant(np.float32(0.5)))
    out = conv(ops.multiply(features, excite), rng, 6, 8, 3, "head")
    theirs, ours, ignored = quantized_by_both(save([out], [x], tmp_path, "se_hard"), samples(rng, 6, 1, 3, 12, 12))
    assert ours == theirs and not ignored
    assert {"se_reduce", "se_expand"} <= consumers_of_fake_quantizes(theirs)


def test_batch_normalised_fully_connected_layer(tmp_path):
    rng = np.random.default_rng(2)
    x = ops.parameter([1, 4, 16], np.float32, name="x")
    fc = ops.add(named(ops.matmul(x, const(rng, 16, 8), False, False), "fc"), const(rng, 8))
    unsqueezed = named(ops.unsqueeze(fc, ops.constant(np.array([3]))), "bn_unsqueeze")
    scaled = named(ops.multiply(unsqueezed, const(rng, 1, 1, 8, 1, scale=1.0)), "bn_scale")
    shifted = named(ops.add(scaled, const(rng, 1, 1, 8, 1)), "bn_shift")
    squeezed = named(ops.squeeze(shifted, ops.constant(np.array([3]))), "bn_squeeze")
    out = named(ops.matmul(ops.hswish(squeezed), const(rng, 8, 5), False, False), "fc2")
    theirs, ours, ignored = quantized_by_both(save([out], [x], tmp_path, "fc_bn"), samples(rng, 6, 1, 4, 16))
    assert ours == theirs
    assert {"bn_unsqueeze", "bn_scale", "bn_shift", "bn_squeeze"} <= ignored


def test_equal_then_logical_not(tmp_path):
    rng = np.random.default_rng(3)
    x = ops.parameter([2, 8], np.float32, name="x")
    y = ops.parameter([2, 8], np.float32, name="y")
    equal = named(ops.equal(x, y), "equal")
    keep = named(ops.logical_not(equal), "not_equal")
    picked = ops.select(keep, x, y)
    out = named(ops.matmul(picked, const(rng, 8, 4), False, False), "fc")
    data = [[a, np.where(rng.random(a.shape) < 0.5, a, a + 1)] for a in samples(rng, 6, 2, 8)]
    theirs, ours, ignored = quantized_by_both(save([out], [x, y], tmp_path, "equal"), data)
    assert ours == theirs
    assert {"equal", "not_equal"} <= ignored


def attention(x, rng, heads, width, reshape_probabilities: bool):
    def project(name):
        value = ops.add(named(ops.matmul(x, const(rng, width, width), False, False), name), const(rng, width))
        value = ops.reshape(value, ops.constant(np.array([0, 0, heads, width // heads])), special_zero=True)
        return ops.transpose(value, ops.constant(np.array([0, 2, 1, 3])))

    query, key, value = project("query"), project("key"), project("value")
    scores = named(ops.matmul(query, key, False, True), "scores")
    probabilities = named(ops.softmax(scores, -1), "softmax")
    if reshape_probabilities:
        probabilities = named(ops.reshape(probabilities, ops.constant(np.array([1, heads, 6, 6])), special_zero=False),
                              "probabilities")
    context = named(ops.matmul(probabilities, value, False, False), "context")
    context = ops.reshape(ops.transpose(context, ops.constant(np.array([0, 2, 1, 3]))),
                          ops.constant(np.array([0, 0, width])), special_zero=True)
    return named(ops.matmul(context, const(rng, width, width), False, False), "output")


@pytest.mark.parametrize("reshape_probabilities", [False, True])
def test_attention_output_matmul_stays_in_float_for_transformers(tmp_path, reshape_probabilities):
    rng = np.random.default_rng(4)
    x = ops.parameter([1, 6, 16], np.float32, name="x")
    out = attention(x, rng, 2, 16, reshape_probabilities)
    xml = save([out], [x], tmp_path, "attention")
    data = samples(rng, 6, 1, 6, 16)
    theirs, ours, ignored = quantized_by_both(xml, data, transformer=True)
    assert ours == theirs
    assert "context" in ignored and not probabilities_quantized(theirs)
    assert "output" in consumers_of_fake_quantizes(theirs)
    theirs, ours, ignored = quantized_by_both(xml, data)  # other model types: quantized
    assert ours == theirs and not ignored and probabilities_quantized(theirs)


def probabilities_quantized(placement) -> bool:
    """Whether a FakeQuantize reads the attention's probabilities (Softmax, or its Reshape)."""
    return any(producer in ("softmax", "probabilities") for _, producer, _ in placement)


@pytest.mark.parametrize("transpose,concat", [(True, True), (False, True), (True, False)])
def test_rotary_embedding_stays_in_float_for_transformers(tmp_path, transpose, concat):
    """Angles = positions x frequencies (MatMul), [transposed,] [concatenated with themselves,]
    then their cosine and sine rotate the activations."""
    rng = np.random.default_rng(5)
    x = ops.parameter([1, 6, 8], np.float32, name="x")
    if transpose:  # frequencies [1, 4, 1] x positions [1, 1, 6] → [1, 4, 6] → [1, 6, 4]
        positions = ops.parameter([1, 1, 6], np.float32, name="positions")
        angles = named(ops.matmul(const(rng, 1, 4, 1, scale=1.0), positions, False, False), "angles")
        angles = ops.transpose(angles, ops.constant(np.array([0, 2, 1])))
    else:  # positions [1, 6, 1] x frequencies [1, 1, 4] → [1, 6, 4]
        positions = ops.parameter([1, 6, 1], np.float32, name="positions")
        angles = named(ops.matmul(positions, const(rng, 1, 1, 4, scale=1.0), False, False), "angles")
    if concat:
        angles = ops.concat([angles, angles], -1)
    cos, sin = ops.cos(angles), ops.sin(angles)
    if not concat:
        cos, sin = (ops.concat([t, t], -1) for t in (cos, sin))
    rotated = ops.add(ops.multiply(x, cos), ops.multiply(ops.negative(x), sin))
    out = named(ops.matmul(rotated, const(rng, 8, 8), False, False), "projection")
    xml = save([out], [x, positions], tmp_path, "rope")
    steps = np.arange(6, dtype=np.float32).reshape(list(positions.get_output_shape(0)))
    data = [[a, steps + i] for i, a in enumerate(samples(rng, 6, 1, 6, 8))]
    theirs, ours, ignored = quantized_by_both(xml, data, transformer=True)
    assert ours == theirs
    assert "angles" in ignored and "angles" not in consumers_of_fake_quantizes(theirs)


def test_segment_anything_positional_embedding_stays_in_float_for_transformers(tmp_path):
    rng = np.random.default_rng(6)
    coords = ops.parameter([1, 10, 2], np.float32, name="coords")
    projected = named(ops.matmul(coords, const(rng, 2, 8, scale=1.0), False, False), "gaussian")
    scaled = ops.multiply(projected, ops.constant(np.float32(2 * np.pi)))
    embedding = ops.concat([ops.sin(scaled), ops.cos(scaled)], -1)
    out = named(ops.matmul(embedding, const(rng, 16, 4), False, False), "projection")
    theirs, ours, ignored = quantized_by_both(save([out], [coords], tmp_path, "sam"), samples(rng, 6, 1, 10, 2),
                                              transformer=True)
    assert ours == theirs
    assert "gaussian" in ignored and "gaussian" not in consumers_of_fake_quantizes(theirs)


def test_minilm_with_attention_written_out(tmp_path):
    """MiniLM as OpenVINO reads the ONNX file (attention as MatMul → Softmax → MatMul, not
    fused): the attention outputs stay in float, and the placement is NNCF's."""
    from lpir import zoo
    xml = ovmodels.save(ovmodels.core().read_model(str(zoo.all_models()["minilm"])), tmp_path / "minilm.xml")
    ids, mask = realdata.token_batch(seed=0)
    data = [[ids[i:i + 1], mask[i:i + 1]] for i in range(len(ids))]
    theirs, ours, ignored = quantized_by_both(xml, data, transformer=True)
    softmax_consumers = {n.outputs[0].consumers[0].node.name for n in lpir.read_model(xml).nodes() if n.type == "Softmax"}
    assert len(softmax_consumers) == 3 and softmax_consumers <= ignored
    assert ours == theirs
