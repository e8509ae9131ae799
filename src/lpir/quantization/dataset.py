"""Calibration data: any iterable of samples, with an optional transform to model inputs."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Dataset:
    """Samples for calibration, as ``nncf.Dataset``.

    ``source`` is any iterable (a list, a generator, a data loader); ``transform_fn`` turns one
    item into model inputs: an array (one-input models), a list/tuple by position or a dict by
    input name, the forms ``compile_model`` accepts. Without it items are used as they are.
    """

    def __init__(self, source: Iterable[Any], transform_fn: Callable[[Any], Any] | None = None):
        self.source = source
        self.transform_fn = transform_fn

    def __iter__(self) -> Iterator[Any]:
        transform = self.transform_fn or (lambda item: item)
        return (transform(item) for item in self.source)

    def take(self, count: int) -> Iterator[Any]:
        """The first ``count`` transformed samples (fewer if the source is shorter)."""
        return itertools.islice(iter(self), count)

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]  (raises TypeError for plain iterables)


def as_dataset(data: Any) -> Dataset:
    """``data`` as a :class:`Dataset` (plain iterables are wrapped unchanged)."""
    return data if isinstance(data, Dataset) else Dataset(data)
