"""OpenVINO's CPU attention on i8 query and key codes, as f32 steps, against the plugin's output.

    python benchmarks/measure_openvino_attention.py

MiniLM-L3 quantized as in bench_integer.py (same inputs): OpenVINO's CPU runs each
ScaledDotProductAttention, whose query and key it reads as i8 codes, as a snippets ``Subgraph``
(its MHA: both matrix products as brgemm kernels, the softmax between them in its own code).
This script reads, from models cut after them (tests/ovcut.py), the codes of query and key, the
value, the additive mask and the attention's output (after the Transpose and Reshape the
Subgraph takes in), and computes that output two ways from them:

* as lpir's ScaledDotProductAttention computes it on the dequantized codes (numpy, f32);
* in the f32 steps of the plugin's kernels: ``Q·Kᵀ`` on the codes in int32, times one f32
  constant (the key's dequantization scale times the attention scale, then times the query's,
  each product rounded to f32: the other order gives other outputs in layer 2), plus the mask;
  the row maximum subtracted; exp as the plugin's JIT exp (``x · log2(e) + 1/2`` rounded down
  to ``n``; ``r = x - n · ln 2`` as a fused multiply-add; a degree-5 polynomial in ``r`` by
  fused multiply-adds; times ``2^n``); the row sum in 16 lanes (blocks of 16 added in order,
  then the upper half of the lanes added onto the lower, down to one); the reciprocal of the
  sum times each exp; ``·V`` as fused multiply-adds along the key axis, in order.

Prints, per attention, the share of outputs equal to OpenVINO's bit for bit and the largest
difference for both, and how many codes of the FakeQuantize after it (through the Multiply
between, by the reference formula) differ from OpenVINO's. Fused multiply-adds are taken in f64
(exact product, one rounding of the sum before the f32 one: a double rounding, rare, that the
figures allow). Measured (OpenVINO 2026.4, AVX-512): the kernel steps give OpenVINO's outputs
bit for bit in the three layers, and its codes but 2 in layer 2 (which the reference formula
rounds otherwise from OpenVINO's own outputs too: the plugin's quantization kernel decides them,
which lpir's CPU arithmetic follows); numpy's f32 gives 11-16 % of them bit for bit, the others
up to 1.9e-6 apart, and 0, 0 and 3 codes differ. (lpir's teacher
forcing departs by one code after layer 0's attention, where its numpy attention reads lpir's
own value projection.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import lpir
from bench_integer import quantized_cases
from lpir.ops.normalization import softmax
from lpir.runtime.constants import fold_constant, is_constant

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import ovcut  # noqa: E402  (the cut models)

f32 = np.float32
LOG2E, LN2 = f32(1.44269502), f32(0.693147182)
EXP_POLYNOMIAL = tuple(map(f32, (0.00828929059, 0.0418978221, 0.166676521, 0.499991506, 0.999999701, 1.0)))
LANES = 16  # AVX-512 f32


def fused_multiply_add(a, b, c) -> np.ndarray:
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(f32)


def jit_exp(x: np.ndarray) -> np.ndarray:
    """exp in the plugin's JIT steps (inputs clamped to f32's exp range)."""
    x = np.clip(x, f32(-87.3365447504019), f32(88.3762626647949)).astype(f32)
    n = np.floor((x * LOG2E).astype(f32) + f32(0.5)).astype(f32)
    r = fused_multiply_add(-n, LN2, x)
    p = np.full_like(r, EXP_POLYNOMIAL[0])
    for c in EXP_POLYNOMIAL[1:]:
        p = fused_multiply_add(p, r, c)
    return (p * np.exp2(n).astype(f32)).astype(f32)


def lane_sum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis (a multiple of 16) in 16 lanes, then the upper half onto the lower."""
    lanes = np.zeros(x.shape[:-1] + (LANES,), f32)
    for start in range(0, x.shape[-1], LANES):
        lanes = (lanes + x[..., start:start + LANES]).astype(f32)
    while lanes.shape[-1] > 1:
        half = lanes.shape[-1] // 2
        lanes = (lanes[..., :half] + lanes[..., half:]).astype(f32)
    return lanes


def kernel_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: np.float32, mask: np.ndarray) -> np.ndarray:
    """Attention of integer codes ``q``, ``k`` ([..., L, E]) and values ``v`` in the kernels' steps."""
    logits = (np.matmul(q.astype(np.int64), np.swapaxes(k.astype(np.int64), -1, -2)).astype(f32) * scale).astype(f32)
    logits = (logits + mask).astype(f32)
    e = jit_exp((logits - logits.max(-1, keepdims=True)).astype(f32))
    weights = (e * (f32(1) / lane_sum(e)).astype(f32)).astype(f32)
    out = np.zeros(weights.shape[:-1] + v.shape[-1:], f32)
    for j in range(weights.shape[-1]):
        out = fused_multiply_add(weights[..., j:j + 1], v[..., j:j + 1, :], out)
    return out


def _through(out, kinds: tuple[str, ...]):
    """``out`` followed back through ops of ``kinds``: the first output of another kind."""
    while out.node.type in kinds:
        out = next(p.source for p in out.node.inputs if not is_constant(p.source))
    return out


def _after(out, kinds: tuple[str, ...]):
    """``out`` followed forward through single consumers of ``kinds``."""
    while len(out.consumers) == 1 and out.consumers[0].node.type in kinds:
        out = out.consumers[0].node.outputs[0]
    return out


def _to_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """[N, L, H·E] → [N, H, L, E] (the Reshape and Transpose before the attention)."""
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(0, 2, 1, 3)


def _heads(sdpa) -> int:
    """The number of heads: the third value of the Reshape's shape before the query."""
    out = sdpa.inputs[0].source
    while out.node.type != "Reshape":
        out = out.node.inputs[0].source
    return int(fold_constant(out.node.inputs[1].source)[2])


def measure(model, xml: str, inputs: list) -> None:
    layout = ("Reshape", "Transpose")
    for sdpa in [n for n in model.nodes() if n.type == "ScaledDotProductAttention"]:
        fqs = [_through(sdpa.inputs[i].source, layout).node for i in (0, 1)]
        value = _through(sdpa.inputs[2].source, layout)
        output = _after(sdpa.outputs[0], layout)
        after = _after(output, ("Multiply",))
        multiply = after.node
        fq = after.consumers[0].node
        names = [fqs[0].name, fqs[1].name, value.node.name, sdpa.inputs[3].source.node.name, output.node.name, fq.name]
        cut = ovcut.cut_outputs(xml, inputs, names)
        heads = _heads(sdpa)
        codes = [_to_heads(ovcut.codes(f, cut[f.name]) - 128, heads) for f in fqs]  # i8
        steps = [np.float64(ovcut.limits(f)[3]) / 127 for f in fqs]
        scale = f32(fold_constant(sdpa.inputs[4].source))
        v = _to_heads(cut[value.node.name], heads)
        mask = cut[sdpa.inputs[3].source.node.name]
        kernels = kernel_attention(*codes, v, f32(f32(steps[0]) * f32(f32(steps[1]) * scale)), mask)
        q, k = (c.astype(f32) * f32(s) for c, s in zip(codes, steps))  # lpir: the dequantized codes, in f32
        numpy = np.matmul(softmax((np.matmul(q, np.swapaxes(k, -1, -2)) * scale + mask).astype(f32), -1), v)
        expected = cut[output.node.name]
        smooth = fold_constant(multiply.inputs[1].source)
        openvino_codes = ovcut.codes(fq, cut[fq.name])
        print(f"  {sdpa.name}")
        for label, result in (("kernel steps", kernels), ("numpy f32", numpy)):
            result = result.transpose(0, 2, 1, 3).reshape(expected.shape)
            fq_codes = ovcut.reference_codes(fq, (result * smooth).astype(f32))
            print(f"    {label:12s}: {np.mean(result == expected):7.2%} bit-equal, max |difference| "
                  f"{np.abs(result - expected).max():.2g}; {int((fq_codes != openvino_codes).sum())} of "
                  f"{fq_codes.size} codes differ after it")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for label, xml, inputs in quantized_cases(Path("none"), "MiniLM", Path(folder)):
            print(label)
            measure(lpir.read_model(xml), xml, inputs)


if __name__ == "__main__":
    main()
