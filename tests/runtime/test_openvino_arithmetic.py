"""``arithmetic="openvino-cpu"``: integer mode computing as OpenVINO's CPU plugin does where it departs
from the reference arithmetic (lpir.runtime.arithmetic.openvino_cpu), checked against the plugin
itself (f32 hint, no dynamic quantization, its low-precision transformations on).

The departures reproduced: a FakeQuantize between a Convolution and a residual Add that the plugin
fuses into the convolution as a sum post-op is not rounded, and the sum is taken on the skip's
integer codes; the FakeQuantizes fused after a layer follow the plugin's post-op formula, for u8
or i8 codes as its low-precision transformations decide; a ReduceMean of i8 codes averages the
codes. On blocks built with OpenVINO's opset API and on PP-OCR's classifier (teacher forcing on
OpenVINO's own codes, and end to end) the codes are OpenVINO's where it runs AVX-512 int8
kernels; with the reference arithmetic thousands are one step off.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import openvino as ov
import pytest
from hypothesis import given, settings, strategies as st
from openvino import opset13 as ov_ops

import lpir
import ovcut
import ovmodels
import realdata
from lpir.errors import ValidationError
from lpir.ops import build
from lpir.analysis.patterns import quantization_of
from lpir.ir.subgraph import extract_subgraph
from lpir.runtime.arithmetic.openvino_cpu import (CODES_NORMALIZATION, FUSED_POST_OPS, LEGACY_POST_OPS, POOLED_CODES,
                                                  QUANTIZATION_KERNELS,
                                                  SIGNED_POST_OPS, SNIPPETS_QUANTIZATION, post_op_formula)


# The rules follow the CPUs whose convolutions take u8 data; where they take i8 (AMX) the plugin's
# codes are other ones.
pytestmark = pytest.mark.skipif(ovmodels.convolutions_take_i8(), reason=ovmodels.SIGNED_CONVOLUTIONS)

_codes = ovcut.codes
_openvino_cut = ovcut.cut_outputs


def _fused_into_convolution(xml: str, name: str) -> bool:
    """Whether OpenVINO's CPU runs node ``name`` inside a Convolution (as a post-op)."""
    compiled = ovmodels.core().compile_model(xml, "CPU", ovmodels.F32_HINT)
    return any(name in op.get_rt_info()["originalLayersNames"].astype(str).split(",")
               for op in compiled.get_runtime_model().get_ordered_ops()
               if op.get_rt_info()["layerType"].astype(str) == "Convolution")


def residual_codes(xml: str, x: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray]:
    """The codes of the FakeQuantize after the residual Add: (lpir's, OpenVINO's)."""
    model = lpir.read_model(xml)
    after = model.node("residual").outputs[0].consumers[0].node
    compiled = lpir.compile_model(model, integer=True, **options)
    target, read = ovcut.tapped_codes(compiled, after)
    seen = []
    compiled([x], taps=compiled.tap([target], lambda out, value: seen.append(value)))
    openvino = _openvino_cut(xml, [x], [after.name])[after.name]
    return read(after, seen[0]), _codes(after, openvino)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_residual_block_matches_openvino(tmp_path, seed):
    """On a residual block whose Add the plugin fuses into the convolution: with the CPU
    plugin's arithmetic the codes after the Add are OpenVINO's (measured: all 1152; OpenVINO's
    other departures, f32 ULPs of its scales, may move one), with the reference arithmetic a
    seventh to a fifth are one step off (measured 168-220); end to end within 1e-4 of the
    output range, where the reference is further."""
    xml = ovmodels.save(ovmodels.residual_block(seed=seed), tmp_path / "block.xml")
    assert _fused_into_convolution(xml, "residual")
    x = np.random.default_rng(10 + seed).random((1, 8, 12, 12), dtype=np.float32)
    model = lpir.read_model(xml)
    cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
    assert len(ovcut.unrounded(cpu)) == 1 and "not rounded" in str(cpu.plan)
    assert not lpir.compile_model(model, integer=True).plan.departures
    differ = {}
    for arithmetic in ("openvino-cpu", "reference"):
        mine, theirs = residual_codes(xml, x, arithmetic=arithmetic)
        assert np.abs(mine - theirs).max() <= 1
        differ[arithmetic] = int((mine != theirs).sum())
    expected = ovmodels.run(xml, [x])[0]
    spread = np.ptp(expected)
    largest = {a: float(np.abs(lpir.compile_model(model, integer=True, arithmetic=a)([x])[0] - expected).max() / spread)
               for a in differ}
    print(f"seed {seed}: codes differing from OpenVINO's {differ}; max |lpir - OpenVINO| / range {largest}")
    codes = 8 * 12 * 12
    assert differ["openvino-cpu"] <= codes // 1000
    assert differ["reference"] >= codes // 10
    assert largest["openvino-cpu"] <= 1e-4 < largest["reference"]
    exact = lpir.compile_model(model, exact=True, arithmetic="openvino-cpu")([x])[0]  # dequantized in f64
    assert np.abs(exact - cpu([x])[0]).max() <= 1e-4 * spread


@pytest.mark.parametrize("kind", ["activation", "direct"])
def test_rounding_kept_where_the_plugin_keeps_it(tmp_path, kind):
    """With a ReLU between the convolution and the FakeQuantize the plugin rounds (the
    FakeQuantize is not its first fused node); when the convolution reads the skip tensor the
    plugin does not fuse the Add at all. The rule does not apply, and the reference codes are
    OpenVINO's but for a few."""
    xml = ovmodels.save(ovmodels.residual_block(kind), tmp_path / "block.xml")
    assert _fused_into_convolution(xml, "residual") == (kind == "activation")
    assert not ovcut.unrounded(lpir.compile_model(lpir.read_model(xml), integer=True, arithmetic="openvino-cpu"))
    x = np.random.default_rng(3).random((1, 8, 12, 12), dtype=np.float32)
    mine, theirs = residual_codes(xml, x, arithmetic="openvino-cpu")
    print(f"{kind}: codes differing from OpenVINO's {int((mine != theirs).sum())} of {mine.size}")
    assert int((mine != theirs).sum()) <= mine.size // 100


def test_arithmetic_is_checked(tmp_path):
    model = lpir.read_model(ovmodels.save(ovmodels.residual_block(), tmp_path / "block.xml"))
    with pytest.raises(ValidationError, match="integer=True or exact=True"):
        lpir.compile_model(model, arithmetic="openvino-cpu")
    with pytest.raises(ValidationError, match="arithmetic must be one of"):
        lpir.compile_model(model, integer=True, arithmetic="openvino-gpu")


@dataclass
class Classifier:
    """PP-OCR's classifier quantized with 7-bit weights (every CPU computes the same int32 sums),
    its plan with the CPU arithmetic, OpenVINO's codes at each FakeQuantize (from cut models) and
    lpir's from OpenVINO's codes before each (teacher forcing), for both arithmetics."""

    xml: str
    model: object
    cpu: object
    openvino: dict
    forced: dict  # arithmetic -> {FakeQuantize name: ovcut.Forced}
    kernels: list

    def rule(self, departure) -> set[str]:
        return {fq for fq, rule in self.cpu.plan.departures if rule == departure.description}

    @property
    def avx512(self) -> bool:
        return _avx512(self.kernels)

    def differ(self, arithmetic: str, names) -> dict[str, int]:
        return {n: int(self.forced[arithmetic][n].differ.sum()) for n in names}


@pytest.fixture(scope="module")
def classifier(lpir_int8) -> Classifier:
    xml = lpir_int8("ppocr_cls", ovmodels.PORTABLE_OVERFLOW_FIX)
    inputs = realdata.inputs_for("ppocr_cls")
    model = lpir.read_model(xml)
    cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
    skip = ovcut.unrounded(cpu)
    names = [fq.name for fq in ovcut.activation_fake_quantizes(model) if fq.name not in skip]
    openvino = _openvino_cut(xml, inputs, names)
    forced = {a: {f.fq.name: f for f in ovcut.teacher_forced(model, inputs, openvino, a, skip)}
              for a in ("openvino-cpu", "openvino-cpu-avx2", "reference")}
    for found in forced.values():
        assert all(np.abs(f.lpir - f.openvino).max() <= 1 for f in found.values())
    return Classifier(xml, model, cpu, openvino, forced, _int8_convolutions(xml))


def test_classifier_residual_adds_match_openvino_per_layer(classifier):
    """Teacher forcing on PP-OCR's classifier: each residual Add's FakeQuantize computed by lpir
    from OpenVINO's own codes of the FakeQuantizes before it (the convolution's quantized input
    and the skip branch), against OpenVINO's codes there. With the CPU arithmetic the plugin's sum
    on the skip's integer codes is reproduced: measured 0 of 18432-24576 codes differ (1-2 in
    three of the seven blocks when the Add was summed in real values), 11-22 % with the reference."""
    after = {fq.outputs[0].consumers[0].node.outputs[0].consumers[0].node.name
             for fq in map(classifier.model.node, ovcut.unrounded(classifier.cpu))}
    assert len(after) >= 5 and after <= classifier.rule(FUSED_POST_OPS) | classifier.rule(SIGNED_POST_OPS)
    differ = {a: classifier.differ(a, sorted(after)) for a in ("openvino-cpu", "openvino-cpu-avx2", "reference")}
    print(f"codes differing from OpenVINO's after the residual Adds: {differ}")
    for name in after:
        size = classifier.openvino[name].size
        assert differ["openvino-cpu"][name] <= (0 if classifier.avx512 else size // 2000)
        assert differ["reference"][name] >= size // 20


def test_classifier_squeeze_and_excitation_matches_openvino(classifier):
    """Teacher forcing on PP-OCR's classifier, its squeeze-and-excitation blocks: the HSwish
    FakeQuantize the plugin writes as i8 (its consumers, a pooling and a Multiply, take i8; its
    rounding is that of ``x · isc + ish - 128``), the global average pooling of those codes and
    the Multiplies. With the CPU arithmetic every code is OpenVINO's where it runs AVX-512
    int8 kernels (measured 0 of 1.5 million; before the signed and pooled rules 1-3 codes in five
    of the nine blocks)."""
    signed, pooled = classifier.rule(SIGNED_POST_OPS), classifier.rule(POOLED_CODES)
    multiplies = {n.name for n in ovcut.activation_fake_quantizes(classifier.model)
                  if n.inputs[0].source.node.type == "Multiply" and n.name in classifier.openvino}
    assert len(signed) >= 8 and len(pooled) >= 8 and len(multiplies) >= 8
    assert signed <= ovcut.signed_in_openvino(ovmodels.core().read_model(classifier.xml))
    names = sorted(signed | pooled | multiplies)
    differ = {a: sum(classifier.differ(a, names).values()) for a in ("openvino-cpu", "openvino-cpu-avx2", "reference")}
    codes = sum(classifier.openvino[n].size for n in names)
    print(f"{len(signed)} signed, {len(pooled)} pooled, {len(multiplies)} Multiply FakeQuantizes: codes differing {differ} of {codes}")
    assert differ["openvino-cpu"] <= (0 if classifier.avx512 else codes // 100000)
    assert differ["reference"] > differ["openvino-cpu"]


def unrounded_in_openvino(xml: str) -> set[str]:
    """The FakeQuantize nodes OpenVINO's CPU runs as the first fused node of a Convolution that a
    residual Add and its FakeQuantize follow (the pattern whose rounding the plugin drops), read
    from its runtime model: in a Convolution's fused layer names, a FakeQuantize after nothing
    but the convolution and its bias (nodes of the original model; the dequantization Multiply
    the low-precision transformations add is not one), then an Add, then a FakeQuantize."""
    model = ovmodels.core().read_model(xml)
    types = {op.get_friendly_name(): op.get_type_name() for op in model.get_ordered_ops()}
    compiled = ovmodels.core().compile_model(model, "CPU", ovmodels.F32_HINT)
    found = set()
    for op in compiled.get_runtime_model().get_ordered_ops():
        if op.get_rt_info()["layerType"].astype(str) != "Convolution":
            continue
        names = [n for n in op.get_rt_info()["originalLayersNames"].astype(str).split(",") if n in types]
        kinds = [types[n] for n in names]
        for i in range(1, len(names) - 2):
            if (kinds[i:i + 3] == ["FakeQuantize", "Add", "FakeQuantize"]
                    and set(kinds[:i]) <= {"Convolution", "GroupConvolution", "Add"}):
                found.add(names[i])
    return found


def fused_into_layers(xml: str) -> dict[str, str]:
    """The FakeQuantize nodes OpenVINO's CPU runs inside a Convolution or FullyConnected node (as
    post-ops), with that node's output precision."""
    model = ovmodels.core().read_model(xml)
    types = {op.get_friendly_name(): op.get_type_name() for op in model.get_ordered_ops()}
    compiled = ovmodels.core().compile_model(model, "CPU", ovmodels.F32_HINT)
    return {name: op.get_rt_info()["outputPrecisions"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()
            if op.get_rt_info()["layerType"].astype(str) in ("Convolution", "FullyConnected")
            for name in op.get_rt_info()["originalLayersNames"].astype(str).split(",")[1:]
            if types.get(name) == "FakeQuantize"}


@pytest.mark.parametrize("name", ["ppocr_cls", "ppocr_rec", "ppocr_det", "minilm"])
def test_rules_find_what_openvino_fuses(lpir_int8, name):
    """On the real models, the FakeQuantize nodes the unrounded-residual rule rewrites are exactly
    those OpenVINO's CPU fuses in that pattern (measured: the classifier's 7 residual blocks; none
    in PP-OCRv4 rec and det nor in MiniLM), and every one the post-op rule rewrites OpenVINO runs
    inside the layer before it. Those it computes for i8 codes are those OpenVINO's layer writes as
    i8, where it writes codes (measured: the classifier's 9 squeeze-and-excitation HSwish, rec 7,
    det 10, MiniLM's 6 query and key projections; where the plugin fuses the dequantization too
    and writes f32, as after rec's attention projections, its output does not tell)."""
    xml = lpir_int8(name)
    compiled = lpir.compile_model(lpir.read_model(xml), integer=True, arithmetic="openvino-cpu")
    assert ovcut.unrounded(compiled) == unrounded_in_openvino(xml)
    post_ops = {fq for fq, rule in compiled.plan.departures if rule == FUSED_POST_OPS.description}
    signed = {fq for fq, rule in compiled.plan.departures if rule == SIGNED_POST_OPS.description}
    fused = fused_into_layers(xml)
    print(f"{name}: {len(post_ops)} FakeQuantizes computed by their post-op formula, {len(signed)} of them for i8 codes")
    assert post_ops | signed and post_ops | signed <= set(fused)
    assert {fq for fq in post_ops | signed if fused[fq] == "i8"} <= signed
    assert not {fq for fq in signed if fused[fq] == "u8"}


@pytest.mark.parametrize("quantizer", ["lpir", "nncf"])
def test_classifier_end_to_end_matches_openvino(lpir_int8, nncf_cls_portable, quantizer):
    """PP-OCR's classifier, quantized by lpir.quantize and by NNCF (7-bit weights), run whole by
    OpenVINO's CPU and by integer mode with its arithmetic, where OpenVINO runs AVX-512
    int8 kernels: the outputs agree within 1e-5 of their range (measured 6e-8 and 3e-8: f32 noise
    of the last layer; issue 10 asks for 1e-2), the reference arithmetic's within 3.8e-2 and
    4.1e-2. Where it runs AVX2 kernels (ONEDNN_MAX_CPU_ISA=AVX2), whose convolutions take the
    plugin's legacy post-op path, ``arithmetic="openvino-cpu-avx2"`` agrees within 1e-5 (measured
    6.0e-8 and 6.3e-8), the AVX-512 arithmetic is 1.6e-2 and 1.3e-2 off, the reference 5.2e-2 and
    2.8e-2."""
    xml = lpir_int8("ppocr_cls", ovmodels.PORTABLE_OVERFLOW_FIX) if quantizer == "lpir" else str(nncf_cls_portable)
    inputs = realdata.inputs_for("ppocr_cls")
    expected = ovmodels.run(xml, inputs)[0]
    model = lpir.read_model(xml)
    apart = {a: float(np.abs(lpir.compile_model(model, integer=True, arithmetic=a)(inputs)[0] - expected).max() / np.ptp(expected))
             for a in ("openvino-cpu", "openvino-cpu-avx2", "reference")}
    kernels = _int8_convolutions(xml)
    print(f"{quantizer} ({sorted(set(kernels))}): max |lpir - OpenVINO| / range {apart}")
    if _avx512(kernels):
        assert apart["openvino-cpu"] <= 1e-5 < apart["reference"]
    else:
        assert apart["openvino-cpu-avx2"] <= 1e-5 < apart["openvino-cpu"] < apart["reference"]


@pytest.mark.parametrize("name", ["ppocr_cls", "ppocr_rec", "ppocr_det", "minilm"])
def test_real_models_end_to_end_match_openvino(lpir_int8, name):
    """The real models as lpir.quantize makes them by default (NNCF's overflow fix: 8-bit weights
    but the first layers), run whole by OpenVINO's CPU and by integer mode with its arithmetic:
    every output within 1e-2 of its range (measured on these inputs 3e-8 (classifier), 5e-7 (rec),
    6e-8 (det), 2.2e-4 (MiniLM); the reference arithmetic 2.8e-2, 0.10, 0.42, 2.1e-3).
    Asserted where OpenVINO sums int8 products exactly (VNNI) in its AVX-512 kernels, whose
    arithmetic the rules reproduce; elsewhere OpenVINO's own outputs of these IRs move by up to
    the whole range (benchmarks/measure_openvino_isas.py)."""
    xml = lpir_int8(name)
    kernels = _int8_convolutions(xml)
    if not ovmodels.int8_sums_exact() or not _avx512(kernels):
        pytest.skip(f"OpenVINO runs other int8 kernels on this CPU ({sorted(set(kernels))}, exact sums: "
                    f"{ovmodels.int8_sums_exact()}); the rules reproduce its AVX-512 VNNI ones")
    inputs = realdata.inputs_for(name)
    expected = ovmodels.run(xml, inputs)
    model = lpir.read_model(xml)
    apart = {}
    for arithmetic in ("openvino-cpu", "reference"):
        outputs = lpir.compile_model(model, integer=True, arithmetic=arithmetic)(inputs)
        apart[arithmetic] = max(float(np.abs(o - e).max() / np.ptp(e)) for o, e in zip(outputs, expected))
    print(f"{name}: max |lpir - OpenVINO| / range {apart}")
    assert apart["openvino-cpu"] <= 1e-2
    assert apart["openvino-cpu"] < apart["reference"]


def _avx512(kernels: list[str]) -> bool:
    """Whether every int8 convolution runs an AVX-512 kernel, whose post-ops the openvino-cpu rules reproduce."""
    return all("avx512" in k for k in kernels)


def _int8_convolutions(xml: str) -> list[str]:
    """The primitive type of each Convolution OpenVINO's CPU runs on u8/i8 data (e.g. brgconv_avx512_1x1_I8)."""
    return _int8_layers(xml, "Convolution")


def _int8_layers(xml: str, layer_type: str) -> list[str]:
    """The primitive type of each ``layer_type`` node OpenVINO's CPU runs on u8/i8 data (e.g. brgemm_avx512_I8)."""
    compiled = ovmodels.core().compile_model(xml, "CPU", ovmodels.F32_HINT)
    return [op.get_rt_info()["primitiveType"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()
            if op.get_rt_info()["layerType"].astype(str) == layer_type
            and op.get_rt_info()["primitiveType"].astype(str).endswith("_I8")]


@pytest.mark.parametrize("seed", [0, 1])
def test_fake_quantize_fused_after_a_convolution_matches_openvino_bit_for_bit(tmp_path, seed):
    """A convolution with its bias, HSwish and a per-channel FakeQuantize, all fused into one int8
    oneDNN primitive: with the CPU arithmetic (f32 dequantization, oneDNN's HSwish steps, the
    plugin's post-op formula with its first-channel input shift) every code is OpenVINO's (the
    reference too on these values: measured 0 of 65536; on the classifier it is not), where the
    plugin runs AVX-512 int8 kernels; its AVX2 kernels (jit_avx2_I8) sum otherwise."""
    xml = ovmodels.save(ovmodels.post_op_block(seed), tmp_path / "block.xml")
    assert _int8_convolutions(xml)
    model = lpir.read_model(xml)
    fq = model.outputs[0].node
    il, ih, ol, oh = (a.astype(np.float32) for a in ovcut.limits(fq))
    shifts = (-il * np.float32(255)) / (ih - il)  # the plugin's per-channel input shifts, in f32
    assert np.unique(shifts).size > 1 and post_op_formula(il, ih, ol, oh, 256).ish.size == 1  # the shift taken is one
    first = model.parameters[0].outputs[0].consumers[0].node  # the input's FakeQuantize
    # values on its grid: how the plugin rounds raw inputs there is not what this test is about
    x = ovcut.dequantize(first, np.random.default_rng(20 + seed).integers(0, 256, size=(2, 16, 32, 32)))
    expected = ovcut.codes(fq, ovmodels.run(xml, [x])[0])
    cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
    assert dict(cpu.plan.departures)[fq.name] == FUSED_POST_OPS.description
    differ = {a: int((ovcut.codes(fq, lpir.compile_model(model, integer=True, arithmetic=a)([x])[0]) != expected).sum())
              for a in ("openvino-cpu", "reference")}
    print(f"seed {seed} ({', '.join(_int8_convolutions(xml))}): codes differing from OpenVINO's {differ} of {expected.size}")
    kernels = _int8_convolutions(xml)
    if _avx512(kernels):
        assert differ["openvino-cpu"] == 0
    else:  # jit_avx2_I8 (ONEDNN_MAX_CPU_ISA=AVX2) computes otherwise: measured 476 and 0 codes, both arithmetics
        assert differ["openvino-cpu"] <= differ["reference"]


@pytest.mark.parametrize("seed", [0, 2])
def test_legacy_post_ops_match_openvino_avx2_kernels(tmp_path, seed):
    """The block above run by OpenVINO with oneDNN capped at AVX2 (a CPU without AVX-512, in a
    fresh process): its jit_avx2_I8 convolution takes the plugin's legacy post-op path, where the
    per-channel FakeQuantize, which oneDNN could only take with binary post-ops, is a legacy
    quantization post-op computed from the FakeQuantize node's own per-channel crop limits, scales
    and shifts. ``arithmetic="openvino-cpu-avx2"`` gives every code (measured 0 of 65536 on both
    seeds); the AVX-512 arithmetic and the reference leave 476 and 1609 one step off."""
    xml = ovmodels.save(ovmodels.post_op_block(seed), tmp_path / "block.xml")
    model = lpir.read_model(xml)
    fq = model.outputs[0].node
    first = model.parameters[0].outputs[0].consumers[0].node
    x = ovcut.dequantize(first, np.random.default_rng(20 + seed).integers(0, 256, size=(2, 16, 32, 32)))
    outputs, kernels = ovmodels.run_capped(xml, [x], "AVX2")
    assert kernels == ["jit_avx2_I8"]
    expected = ovcut.codes(fq, outputs[0])
    avx2 = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu-avx2")
    assert dict(avx2.plan.departures)[fq.name] == LEGACY_POST_OPS.description
    differ = {a: int((ovcut.codes(fq, lpir.compile_model(model, integer=True, arithmetic=a)([x])[0]) != expected).sum())
              for a in ("openvino-cpu-avx2", "openvino-cpu", "reference")}
    print(f"seed {seed}: codes differing from OpenVINO's (AVX2 kernels) {differ} of {expected.size}")
    assert differ["openvino-cpu-avx2"] == 0 < differ["openvino-cpu"]


@pytest.mark.parametrize("block", ["residual", "signed"])
def test_per_tensor_post_ops_keep_their_formula_on_avx2_kernels(tmp_path, block):
    """Where every post-op FakeQuantize maps onto oneDNN post-ops without binary ones (per-tensor
    limits: a residual block fused as a sum, i8 codes averaged by a ReduceMean), the legacy
    post-op path computes them by the post-op formula too: ``arithmetic="openvino-cpu-avx2"``
    applies the AVX-512 rules there, and matches OpenVINO capped at AVX2 end to end (measured 0
    on both; the reference 4.7e-3 and 5.3e-3 of the output range)."""
    if block == "residual":
        xml = ovmodels.save(ovmodels.residual_block(seed=1), tmp_path / "block.xml")
        x = np.random.default_rng(11).random((1, 8, 12, 12), dtype=np.float32)
    else:
        xml = ovmodels.save(ovmodels.signed_pool_block(1), tmp_path / "block.xml")
        first = lpir.read_model(xml).parameters[0].outputs[0].consumers[0].node
        x = ovcut.dequantize(first, np.random.default_rng(101).integers(0, 256, (1, 16, 8, 8)))
    model = lpir.read_model(xml)
    plans = {a: lpir.compile_model(model, integer=True, arithmetic=a).plan.departures for a in ("openvino-cpu", "openvino-cpu-avx2")}
    assert plans["openvino-cpu-avx2"] == plans["openvino-cpu"]
    outputs, kernels = ovmodels.run_capped(xml, [x], "AVX2")
    assert kernels and all(k.startswith("jit_avx2") for k in kernels)
    apart = {a: max(float(np.abs(o - e).max() / np.ptp(e))
                    for o, e in zip(lpir.compile_model(model, integer=True, arithmetic=a)([x]), outputs))
             for a in ("openvino-cpu-avx2", "reference")}
    print(f"{block} ({', '.join(kernels)}): max |lpir - OpenVINO| / range {apart}")
    assert apart["openvino-cpu-avx2"] <= 1e-6 < apart["reference"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_signed_codes_and_their_mean_match_openvino(tmp_path, seed):
    """A convolution's FakeQuantize that the plugin writes as i8 (only a ReduceMean reads it), and
    the FakeQuantize of the mean of its codes, on inputs within ULPs of their rounding boundaries:
    with the CPU arithmetic every code is OpenVINO's where it runs AVX-512 int8 kernels;
    the same block where a convolution also reads the first FakeQuantize (u8 codes: ``x · isc +
    ish`` rounded near 128, not near 0) rounds some of its codes otherwise, in OpenVINO and in
    lpir alike (measured 14-38 of 1024), and the mean of the real values rounds some of the
    second otherwise (measured 5-11 of 128). (The mean of u8 codes with a zero point, in that
    second block, is not reproduced: measured 5-8 of 128 codes differ.)"""
    codes = {}
    for variant in ("i8", "u8"):
        xml = ovmodels.save(ovmodels.signed_pool_block(seed, u8_reader=variant == "u8"), tmp_path / f"{variant}.xml")
        model = lpir.read_model(xml)
        assert ("signed" in ovcut.signed_in_openvino(ovmodels.core().read_model(xml))) == (variant == "i8")
        x = ovcut.dequantize(model.parameters[0].outputs[0].consumers[0].node,
                             np.random.default_rng(100 + seed).integers(0, 256, (1, 16, 8, 8)))
        openvino = _openvino_cut(xml, [x], ["signed", "pooled"])
        rules = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu").plan.departures
        assert ("signed", (SIGNED_POST_OPS if variant == "i8" else FUSED_POST_OPS).description) in rules
        assert (("pooled", POOLED_CODES.description) in rules) == (variant == "i8")
        fqs = [model.node("signed"), model.node("pooled")]
        differ = {a: ovcut.free_running(model, [x], fqs, openvino, a)[0] for a in ("openvino-cpu", "reference")}
        codes[variant] = _codes(fqs[0], openvino["signed"])
        kernels = _int8_convolutions(xml)
        print(f"seed {seed}, {variant} ({', '.join(kernels)}): codes differing from OpenVINO's {differ}")
        if _avx512(kernels):
            assert differ["openvino-cpu"]["signed"] == 0 and (variant == "u8" or differ["openvino-cpu"]["pooled"] == 0)
        assert differ["reference"]["signed"] > 0
        if variant == "i8":
            mean = ovcut.reference_codes(fqs[1], openvino["signed"].astype(np.float64).mean(axis=3, keepdims=True))
            assert (mean != _codes(fqs[1], openvino["pooled"])).sum() > 0  # the mean of the codes, not of the values
    assert (codes["i8"] != codes["u8"]).sum() > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_signed_codes_of_rank_3_are_read_as_the_plugin_uses_them(tmp_path, seed):
    """A MatMul's FakeQuantize of rank 3 that the plugin writes as i8 (a product of two activations
    reads it, as MiniLM's key projections), on values within ULPs of its rounding boundaries: the
    codes the cut model gives (through a MaxPool of kernel 1) are those the plugin's product
    reads (its output is their product, within f32 noise), where a Result right after the
    FakeQuantize gives others (measured 6-20 of 512: rounded in f32 near 128, not near 0). With
    the CPU arithmetic, whose i8 codes the product reads as they are, all but a few codes are
    OpenVINO's where its FullyConnected runs AVX-512 (or AMX) int8 kernels (measured 0, 2 and 0
    of 512: two rounding ties of the accumulator times the per-channel input scale, the folded
    weight scale's, which the plugin's f32 scale puts an ULP to the other side); the reference
    arithmetic rounds 17-34 otherwise."""
    xml = ovmodels.save(ovmodels.signed_product_block(seed), tmp_path / "signed.xml")
    model = lpir.read_model(xml)
    assert "signed" in ovcut.signed_in_openvino(ovmodels.core().read_model(xml))
    # input codes up to 100: the products' pair sums fit in int16, on CPUs without VNNI too
    x = ovcut.dequantize(model.parameters[0].outputs[0].consumers[0].node,
                         np.random.default_rng(100 + seed).integers(0, 101, (1, 16, 32)))
    fq = model.node("signed")
    q = _codes(fq, _openvino_cut(xml, [x], ["signed"])["signed"])[0] - 128
    step = np.float64(ovcut.limits(fq)[3]) / 127
    product = ovmodels.run(xml, [x])[0][0]
    assert np.abs(q @ q.T * step * step - product).max() < step * step / 4
    ov_model = ovmodels.core().read_model(xml)
    by_name = {op.get_friendly_name(): op for op in ov_model.get_ordered_ops()}
    whole = ovmodels.run(ov.Model([ov_ops.result(by_name["signed"].output(0))], ov_model.get_parameters()), [x])[0]
    assert (_codes(fq, whole)[0] - 128 != q).sum() > 0
    differ = {a: ovcut.free_running(model, [x], [fq], {"signed": ovcut.dequantize(fq, q[None] + 128)}, a)[0]["signed"]
              for a in ("openvino-cpu", "reference")}
    kernels = _int8_layers(xml, "FullyConnected")
    print(f"seed {seed} ({', '.join(kernels)}): codes differing from OpenVINO's {differ} of {q.size}")
    if _avx512(kernels):
        assert differ["openvino-cpu"] <= q.size // 200
    assert differ["reference"] > differ["openvino-cpu"]


def test_classifier_fake_quantizes_after_its_layers_match_openvino(classifier):
    """Teacher forcing on PP-OCR's classifier (7-bit weights: every CPU computes the same int32
    sums): every FakeQuantize the CPU arithmetic computes by its post-op formula (the plugin fuses
    it with a bias and an activation into the layer before it, u8 or i8 codes) gives OpenVINO's
    codes bit for bit where OpenVINO runs its convolutions in AVX-512 int8 kernels, whose
    post-ops these are; the reference leaves codes one step off (measured 23035). OpenVINO's AVX2
    kernels (ONEDNN_MAX_CPU_ISA=AVX2) take the plugin's legacy post-op path, which appends the
    FakeQuantizes it cannot map without binary post-ops as quantization post-ops: there
    ``arithmetic="openvino-cpu-avx2"`` leaves 1 code of 2.4 million one step off (a
    squeeze-and-excitation HSwish's FakeQuantize, which the cut model computes for u8 codes, where
    ``x · isc + 128`` is the f32 tie 128.5, and OpenVINO for i8 codes, ``x · isc`` = 0.5000019),
    the AVX-512 arithmetic 14, the reference 23158."""
    legacy = {fq for fq, rule in lpir.compile_model(classifier.model, integer=True, arithmetic="openvino-cpu-avx2").plan.departures
              if rule == LEGACY_POST_OPS.description}
    post_ops = classifier.rule(FUSED_POST_OPS) | classifier.rule(SIGNED_POST_OPS)
    differ = {a: classifier.differ(a, post_ops) for a in ("openvino-cpu", "openvino-cpu-avx2", "reference")}
    codes = sum(classifier.openvino[n].size for n in post_ops)
    print(f"{len(post_ops)} post-op FakeQuantizes, kernels {sorted(set(classifier.kernels))}: codes differing "
          f"{ {a: sum(d.values()) for a, d in differ.items()} } of {codes}")
    print(f"{len(legacy)} legacy post-ops; codes differing with the AVX2 arithmetic:",
          {n: d for n, d in differ["openvino-cpu-avx2"].items() if d})
    assert len(post_ops) >= 20 and len(legacy) >= 5 and legacy <= post_ops
    if classifier.avx512:
        assert not any(differ["openvino-cpu"].values())
        assert sum(differ["reference"].values()) > 0
    else:
        assert sum(differ["openvino-cpu-avx2"].values()) <= codes // 1000000 < sum(differ["openvino-cpu"].values())


def test_detector_fake_quantizes_match_openvino(lpir_int8):
    """Teacher forcing on PP-OCRv4 det (7-bit weights), where OpenVINO runs AVX-512 int8
    kernels: with the CPU arithmetic all but a few codes of its 2.6·10^6 are OpenVINO's (measured
    3, within an f32 ULP of a rounding boundary; 5 before the i8, pooled and residual-sum rules
    and the cuts that keep i8 codes), the reference leaves 137 one step off, most of them at ``Add.264``, whose sums of two
    tensors quantized on one range lie on rounding ties of its FakeQuantize (twice that range)
    that OpenVINO breaks by the f32 steps of its quantization kernel."""
    xml = lpir_int8("ppocr_det", ovmodels.PORTABLE_OVERFLOW_FIX)
    inputs = realdata.inputs_for("ppocr_det")
    model = lpir.read_model(xml)
    cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
    skip = ovcut.unrounded(cpu)
    names = [fq.name for fq in ovcut.activation_fake_quantizes(model) if fq.name not in skip]
    openvino = _openvino_cut(xml, inputs, names)
    kernels = _int8_convolutions(xml)
    differ = {a: sum(int(f.differ.sum()) for f in ovcut.teacher_forced(model, inputs, openvino, a, skip))
              for a in ("openvino-cpu", "reference")}
    total = sum(openvino[n].size for n in names)
    print(f"kernels {sorted(set(kernels))}: codes differing from OpenVINO's {differ} of {total}")
    if _avx512(kernels):
        assert differ["openvino-cpu"] <= 10
        assert differ["reference"] >= 100
    else:  # AVX2 kernels (ONEDNN_MAX_CPU_ISA=AVX2): measured 6 codes, the reference 141
        assert differ["openvino-cpu"] <= differ["reference"]


def _input_quantized_convolution(seed: int, *, static: bool = True) -> ov.Model:
    """x → FakeQuantize (scalar limits of no round measure, as lpir.quantize writes them) → conv → Result."""
    rng = np.random.default_rng(seed)
    x = ov_ops.parameter([1, 8, 12, 12] if static else [-1, 8, -1, -1], np.float32, name="x")
    y = ovmodels._conv3x3(ovmodels._fq_node(x, -2.6594152, 2.6386385), 8, 8, rng)
    return ov.Model([ov_ops.result(y)], [x], "input_quantized")


def _near_boundaries(fq, seed: int) -> np.ndarray:
    """Inputs of FakeQuantize ``fq`` a few f32 ULPs from its rounding boundaries, shape (1, 8, 12, 12)."""
    il, ih, _, _ = (v.astype(np.float32) for v in ovcut.limits(fq))
    rng = np.random.default_rng(30 + seed)
    x = (il.astype(np.float64) + (rng.integers(0, 255, (1, 8, 12, 12)) + 0.5) * (np.float64(ih) - il) / 255)
    x = x.astype(np.float32)
    for _ in range(3):
        step = np.float32(np.inf) * rng.choice([-1, 1], x.shape).astype(np.float32)
        x = np.where(rng.random(x.shape) < 0.5, np.nextafter(x, step), x).astype(np.float32)
    return x


def _probed(xml: str, name: str):
    """The model of ``xml`` with a Result on node ``name`` too (lpir computes the same with it)."""
    probed = lpir.read_model(xml)
    probed.results.append(build("Result", [probed.node(name).outputs[0]], name="codes"))
    return probed


@pytest.mark.parametrize("seed", [0, 1])
def test_layers_read_the_codes_the_rule_gives(tmp_path, seed):
    """The FakeQuantize integer mode puts before a lowered layer is rewritten with the one it
    copies, even where the model's limits are scalars and integer mode's have shape (1,): the
    convolution then reads the codes of the plugin's snippets decomposition, so the model's output
    on ``x`` is its output on that FakeQuantize's own values. Inputs a few f32 ULPs from the
    rounding boundaries, where the decomposition's f32 steps and the exact formula round some
    values apart (measured 410 and 403 of 1152; the output moved by one such code is far from equal)."""
    xml = ovmodels.save(_input_quantized_convolution(seed), tmp_path / "block.xml")
    model = lpir.read_model(xml)
    fq = model.parameters[0].outputs[0].consumers[0].node
    x = _near_boundaries(fq, seed)
    cpu = lpir.compile_model(_probed(xml, fq.name), integer=True, arithmetic="openvino-cpu")
    assert dict(cpu.plan.departures)[fq.name] == SNIPPETS_QUANTIZATION.description
    output, quantized = cpu([x])
    rule_codes = ovcut.codes(fq, quantized)
    assert (rule_codes != ovcut.reference_codes(fq, x)).sum() >= x.size // 50  # the inputs tell the two apart
    assert np.array_equal(output, cpu([quantized])[0])  # (the FakeQuantize maps its own values to themselves)


@pytest.mark.parametrize("seed", [0, 1])
def test_input_fake_quantize_matches_openvino_with_static_and_dynamic_shapes(tmp_path, seed):
    """A FakeQuantize on a model input: with static shapes the plugin's snippets take it into a
    subgraph (``FakeQuantizeDecomposition``: ``x · isc - il · isc``, a multiply and a subtract),
    with dynamic ones its FakeQuantize node computes it (its quantization kernel: one fused
    multiply-add). On inputs a few ULPs from the rounding boundaries the two give different codes
    (measured 67 and 71 of 1152), and with the CPU arithmetic lpir gives OpenVINO's codes in both
    cases, its output then OpenVINO's bit for bit; the reference leaves 130 to 143 codes off."""
    found = {}
    for static in (True, False):
        xml = ovmodels.save(_input_quantized_convolution(seed, static=static), tmp_path / f"block_{static}.xml")
        model = lpir.read_model(xml)
        fq = model.parameters[0].outputs[0].consumers[0].node
        x = _near_boundaries(fq, seed)
        openvino = _codes(fq, _openvino_cut(xml, [x], [fq.name])[fq.name])
        cpu = lpir.compile_model(_probed(xml, fq.name), integer=True, arithmetic="openvino-cpu")
        rule = SNIPPETS_QUANTIZATION if static else QUANTIZATION_KERNELS
        assert dict(cpu.plan.departures)[fq.name] == rule.description
        output, quantized = cpu([x])
        reference = lpir.compile_model(_probed(xml, fq.name), integer=True)([x])[1]
        differ = {"openvino-cpu": int((_codes(fq, quantized) != openvino).sum()),
                  "reference": int((_codes(fq, reference) != openvino).sum())}
        print(f"static {static}: codes differing from OpenVINO's {differ} of {x.size}")
        assert differ["openvino-cpu"] == 0
        assert differ["reference"] >= x.size // 10
        assert np.array_equal(output, ovmodels.run(xml, [x])[0])
        found[static] = openvino
    assert (found[True] != found[False]).sum() >= found[True].size // 100  # the two paths round apart here


def _layer_norm(row: int, seed: int) -> ov.Model:
    """x → FakeQuantize (signed, zero point 0) → MVN over rows of ``row`` values (eps 1e-5 inside
    the root) → Multiply(gamma) → Add(beta) → FakeQuantize → MatMul: PP-OCRv4 rec's LayerNorms,
    batch and rows dynamic as there."""
    rng = np.random.default_rng(seed)
    x = ov_ops.parameter([-1, -1, row], np.float32, name="x")
    step = np.float32(0.05)
    y = ovmodels._fq_node(x, -128 * step, 127 * step)
    y = ov_ops.mvn(y, ov_ops.constant(np.asarray([-1], np.int64)), True, 1e-5, "inside_sqrt")
    y.set_friendly_name("norm")
    y = ov_ops.multiply(y, ovmodels._f32(rng.normal(size=(1, 1, row)) * 0.5 + 1))
    y = ovmodels._fq_node(ov_ops.add(y, ovmodels._f32(rng.normal(size=(1, 1, row)) * 0.1)), -3.1, 3.07)
    codes = rng.integers(-ovmodels.WEIGHT_CODES_PORTABLE, ovmodels.WEIGHT_CODES_PORTABLE + 1, size=(row, 16))
    w = ov_ops.multiply(ov_ops.convert(ov_ops.constant(codes.astype(np.int8)), "f32"), ovmodels._f32(0.01))
    return ov.Model([ov_ops.result(ov_ops.matmul(y, w, False, False))], [x], "layer_norm")


def _normalized(compiled, mvn, inputs: list) -> np.ndarray:
    """What ``compiled`` gives the consumer of MVN ``mvn`` of its model (the MVN's output as computed)."""
    consumer = mvn.outputs[0].consumers[0]
    seen = []
    target = compiled.lowered.node(consumer.node.name).inputs[consumer.index].source
    compiled(inputs, taps=compiled.tap([target], lambda _, value: seen.append(value)))
    return seen[0]


@pytest.mark.parametrize("row", [8, 6])
def test_layer_norm_of_codes_matches_openvino(tmp_path, row):
    """An MVN reading a FakeQuantize whose dequantization is a scale alone: the low-precision
    transformations move the scale past it, and the plugin normalizes the integer codes (eps
    unchanged, so relatively larger) in its f32 steps. With the CPU arithmetic the MVN's output is
    OpenVINO's bit for bit; the reference, normalizing the real values, differs in nearly every
    one. Rows of at most 8 values: the plugin's AVX2 and AVX-512 kernels sum them alike."""
    xml = ovmodels.save(_layer_norm(row, seed=row), tmp_path / "norm.xml")
    model = lpir.read_model(xml)
    mvn = model.node("norm")
    x = (np.random.default_rng(row).normal(size=(2, 40, row)) * 1.5).astype(np.float32)
    expected = _openvino_cut(xml, [x], ["norm"])["norm"]
    cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
    assert dict(cpu.plan.departures)["norm"] == CODES_NORMALIZATION.description
    differ = {a: int((_normalized(lpir.compile_model(model, integer=True, arithmetic=a), mvn, [x]) != expected).sum())
              for a in ("openvino-cpu", "reference")}
    print(f"rows of {row}: MVN values differing from OpenVINO's {differ} of {x.size}")
    assert differ["openvino-cpu"] == 0
    assert differ["reference"] >= x.size // 2


@pytest.fixture(scope="module")
def normalizers(tmp_path_factory):
    """``normalizers(row)`` → (OpenVINO's CPU computing the MVN of :func:`_layer_norm`, lpir's CPU
    arithmetic computing it), both given the values of codes (their FakeQuantize maps each to itself)."""
    folder = tmp_path_factory.mktemp("normalizers")

    @functools.cache
    def get(row: int):
        model = _layer_norm(row, seed=row)
        norm = next(op for op in model.get_ordered_ops() if op.get_friendly_name() == "norm")
        cut = ov.Model([ov_ops.result(norm.output(0))], model.get_parameters())
        compiled = ovmodels.core().compile_model(cut, "CPU", ovmodels.F32_HINT)
        mine = lpir.compile_model(lpir.read_model(ovmodels.save(cut, folder / f"norm_{row}.xml")), integer=True,
                                  arithmetic="openvino-cpu")
        return (lambda x: np.array(compiled([x])[compiled.outputs[0]])), (lambda x: mine([x])[0])

    return get


@settings(max_examples=40, deadline=None)
@given(row=st.integers(1, 8), rows=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       spread=st.sampled_from([1, 3, 30, 128]))
def test_normalized_codes_equal_openvino_property(normalizers, row, rows, seed, spread):
    """Any rows of codes (of at most 8 values, which every x86 kernel of the plugin sums alike),
    few or many distinct, narrow or wide: lpir's MVN of codes is OpenVINO's bit for bit."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(-min(spread, 128), min(spread, 127) + 1, size=(1, rows, row))
    x = (codes * np.float32(0.05)).astype(np.float32)
    openvino, mine = normalizers(row)
    assert np.array_equal(mine(x), openvino(x), equal_nan=True)


def _primitive_types(xml: str, layer_type: str) -> list[str]:
    """The primitive type of each node of ``layer_type`` in OpenVINO's CPU runtime model (e.g. jit_avx512_i8)."""
    compiled = ovmodels.core().compile_model(xml, "CPU", ovmodels.F32_HINT)
    return [op.get_rt_info()["primitiveType"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()
            if op.get_rt_info()["layerType"].astype(str) == layer_type]


def test_recognizer_layer_norms_match_openvino(lpir_int8):
    """PP-OCRv4 rec's five LayerNorms (MVN over rows of 120 codes), each computed by lpir from
    OpenVINO's codes of its input FakeQuantize: OpenVINO's values bit for bit where the plugin
    runs its AVX-512 MVN kernel (16 lanes, as the rule sums; its AVX2 kernel sums in 8), nearly
    all different with the reference. (The FakeQuantizes after them then agree too: measured 0
    codes differing, 2 with the rules before this one.)"""
    xml = lpir_int8("ppocr_rec", ovmodels.PORTABLE_OVERFLOW_FIX)
    inputs = realdata.inputs_for("ppocr_rec")
    model = lpir.read_model(xml)
    norms = [n for n in model.nodes() if n.type == "MVN"]
    cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
    rewritten = {name for name, rule in cpu.plan.departures if rule == CODES_NORMALIZATION.description}
    assert len(norms) == 5 and rewritten == {n.name for n in norms}
    sources = {n.name: quantization_of(n.inputs[0].source).fake_quantize for n in norms}
    openvino = _openvino_cut(xml, inputs, [n.name for n in norms] + [fq.name for fq in sources.values()])
    differ = {}
    for arithmetic in ("openvino-cpu", "reference"):
        differ[arithmetic] = 0
        for norm in norms:
            fq = sources[norm.name]  # its input given OpenVINO's values there, on its own grid
            segment = extract_subgraph(model, [fq.inputs[0].source], [norm.outputs[0]])
            normalized = lpir.compile_model(segment, integer=True, arithmetic=arithmetic)([openvino[fq.name]])[0]
            differ[arithmetic] += int((normalized != openvino[norm.name]).sum())
    size = sum(openvino[n.name].size for n in norms)
    kernels = _primitive_types(xml, "MVN")
    print(f"{len(norms)} MVNs ({sorted(set(kernels))}): values differing from OpenVINO's {differ} of {size}")
    assert differ["reference"] >= size // 2
    if _avx512(kernels):
        assert differ["openvino-cpu"] == 0
    else:
        assert differ["openvino-cpu"] <= differ["reference"] // 10
