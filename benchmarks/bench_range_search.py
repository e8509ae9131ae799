"""The activation range search alone: error summed per quantization cell against per bin, same run.

    python benchmarks/bench_range_search.py [--subset-size 100] [--rounds 3]

EfficientNet-Lite0 (../shared/models; PP-OCR's classifier if absent) is calibrated once with
histograms on random photo crops, as ``lpir.quantize`` does (performance preset: symmetric
ranges); then every per-tensor activation's range is searched as ``symmetric_limit`` searches
it (256 coarse candidates, 4 x 65 fine ones), with the error of each candidate computed

- per cell: ``mse_range.HistogramError`` (prefix moments of the bins, what lpir uses), and
- per bin: ``mse_range.quantization_error`` over every occupied bin (the closed form it replaces).

The asymmetric ranges of MiniLM (transformer rules and mixed preset, no SmoothQuant) are
searched both ways too, with ``ALTERNATIONS`` full rounds for the per-bin search and the early
stop for the cell one.
Printed: median time of all searches of a model, each way (rounds alternate the two), their
ratio, and how many limits agree exactly (the rest: the largest relative error difference).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from bench_quantize import DEFAULT_EFFICIENTNET, photo_crops, sentences, token_samples


def histograms(xml: str, samples: list, transformer: bool) -> list:
    """The merged histogram of each per-tensor activation range group, and whether it is signed."""
    import lpir
    from lpir.quantization import ptq
    from lpir.quantization.dataset import as_dataset
    from lpir.quantization.ignored_patterns import ignored_by_patterns
    from lpir.quantization.placement import plan_quantization
    model = lpir.read_model(xml)
    plan = plan_quantization(model, symmetric_activations=not transformer, transformer=transformer,
                             ignored=ignored_by_patterns(model, transformer=transformer))
    stats = ptq.collect(model, plan, [], as_dataset(samples), len(samples), histograms=True)
    found = []
    for group in plan.groups():
        if id(group[0].output) not in stats.histograms:
            continue
        histogram = stats.histograms[id(group[0].output)]
        for q in group[1:]:
            histogram = histogram.merge(stats.histograms[id(q.output)])
        mean_low = min(stats.activations[id(q.output)].result()[0] for q in group)
        found.append((histogram, mean_low < 0))
    return found


def search_all(found: list, transformer: bool, per_bin: bool) -> list:
    from lpir.quantization import math, mse_range
    levels = math.ACTIVATION_LEVELS
    results = []
    for histogram, signed in found:
        if per_bin:
            bins = histogram.bins()

            def error(low, high, levels, bins=bins):
                return mse_range.quantization_error(bins, low, high, levels)
        else:
            error = mse_range.HistogramError(histogram)
        results.append(asymmetric(histogram, error, levels, per_bin) if transformer
                       else symmetric(histogram, error, signed, levels))
    return results


def symmetric(histogram, error, signed: bool, levels: int) -> float:
    from lpir.quantization import mse_range
    low, high = histogram.low_high()
    extent = max(high, -low * (levels - 2) / levels if signed else 0.0)
    if extent <= 0.0:
        return 0.0
    if signed:
        return mse_range._best(lambda h: error(-h * levels / (levels - 2), h, levels), extent)
    return mse_range._best(lambda h: error(np.zeros_like(h), h, levels), extent)


def asymmetric(histogram, error, levels: int, every_round: bool) -> tuple[float, float]:
    from lpir.quantization import mse_range
    if not every_round:
        return mse_range.asymmetric_limits(histogram, levels=levels)
    data_low, data_high = histogram.low_high()
    low, high = data_low, data_high
    if high - low <= 0.0:
        return low, high
    for _ in range(mse_range.ALTERNATIONS):
        if data_high > 0.0:
            high = mse_range._best(lambda h: error(np.full_like(h, low), h, levels), data_high)
        if data_low < 0.0:
            low = -mse_range._best(lambda t: error(-t, np.full_like(t, high), levels), -data_low)
    return low, high


def compare(label: str, found: list, transformer: bool, rounds: int) -> None:
    from lpir.quantization import mse_range
    times = {True: [], False: []}
    results = {}
    for _ in range(rounds):
        for per_bin in (True, False):
            start = time.perf_counter()
            results[per_bin] = search_all(found, transformer, per_bin)
            times[per_bin].append(time.perf_counter() - start)
    same = sum(a == b for a, b in zip(results[True], results[False]))
    worst = 0.0
    for (histogram, signed), a, b in zip(found, results[True], results[False]):
        if a != b:
            bins, levels = histogram.bins(), 256
            if transformer:
                ea, eb = (float(mse_range.quantization_error(bins, *x, levels)) for x in (a, b))
            else:
                ranges = [(-x * levels / (levels - 2) if signed else 0.0, x) for x in (a, b)]
                ea, eb = (float(mse_range.quantization_error(bins, *r, levels)) for r in ranges)
            worst = max(worst, abs(eb - ea) / ea)
    per_bin, per_cell = statistics.median(times[True]), statistics.median(times[False])
    print(f"{label}: {len(found)} searches; per bin {per_bin:.2f} s, per cell {per_cell:.2f} s "
          f"(ratio {per_cell / per_bin:.3f}); limits equal {same}/{len(found)}"
          + (f", largest relative error difference {worst:.1e}" if same < len(found) else ""))


def main() -> None:
    import openvino as ov
    from lpir import zoo
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if DEFAULT_EFFICIENTNET.exists():
            name, source, samples = "EfficientNet-Lite0", DEFAULT_EFFICIENTNET, photo_crops(args.subset_size, seed=1)
        else:
            from bench_quantize import text_crops
            name, source, samples = "PP-OCR cls", zoo.ppocr("cls"), text_crops(seed=1, count=args.subset_size)[0]
        for label, onnx, data, transformer in ((name, source, samples, False),
                                               ("MiniLM-L3", zoo.minilm(), token_samples(sentences(100)), True)):
            xml = str(folder / "model.xml")
            ov.save_model(ov.convert_model(str(onnx)), xml, compress_to_fp16=False)
            compare(label, histograms(xml, data, transformer), transformer, args.rounds)


if __name__ == "__main__":
    main()
