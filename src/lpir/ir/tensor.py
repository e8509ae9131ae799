"""Constant tensors: eager (a numpy array) or lazy (bytes of a memory-mapped .bin).

A lazy tensor keeps only where its bytes are; nothing is decoded until :meth:`Tensor.numpy` is
called, so reading a multi-GB IR touches no weight. Writers copy :meth:`Tensor.raw_bytes`
straight to the new .bin, so a read → save round trip preserves every byte, padding included.

The tensors of one IR share a :class:`MappedFile`. Views on it are made when asked for and
held only by what they are given to, so :meth:`MappedFile.close` can unmap the file as soon as
no array handed out earlier is still alive.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.packing import pack, unpack
from lpir.ir.types import ElementType


class MappedFile:
    """A read-only memory map of a weights file, shared by the lazy tensors of one model."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.reopen()

    def reopen(self) -> None:
        """Map the file again (after :meth:`close`, when the file is unchanged)."""
        with open(self.path, "rb") as f:
            self.size = os.fstat(f.fileno()).st_size
            self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if self.size else None
        self._view: memoryview | None = memoryview(self._mmap) if self._mmap is not None else memoryview(b"")

    @property
    def closed(self) -> bool:
        return self._view is None

    def view(self, offset: int, size: int) -> memoryview:
        """The bytes ``offset .. offset + size`` (no copy)."""
        if self._view is None:
            raise ValidationError(f"{self.path}: the model's weights were closed (Model.close()); "
                                  "read the model again to use them")
        return self._view[offset:offset + size]

    def close(self) -> bool:
        """Stop handing out views and unmap the file; False when arrays given out earlier still
        point into it (the map then goes when the last of them does)."""
        view, self._view = self._view, None
        if view is None:
            return True
        view.release()
        mapped, self._mmap = self._mmap, None
        if mapped is None:
            return True
        try:
            mapped.close()
        except BufferError:  # the arrays hold the map object; it is unmapped when they go
            return False
        return True


class Tensor:
    """An immutable tensor of a fixed element type and static shape."""

    __slots__ = ("etype", "shape", "_array", "_raw", "_mapped")

    def __init__(self, etype: ElementType, shape: tuple[int, ...], *, array=None, raw=None,
                 mapped: tuple[MappedFile, int] | None = None):
        if sum(x is not None for x in (array, raw, mapped)) != 1:
            raise ValueError("a Tensor is built from exactly one of array=, raw= or mapped=")
        self.etype = etype
        self.shape = tuple(int(d) for d in shape)
        self._array = array
        self._raw = raw
        self._mapped = mapped

    @classmethod
    def from_array(cls, array, etype: ElementType | str | None = None) -> Tensor:
        """An eager tensor; ``etype`` defaults to the array's dtype (needed for sub-byte types)."""
        array = np.asarray(array)
        etype = types.from_dtype(array.dtype) if etype is None else types.parse_type(etype)
        array = types.from_ml_dtypes(array, etype)
        if not etype.is_packed and array.dtype != etype.dtype:
            array = array.astype(etype.dtype)
        return cls(etype, array.shape, array=array)

    @classmethod
    def from_buffer(cls, buffer, etype: ElementType, shape: tuple[int, ...]) -> Tensor:
        """A lazy tensor over ``buffer`` (a memoryview/bytes holding at least the packed data)."""
        return cls(etype, shape, raw=buffer)

    @classmethod
    def from_file(cls, mapping: MappedFile, offset: int, etype: ElementType, shape: tuple[int, ...]) -> Tensor:
        """A lazy tensor whose bytes start at ``offset`` of a mapped file."""
        return cls(etype, shape, mapped=(mapping, offset))

    @property
    def mapping(self) -> MappedFile | None:
        """The mapped file the bytes are read from (None for tensors in memory)."""
        return self._mapped[0] if self._mapped is not None else None

    def _buffer(self):
        if self._mapped is not None:
            mapping, offset = self._mapped
            return mapping.view(offset, self.nbytes)
        return self._raw

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor in storage (packed for sub-byte types)."""
        return self.etype.nbytes(self.size)

    @property
    def is_loaded(self) -> bool:
        return self._array is not None

    def numpy(self) -> np.ndarray:
        """The values, one element per item (sub-byte types unpacked; nf4 as codes).

        For a lazy tensor of a byte-wide type this is a read-only view on the mapped file.
        """
        if self._array is not None:
            return self._array
        return unpack(self._buffer(), self.etype, self.size).reshape(self.shape)

    def raw_bytes(self):
        """The bytes as stored in a .bin (a memoryview for lazy tensors, no copy)."""
        if self._array is None:
            return memoryview(self._buffer())[: self.nbytes]
        return pack(self._array, self.etype)

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "lazy"
        return f"Tensor({self.etype.name}, {list(self.shape)}, {state})"


def release_mapped_pages(values: np.ndarray) -> None:
    """Let the OS take back the resident pages of a C-contiguous array mapped from a file.

    Streaming passes read each weight of a memory-mapped .bin once; without this every page read
    stays in the process's resident memory until the model is closed. The pages stay in the page
    cache and are read again from there if touched later (the mapping must be a read-only one,
    as lpir's IR reader makes: a copy-on-write mapping would lose its changes). Arrays not
    backed by a file mapping are left alone.
    """
    mapping = _mapping_of(values)
    if mapping is None or not values.flags.c_contiguous or values.nbytes == 0:
        return
    start = values.ctypes.data - np.frombuffer(mapping, np.uint8).ctypes.data
    first = start - start % mmap.PAGESIZE
    length = start + values.nbytes - first
    mapping.madvise(mmap.MADV_DONTNEED, first, min(length, len(mapping) - first))


def _mapping_of(values: np.ndarray) -> mmap.mmap | None:
    base = values
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        return base.obj
    return None
