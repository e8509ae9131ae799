"""The calibration pass: the float model run over the calibration samples, every tapped tensor
shown to an observer that reduces it to statistics.

Statistics are mergeable (:mod:`lpir.quantization.statistics`), so the samples are cut into
chunks that run side by side on the cores, each into a fresh observer; the partial results are
merged in sample order, which gives exactly what one run through the samples in order gives.
Numpy's BLAS is kept to one thread meanwhile (:mod:`lpir.runtime.blas`): one product per core
is faster than every product spread over the cores, and far steadier on a busy machine.

Where every model input has an open first (batch) dimension, consecutive samples of batch 1
and equal shapes run as one batch; every statistic is still per sample, as one at a time. If a
tapped tensor turns out not to keep the batch as its first dimension, the pass goes back to one
sample per call.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from lpir.errors import ValidationError
from lpir.ir.graph import Model, Output
from lpir.progress import Progress, no_progress
from lpir.runtime.blas import blas_threads

# Samples per interpreter call where they can be batched. Measured on EfficientNet-Lite0 with two
# chunks side by side: the CPU time per sample is the same for batches of 1, 2 and 4 (the
# products are already large; only the per-call Python work is shared) and 10 % more for 8,
# while the peak memory above the data grows with the batch (about 13, 42, 95, 190 MB);
# two keeps the per-call work halved at a small cost in memory.
BATCH = 2


class Observer(Protocol):
    """Statistics fed by the calibration pass, mergeable across chunks of samples."""

    def fresh(self) -> Observer:
        """An empty observer gathering the same statistics."""

    def observe(self, output: Output, value: np.ndarray, index: int, batch: int) -> None:
        """Take ``value`` of ``output`` computed for samples ``index`` .. ``index + batch - 1``
        (``batch`` along the first axis of every tensor that keeps the batch)."""

    def absorb(self, other: Observer) -> None:
        """Merge ``other``'s statistics, gathered on the samples that follow these."""


class _NotBatched(Exception):
    """A tapped tensor lost the batch dimension: the model does not run samples side by side."""


def calibration_pass(model: Model, targets: list[Output], observer: Observer, dataset, subset_size: int,
                     progress: Progress = no_progress, *, workers: int | None = None,
                     batch: int = BATCH) -> int:
    """Run ``model`` on up to ``subset_size`` samples of ``dataset``, ``observer`` seeing every
    target; returns the number of samples (an empty dataset is an error). ``workers``: chunks
    run at once (default: the cores, at most two); ``batch``: samples per call at most."""
    from lpir.runtime import compile_model
    compiled = compile_model(model)
    state = threading.local()
    taps = compiled.tap(targets, lambda output, value: _show(state, output, value))
    batch = batch if has_open_batch(model) else 1
    workers = workers or min(2, os.cpu_count() or 1)

    def run(first: int, samples: list[Any]) -> Observer:
        nonlocal batch
        if len(samples) > 1 and batch > 1:
            try:
                return _run(compiled, taps, state, observer.fresh(), first, samples, batched=True)
            except _NotBatched:
                batch = 1
        return _run(compiled, taps, state, observer.fresh(), first, samples, batched=False)

    samples = 0
    with blas_threads(1) as limited:
        if not limited:
            workers = 1  # several callers of a multi-threaded BLAS would only fight over the cores
        pending: deque = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="lpir-calibration") as pool:
            try:
                for first, chunk in _chunks(progress(dataset.take(subset_size), total=subset_size, desc="calibration"),
                                            lambda: batch):
                    pending.append(pool.submit(run, first, chunk))
                    samples += len(chunk)
                    if len(pending) > workers:
                        observer.absorb(pending.popleft().result())
                while pending:
                    observer.absorb(pending.popleft().result())
            finally:
                for future in pending:
                    future.cancel()
    if samples == 0:
        raise ValidationError("the calibration dataset is empty: quantization needs at least one sample")
    return samples


def _show(state: threading.local, output: Output, value: np.ndarray) -> None:
    if state.batched and (not value.ndim or value.shape[0] != state.batch):
        raise _NotBatched
    state.observer.observe(output, value, state.index, state.batch)


def _run(compiled, taps, state: threading.local, observer: Observer, first: int, samples: list[Any],
         batched: bool) -> Observer:
    """``samples`` (from sample ``first`` on) into ``observer``: as one batch, or one by one."""
    calls = [(first, _stack(samples), len(samples))] if batched else [
        (first + i, sample, _batch_size(sample)) for i, sample in enumerate(samples)]
    state.observer, state.batched = observer, batched
    for index, inputs, size in calls:
        state.index, state.batch = index, size
        try:
            compiled(inputs, taps=taps)
        except ValidationError as exc:
            if batched:
                raise _NotBatched from None  # let the samples be checked one at a time
            raise ValidationError(f"calibration sample {index}: {exc}") from None
    return observer


def _chunks(samples: Iterable[Any], size) -> Iterator[tuple[int, list[Any]]]:
    """(index of the first, samples) of consecutive samples, up to ``size()`` of equal form
    (same input names and shapes, batch 1) in one chunk, else one each."""
    chunk: list[Any] = []
    first = 0
    for index, sample in enumerate(samples):
        if chunk and (len(chunk) >= size() or _form(sample) is None or _form(sample) != _form(chunk[0])):
            yield first, chunk
            chunk = []
        if not chunk:
            first = index
        chunk.append(sample)
        if _form(sample) is None:
            yield first, chunk
            chunk = []
    if chunk:
        yield first, chunk


def _inputs(sample: Any) -> list[tuple[Any, Any]]:
    if isinstance(sample, dict):
        return list(sample.items())
    if isinstance(sample, (list, tuple)):
        return list(enumerate(sample))
    return [(None, sample)]


def _form(sample: Any) -> tuple | None:
    """What must match for samples to be stacked (names, shapes, types); None if not stackable."""
    form = []
    for key, value in _inputs(sample):
        if not isinstance(value, np.ndarray) or value.ndim < 2 or value.shape[0] != 1:
            return None
        form.append((key, value.shape, value.dtype))
    return tuple(form)


def _stack(samples: list[Any]) -> Any:
    """Samples of equal form as one batch along the first axis, in the form of the first."""
    first = samples[0]
    stacked = [np.concatenate([_inputs(s)[i][1] for s in samples]) for i in range(len(_inputs(first)))]
    if isinstance(first, dict):
        return dict(zip(first, stacked))
    if isinstance(first, (list, tuple)):
        return stacked
    return stacked[0]


def has_open_batch(model: Model) -> bool:
    """Whether every input's first dimension is open (a batch the model takes any size of)."""
    shapes = [p.outputs[0].shape for p in model.parameters]
    return bool(shapes) and all(s is not None and len(s) >= 2 and not isinstance(s[0], int) for s in shapes)


def _batch_size(sample: Any) -> int:
    """Samples in one calibration item: the first dimension of its first input (1 if unknown)."""
    values = _inputs(sample)
    shape = getattr(values[0][1], "shape", ()) if values else ()
    return int(shape[0]) if len(shape) >= 2 else 1
