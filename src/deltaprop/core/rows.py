"""Rows of a memory-mapped array, read with positioned reads instead of through the mapping.

Reading an ``np.memmap`` through its mapping leaves every page it touched counted in the
process's resident memory (RSS) for as long as the machine has memory to spare: one shuffled
epoch over a 2 GB file ends with all 2 GB resident. :class:`RowReader` copies just the rows a
batch needs into a buffer with ``os.preadv``; the file's pages then stay in the kernel's page
cache, outside the process.

Used for a whole-file memmap, as ``np.load(path, mmap_mode="r")`` gives, whatever its dtype, and
for a block of its rows (``x[a:b]``: the held-out tail of a file, one rank's part): rows are read
in the file's dtype and converted batch by batch into the caller's buffer (a float64 file feeding
a float32 network never has more than one batch of float64 in memory). Any other array (a
transpose, a strided view) is read as usual.

Reading through a mapping of a file that has since been truncated kills the process with
``SIGBUS``; a positioned read just returns fewer bytes, which :class:`RowReader` reports as a
:class:`~deltaprop.errors.DataError` naming the file.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from ..errors import DataError

__all__ = ["RowReader", "in_memory", "open_rows"]


def _mapping_root(array):
    """The memmap that owns the ``mmap.mmap`` under ``array`` (``array`` itself for a whole file), or None."""
    root = array
    while isinstance(root, np.memmap) and not isinstance(root.base, mmap.mmap):
        root = root.base
    return root if isinstance(root, np.memmap) else None


def open_rows(array):
    """A :class:`RowReader` over ``array`` if it is a 2-D C-ordered memmap of a file, or a block of
    consecutive rows of one, whose file can still be opened by its name, else None (a deleted file
    is read through its mapping, as any array)."""
    if not (isinstance(array, np.memmap) and array.filename and array.ndim == 2 and array.flags.c_contiguous
            and hasattr(os, "preadv")):
        return None
    root = _mapping_root(array)
    if root is None or root.ndim != 2 or not root.flags.c_contiguous or root.shape[1] != array.shape[1] \
            or root.dtype != array.dtype:
        return None
    # a block of rows starts this many bytes into the root's data, which start at root.offset in the file
    start = array.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if start % (array.shape[1] * array.dtype.itemsize or 1):
        return None
    try:
        return RowReader(array, root.offset + start)
    except OSError:
        return None


def in_memory(array):
    """``array`` itself, or for a whole-file memmap a copy in memory read with positioned reads (so the
    mapping's pages are never touched, and a truncated file is a DataError rather than SIGBUS)."""
    rows = open_rows(array)
    if rows is None:
        return array
    with rows:
        return rows.read(slice(0, len(rows)), np.empty(array.shape, array.dtype))


class RowReader:
    """Reads rows of the ``(n, k)`` array stored in a file at ``offset`` (C order, no padding)."""

    def __init__(self, array: np.memmap, offset=None):
        self.shape, self.dtype = array.shape, array.dtype
        # where row 0 starts in the file (after the .npy header; further on for a block of rows)
        self.offset = array.offset if offset is None else offset
        self.row_bytes = array.shape[1] * array.dtype.itemsize
        self.filename = os.fspath(array.filename)
        self._scratch = {}  # rows in the file's dtype, per batch size, when the caller's buffer differs
        self.fd = os.open(self.filename, os.O_RDONLY)  # OSError: open_rows falls back to the mapping
        try:
            size = os.fstat(self.fd).st_size
        except OSError:
            size = None
        if size is not None and size < self.offset + self.shape[0] * self.row_bytes:
            os.close(self.fd)
            self.fd = None
            raise DataError(f"{self.filename} is shorter ({size:,} bytes) than its array of shape {self.shape} "
                            f"and dtype {self.dtype} needs: it was truncated or replaced after it was opened")

    def __len__(self):
        return self.shape[0]

    def _read(self, out_bytes: memoryview, position: int) -> None:
        while len(out_bytes):  # preadv may return fewer bytes than asked: read the rest
            try:
                done = os.preadv(self.fd, [out_bytes], position)
            except OSError as error:
                raise DataError(f"cannot read the rows of {self.filename}: {error.strerror or error}") from None
            if done == 0:
                try:
                    now = f"it now has {os.fstat(self.fd).st_size:,} bytes"
                except OSError:
                    now = "it ended early"
                raise DataError(f"{self.filename} shrank while training read it: {now}, its array of shape "
                                f"{self.shape} needs {self.offset + self.shape[0] * self.row_bytes:,}; leave the file "
                                "unchanged while it is used")
            out_bytes, position = out_bytes[done:], position + done

    def read(self, index, out: np.ndarray) -> np.ndarray:
        """Rows ``index`` (a slice or integer array) into ``out`` (C order); return ``out``.

        ``out`` may have another dtype than the file: the rows are read into a buffer of the file's
        dtype (one per batch size, kept) and converted into ``out``.
        """
        if out.dtype != self.dtype:
            scratch = self._scratch.get(out.shape[0])
            if scratch is None:
                scratch = self._scratch[out.shape[0]] = np.empty((out.shape[0], self.shape[1]), self.dtype)
            np.copyto(out, self.read(index, scratch), casting="unsafe")
            return out
        flat = memoryview(out).cast("B")
        if isinstance(index, slice):
            self._read(flat, self.offset + index.start * self.row_bytes)  # one contiguous block
            return out
        row_bytes = self.row_bytes
        for j, i in enumerate(index.tolist()):
            self._read(flat[j * row_bytes : (j + 1) * row_bytes], self.offset + i * row_bytes)
        return out

    def blocks(self, rows_per_block: int, first: int = 0, end=None):
        """Yield rows ``first`` to ``end`` (default: all) in consecutive blocks (a reused buffer), for a scan."""
        end = self.shape[0] if end is None else min(end, self.shape[0])
        buffer = np.empty((max(1, min(rows_per_block, end - first)), self.shape[1]), self.dtype)
        for start in range(first, end, rows_per_block):
            stop = min(start + rows_per_block, end)
            yield self.read(slice(start, stop), buffer[: stop - start])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
