"""How many threads numpy's BLAS (OpenBLAS) may use, for the span of a ``with`` block.

OpenBLAS parallelises each matrix product over all cores and its threads wait for each other
by spinning. The interpreter's products are small (one layer of one sample), so on a machine
whose cores are busy with other work a two-thread product can take ten times as long as a
one-thread one. Where the interpreter runs many independent inputs (calibration), it is both
faster and steadier to keep BLAS to one thread and run the inputs side by side instead.

Only OpenBLAS is controlled (the BLAS numpy's and scipy's wheels ship, each its own copy);
every copy is found among the shared libraries the process has loaded and set through its own
``openblas_set_num_threads``. Without one, :func:`blas_threads` changes nothing and says so.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

_LOCK = threading.Lock()
_HOLDERS: dict = {"count": 0, "before": []}


def _openblas() -> list[tuple]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process."""
    import numpy  # noqa: F401  (loads the BLAS)
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1].lower()}
    return [calls for path in sorted(paths) if (calls := _thread_calls(path)) is not None]


@cache
def _thread_calls(path: str) -> tuple | None:
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_"):
            get = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


@contextmanager
def blas_threads(count: int) -> Iterator[bool]:
    """Limit OpenBLAS to ``count`` threads inside the block; yields whether it could.

    The limit is the process's (OpenBLAS has no other): it holds for every thread meanwhile.
    Nested and concurrent blocks share one limit (the first sets it, the last restores it)."""
    with _LOCK:
        if _HOLDERS["count"] == 0:
            _HOLDERS["before"] = [(set_, get()) for get, set_ in _openblas()]
            for set_, _ in _HOLDERS["before"]:
                set_(count)
        _HOLDERS["count"] += 1
        limited = bool(_HOLDERS["before"])
    try:
        yield limited
    finally:
        with _LOCK:
            _HOLDERS["count"] -= 1
            if _HOLDERS["count"] == 0:
                for set_, before in _HOLDERS["before"]:
                    set_(before)
