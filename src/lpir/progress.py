"""Progress bars for long work, shared by the API (calibration, compression) and the CLI.

A bar is drawn on stderr only when it is a terminal, so logs and pipes stay clean: tqdm when it
is installed (the ``progress`` extra), else a plain status line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

Progress = Callable[..., Iterable]


def no_progress(items: Iterable, **_) -> Iterable:
    """The silent bar: yields ``items`` unchanged (the default of every API call)."""
    return items


def progress(items: Iterable, *, total: int | None = None, desc: str = "") -> Iterable:
    """Iterate with a progress bar on stderr when stderr is a terminal."""
    if not sys.stderr.isatty():
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return _plain_progress(items, total, desc)
    return tqdm(items, total=total, desc=desc, leave=False)


def _plain_progress(items: Iterable, total: int | None, desc: str) -> Iterable:
    items = list(items) if total is None else items
    total = len(items) if total is None else total
    for index, item in enumerate(items, 1):
        yield item
        print(f"\r{desc} {index}/{total}", end="", file=sys.stderr, flush=True)
    print("\r" + " " * (len(desc) + 24) + "\r", end="", file=sys.stderr, flush=True)


def run_with_progress(compiled, inputs, bar: Progress = progress, desc: str = "running"):
    """Run a compiled model, one bar step per computed tensor, on a terminal.

    The bar taps every tensor, and a tapped tensor is never overwritten in place: with a bar
    the run is a little slower, so it is drawn only where somebody watches.
    """
    if not sys.stderr.isatty():
        return compiled(inputs)
    outputs = [out for node in compiled.model.nodes() for out in node.outputs]
    ticks = iter(bar(range(len(outputs)), total=len(outputs), desc=desc))
    result = compiled(inputs, taps=compiled.tap(outputs, lambda output, value: next(ticks, None)))
    for _ in ticks:
        pass
    return result
