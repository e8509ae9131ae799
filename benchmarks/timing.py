"""Timing shared by the benchmark scripts: the median of several runs after warm-up."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from typing import Callable

# OpenVINO's telemetry forks from a thread; a fork during a threaded OpenBLAS product can hang it
# (see tests/conftest.py). Children come from a fork server instead.
if "forkserver" in multiprocessing.get_all_start_methods():
    multiprocessing.set_start_method("forkserver", force=True)

# OpenVINO's CPU plugin as a peer and oracle: f32 inference and no dynamic quantization of
# activations (on VNNI/AMX CPUs it otherwise runs bf16 or quantizes MatMul inputs on the fly).
OV_F32 = {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)



def rounds_ms(first: Callable[[], object], second: Callable[[], object], runs: int,
              rounds: int = 3) -> tuple[float, float, float]:
    """Median times of ``first`` and ``second`` (ms) and the median of their per-round ratios.

    Each round times ``runs`` calls of one, then of the other (each warm, in its steady state);
    on a shared machine the load drifts between rounds, so the ratio of each round's medians is
    steadier than the ratio of two medians taken minutes apart.
    """
    a, b = [], []
    for _ in range(rounds):
        a.append(median_ms(first, runs, warmup=2))
        b.append(median_ms(second, runs, warmup=2))
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b))
