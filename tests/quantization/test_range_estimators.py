"""Searched ranges (``advanced``: histogram activations, MSE weights) on real models: OpenVINO
still runs every layer NNCF's model runs in INT8, and each activation range quantizes the real
calibration values with no more error than NNCF's MEAN_MINMAX range."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import lpir
import ovmodels
import realdata
from lpir.ir.rewrite import bypass
from lpir.quantization.ptq import NNCF_RANGES

nncf = pytest.importorskip("nncf")

SEARCHED = {"activations_range_estimator_params": "histogram", "weights_range_estimator_params": "mse"}


def samples(name: str) -> list[list[np.ndarray]]:
    if name == "minilm":
        ids, mask = realdata.token_batch(batch=4, seed=1)
        return [[ids[i:i + 1], mask[i:i + 1]] for i in range(len(ids))]
    batch = realdata.inputs_for(name)[0]
    return [[batch[i:i + 1]] for i in range(len(batch))]


def options(name: str) -> dict:
    return {"model_type": "transformer"} if name == "minilm" else {}


@pytest.mark.parametrize("name", ["ppocr_cls", "ppocr_rec", "minilm"])
def test_openvino_runs_the_same_layers_in_int8_as_for_nncf(real_ir, tmp_path, name):
    xml, data = real_ir(name), samples(name)
    reference = nncf.quantize(ovmodels.core().read_model(xml), nncf.Dataset(data), subset_size=len(data),
                              **{k: nncf.ModelType.TRANSFORMER for k in options(name)})
    nncf_xml = ovmodels.save(reference, tmp_path / "nncf.xml")
    ours = lpir.quantize(lpir.read_model(xml), data, subset_size=len(data), advanced=SEARCHED, **options(name))
    lpir.save_model(ours, tmp_path / "ours.xml")
    def by_type(counts):
        """Layers per (type, INT8 or not): a searched range may turn an input's sign (u8 ↔ i8)."""
        merged = collections.Counter()
        for (layer_type, precision), count in counts.items():
            merged[(layer_type, precision in ("u8", "i8"))] += count
        return merged

    ours_counts = by_type(ovmodels.int8_layers(tmp_path / "ours.xml"))
    assert ours_counts == by_type(ovmodels.int8_layers(nncf_xml))
    assert sum(v for (_, int8), v in ours_counts.items() if int8) >= 18


def activation_ranges(model: lpir.Model) -> dict[str, tuple[np.ndarray, np.ndarray, int, str]]:
    """Each activation FakeQuantize by name: (low, high, levels, name of the tensor it reads)."""
    found = {}
    for node in model.nodes():
        if node.type == "FakeQuantize" and "/fq_weights_" not in node.name:
            low, high = (node.inputs[i].source.node.tensor.numpy() for i in (1, 2))
            found[node.name] = (low, high, node.attrs["levels"], node.inputs[0].source)
    return found


@pytest.mark.parametrize("name", ["ppocr_cls", "minilm"])
def test_histogram_ranges_quantize_the_calibration_values_with_less_error(real_ir, name):
    """The error is measured on the values themselves (every element of every sample, tapped
    from the float model), through the interpreter's FakeQuantize: the histogram only
    approximates them, so the search's optimum is allowed a whisker over the baseline."""
    xml, data = real_ir(name), samples(name)
    baseline = activation_ranges(lpir.quantize(lpir.read_model(xml), data, subset_size=len(data),
                                               advanced=NNCF_RANGES, **options(name)))
    model = lpir.quantize(lpir.read_model(xml), data, subset_size=len(data), advanced=SEARCHED, **options(name))
    searched = activation_ranges(model)
    assert sorted(searched) == sorted(baseline)
    wanted = {fq: source for fq, (_, _, _, source) in searched.items()}
    float_model = model  # the values each quantizer reads, in the float model (as SmoothQuant left it)
    for node in [n for n in model.nodes() if n.type == "FakeQuantize"]:
        bypass(node)
    values: dict[int, list[np.ndarray]] = {id(o): [] for o in wanted.values()}
    compiled = lpir.compile_model(float_model)
    taps = compiled.tap(list(wanted.values()), lambda output, value: values[id(output)].append(np.array(value)))
    for sample in data:
        compiled(sample, taps=taps)
    fake_quantize = lpir.ops.lookup("FakeQuantize", 1)
    changed = 0
    for fq, output in wanted.items():
        tensor = np.concatenate([v.reshape(-1) for v in values[id(output)]])

        def error(low, high, levels):
            quantized = fake_quantize.evaluate(tensor, low, high, low, high, levels=levels, auto_broadcast="numpy")[0]
            return float(np.sum((quantized.astype(np.float64) - tensor) ** 2))

        if searched[fq][0].size > 1:
            continue  # per-channel (depthwise inputs) keep MINMAX ranges
        ours, theirs = error(*searched[fq][:3]), error(*baseline[fq][:3])
        assert ours <= theirs * 1.02 + 1e-12 * tensor.size, (fq, ours, theirs)
        changed += not np.allclose(searched[fq][1], baseline[fq][1], rtol=1e-3)
    assert changed >= len(wanted) // 2
