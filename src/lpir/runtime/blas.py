"""How many threads numpy's BLAS (OpenBLAS) may use, for the span of a ``with`` block.

OpenBLAS parallelises each matrix product over all cores and its threads wait for each other
by spinning. The interpreter's products are small (one layer of one sample), so on a machine
whose cores are busy with other work a two-thread product can take ten times as long as a
one-thread one. Where the interpreter runs many independent inputs (calibration), it is both
faster and steadier to keep BLAS to one thread and run the inputs side by side instead.

Only OpenBLAS is controlled (the BLAS numpy's wheels ship); it is found among the shared
libraries the process has loaded, through its own ``openblas_set_num_threads``. Elsewhere
:func:`blas_threads` changes nothing and says so.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

_LOCK = threading.Lock()
_HOLDERS = {"count": 0, "before": 0}


@cache
def _openblas() -> tuple | None:
    """(get, set) thread-count functions of the OpenBLAS numpy uses, or None."""
    import numpy  # noqa: F401  (loads the BLAS)
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1].lower()}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
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

    Nested and concurrent blocks share one limit (the first sets it, the last restores it)."""
    calls = _openblas()
    if calls is None:
        yield False
        return
    get, set_ = calls
    with _LOCK:
        if _HOLDERS["count"] == 0:
            _HOLDERS["before"] = get()
            set_(count)
        _HOLDERS["count"] += 1
    try:
        yield True
    finally:
        with _LOCK:
            _HOLDERS["count"] -= 1
            if _HOLDERS["count"] == 0:
                set_(_HOLDERS["before"])
