"""Compressed weights computed on demand: each weight is lowered when a writer (or the
interpreter) first reads one of its constants, one weight ahead in the background, and only the
last two are kept — so saving a compressed multi-GB model holds a few tensors at a time."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from lpir.compression.lowering import Lowered, grouped_shape, lower
from lpir.errors import QuantizationError
from lpir.ir import types
from lpir.ir.packing import pack, unpack
from lpir.ir.tensor import Tensor, release_mapped_pages

if TYPE_CHECKING:
    from lpir.compression.weights import WeightSite


class Lowering:
    """The lowering of one weight, computed on demand from the source tensor."""

    def __init__(self, site: WeightSite, source: Tensor, cache: LastLowered):
        self.site, self.source, self.cache = site, source, cache
        self.index = 0
        cache.add(self)
        self.mode = site.mode
        axes = site.reduction_axes
        if site.group_size > 0:
            self.shape, reduce = grouped_shape(tuple(source.shape), axes[0], site.group_size)
            axes = (reduce,)
        else:
            self.shape = tuple(source.shape)
        self.axes = axes
        self.reduced = tuple(1 if a in axes else d for a, d in enumerate(self.shape))

    def result(self) -> Lowered:
        return self.cache.get(self)

    def compute(self) -> Lowered:
        values = self.source.numpy()
        lowered = lower(values, self.site.reduction_axes, self.mode, self.site.group_size,
                        after_block=release_mapped_pages, pack=True)
        release_mapped_pages(values)
        if not lowered.is_finite:
            raise QuantizationError(f"{self.site.describe()}: NaN or infinite values cannot be compressed "
                                    f"to {self.mode.name}")
        return lowered


class LastLowered:
    """Keeps the most recently lowered weight (its constants are written together) and lowers
    the next one in the background meanwhile, so writing and lowering overlap: at most two
    weights are held at a time."""

    def __init__(self, on_lowered: Callable[[WeightSite], None] | None):
        self.on_lowered = on_lowered
        self.jobs: list[Lowering] = []
        self.job: Lowering | None = None
        self.value: Lowered | None = None
        self.ahead: tuple[Lowering, Future] | None = None
        self.pool: ThreadPoolExecutor | None = None

    def add(self, job: Lowering) -> None:
        self.jobs.append(job)

    def order_as(self, position: dict[int, int]) -> None:
        """Lower ahead in the order writers visit the constants (``position``: node uid → index)."""
        self.jobs.sort(key=lambda job: position.get(job.site.const.uid, len(position)))
        for index, job in enumerate(self.jobs):
            job.index = index

    def get(self, job: Lowering) -> Lowered:
        if self.job is not job:
            self.job, self.value = None, None
            ahead, self.ahead = self.ahead, None
            value = ahead[1].result() if ahead is not None and ahead[0] is job else self._compute(job)
            self.job, self.value = job, value
            self._prefetch(job.index + 1)
        return self.value

    def _compute(self, job: Lowering) -> Lowered:
        value = job.compute()
        if self.on_lowered is not None:
            self.on_lowered(job.site)
        return value

    def _prefetch(self, index: int) -> None:
        if index >= len(self.jobs):
            if self.pool is not None:
                self.pool.shutdown(wait=False)
                self.pool = None
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="lpir-lowering")
        job = self.jobs[index]
        self.ahead = (job, self.pool.submit(self._compute, job))


class LoweredTensor(Tensor):
    """One constant of a lowered weight (its codes, scale or zero point), computed when read."""

    __slots__ = ("_job", "_part")

    def __init__(self, job: Lowering, part: str):
        etype = {"codes": job.mode.etype, "zero_point": job.mode.etype, "scale": types.f16}[part]
        super().__init__(etype, job.shape if part == "codes" else job.reduced, raw=b"")
        self._job, self._part = job, part

    @property
    def is_loaded(self) -> bool:
        return False

    def numpy(self) -> np.ndarray:
        lowered = self._job.result()
        if self._part == "codes" and lowered.codes is None:
            return unpack(lowered.packed, self.etype, self.size).reshape(self.shape)
        return {"codes": lowered.codes, "scale": lowered.scale, "zero_point": lowered.zero_point}[self._part]

    def raw_bytes(self):
        lowered = self._job.result()
        if self._part == "codes" and lowered.packed is not None:
            return memoryview(lowered.packed)
        values = self.numpy()
        if self.etype.bits == 4:
            return memoryview(pack(values, self.etype))
        return memoryview(np.ascontiguousarray(values)).cast("B")
