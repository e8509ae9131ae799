"""Files written in the folder of their final path and put there by a rename only when complete.

A rename within one folder is atomic, so a reader sees either the old file or the complete new
one, never half of it; on failure nothing is left behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class TempFile:
    """A file written in the folder of its final ``path`` and put there only by :meth:`commit`.

    On Linux the file has no name while it is written (``O_TMPFILE``): a process killed mid-save
    leaves nothing behind. Elsewhere it is a hidden temporary name, removed on failure.
    """

    def __init__(self, path: Path):
        self.path = path
        self.name: str | None = None  # the temporary name, once the file has one
        self._fd: int | None = None  # a descriptor of the unnamed file, kept to link it

    def open(self):
        mode = 0o666 & ~_umask()
        if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
            try:
                fd = os.open(self.path.parent, os.O_TMPFILE | os.O_RDWR, mode)
            except OSError:  # a file system without O_TMPFILE support
                fd = None
            if fd is not None:
                self._fd = os.dup(fd)
                return os.fdopen(fd, "wb", buffering=1 << 20)
        fd, self.name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.fchmod(fd, mode)
        return os.fdopen(fd, "wb", buffering=1 << 20)

    def link(self) -> None:
        """Give an unnamed file a hidden temporary name beside its final path."""
        if self._fd is None:
            return
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            for attempt in range(100):
                name = f".{self.path.name}.{os.getpid()}.{attempt}.tmp"
                try:  # a directory fd makes os.link call linkat(..., AT_SYMLINK_FOLLOW)
                    os.link(f"/proc/self/fd/{self._fd}", name, dst_dir_fd=folder, follow_symlinks=True)
                except FileExistsError:
                    continue
                self.name = str(self.path.parent / name)
                break
        finally:
            os.close(folder)
            os.close(self._fd)
            self._fd = None

    def commit(self) -> None:
        os.replace(self.name, self.path)
        self.name = None

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.name is not None and os.path.exists(self.name):
            os.unlink(self.name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
