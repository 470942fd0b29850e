"""Reading IDX files, the format of the MNIST distribution (gzip-compressed or raw).

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
32-bit sizes, then the data in row-major order.

Nothing the header merely claims is trusted with memory: the header is read and checked first
(type, 1 to :data:`MAX_DIMENSIONS` dimensions, no size 0, at most ``max_elements`` values,
computed with Python integers so no product wraps around), then the data are streamed in chunks
and kept only up to the declared size. A file (or a gzip stream) that ends early is truncated; one
with more after the declared data is refused as soon as one byte more is seen, so a small gzip
that inflates to gigabytes of zeros costs one chunk of memory, not gigabytes.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..errors import DataError
from .regular import open_regular

__all__ = ["MAX_DIMENSIONS", "MAX_ELEMENTS", "read_idx", "read_idx_header", "write_idx"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(t).newbyteorder(">") if np.dtype(t).itemsize > 1 else np.dtype(t): code for code, t in _TYPES.items()}

MAX_DIMENSIONS = 4
"""IDX files of more dimensions are refused (MNIST has 1 and 3; 4 allows images with channels)."""

MAX_ELEMENTS = 2**31
"""Default bound on the number of values a file may declare (2 GiB of bytes)."""

_CHUNK = 1 << 20
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
_DEFLATE_RATIO = 1032  # deflate's largest expansion: a gzip of s bytes inflates to at most ~1032 s


class _Source:
    """The (decompressed) bytes of an IDX file, read with every failure a :class:`DataError`."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.handle, self.size = open_regular(self.path, "IDX file")
        try:
            self.gzipped = self.handle.read(2) == b"\x1f\x8b"
            self.handle.seek(0)
            self.stream = gzip.GzipFile(fileobj=self.handle, mode="rb") if self.gzipped else self.handle
        except OSError as error:
            self.handle.close()
            raise DataError(f"cannot read IDX file {self.path}: {error.strerror or error}") from None
        self.position = 0  # bytes of (decompressed) content read so far

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes: fewer only at the end of the content."""
        parts, wanted = [], n
        try:
            while wanted:
                part = self.stream.read(wanted)
                if not part:
                    break
                parts.append(part)
                wanted -= len(part)
        except _GZIP_ERRORS as error:
            raise DataError(f"{self.path} is not a valid gzip file (damaged or truncated): {error}") from None
        except OSError as error:
            raise DataError(f"cannot read IDX file {self.path}: {error.strerror or error}") from None
        data = b"".join(parts)
        self.position += len(data)
        return data

    def close(self):
        if self.gzipped:
            self.stream.close()
        self.handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _header(source: _Source, max_elements: int):
    """Read and check the header; return ``(dtype, shape)`` (shape as Python ints)."""
    path = source.path
    magic = source.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _TYPES or magic[3] == 0:
        raise DataError(f"{path} is not an IDX file: bad magic number {magic.hex() or '(empty file)'}")
    ndim = magic[3]
    if ndim > MAX_DIMENSIONS:
        raise DataError(f"{path}: its IDX header declares {ndim} dimensions; at most {MAX_DIMENSIONS} are read "
                        "(a corrupted header?)")
    sizes = source.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{path} is truncated: its header needs {4 + 4 * ndim} bytes, the file has {4 + len(sizes)}")
    shape = struct.unpack(f">{ndim}I", sizes)
    count = math.prod(shape)  # a Python int: never wraps around
    if count == 0:
        if source.read(1):
            raise DataError(f"{path} is truncated or corrupted: its header declares shape {shape}, which holds "
                            "no values, yet data follow")
        raise DataError(f"{path} holds no data: its header declares shape {shape} (a size of 0)")
    if count > max_elements:
        raise DataError(f"{path}: its IDX header declares shape {shape}, {count:,} values; at most "
                        f"{max_elements:,} are read (a corrupted or hostile header?)")
    return np.dtype(_TYPES[magic[2]]), shape


def read_idx_header(path, max_elements: int = MAX_ELEMENTS):
    """Return ``(dtype, shape)`` declared by the IDX file at ``path``, checked, reading only its header."""
    with _Source(path) as source:
        return _header(source, max_elements)


def read_idx(path, max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    """Return the array stored in the IDX file at ``path`` (``.gz`` is decompressed).

    Raises :class:`DataError` naming the file if it is missing, not a regular file, not IDX, a
    damaged gzip, truncated, longer than its header says, or declares more than ``max_elements``
    values. Memory never exceeds the declared size (itself at most ``max_elements`` values) by
    more than one chunk, whatever the file would inflate to.
    """
    with _Source(path) as source:
        dtype, shape = _header(source, max_elements)
        path, header = source.path, source.position
        nbytes = math.prod(shape) * dtype.itemsize
        if not source.gzipped and source.size - header != nbytes:
            how = "truncated" if source.size - header < nbytes else "longer than its header says (padded or corrupted)"
            raise DataError(f"{path} is {how}: shape {shape} needs {nbytes} data bytes, the file has {source.size - header}")
        if source.gzipped and nbytes > _DEFLATE_RATIO * source.size + _CHUNK:
            raise DataError(f"{path} is truncated: shape {shape} needs {nbytes:,} data bytes, more than a gzip file "
                            f"of {source.size:,} bytes can hold")
        chunks, remaining = [], nbytes
        while remaining:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining:
            raise DataError(f"{path} is truncated: shape {shape} needs {nbytes} data bytes, the file has {nbytes - remaining}")
        if source.read(1):
            raise DataError(f"{path} is longer than its header says (padded or corrupted): shape {shape} needs "
                            f"{nbytes} data bytes, and more follow")
    array = np.empty(math.prod(shape), dtype)
    into, at = memoryview(array).cast("B"), 0
    chunks.reverse()
    while chunks:  # copy and free chunk by chunk: the data are held about once, not twice
        chunk = chunks.pop()
        into[at : at + len(chunk)] = chunk
        at += len(chunk)
    if not dtype.isnative:  # big-endian data on a little-endian machine: swap in place, no copy
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array.reshape(shape)


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` to ``path`` as an IDX file, gzip-compressed if ``compress`` (default: ``.gz`` suffix).

    The inverse of :func:`read_idx`; used to build test fixtures. Written atomically.
    """
    from ..atomic import atomic_write

    path = os.fspath(path)
    array = np.asarray(array)
    big_endian = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big_endian not in _CODES or not 1 <= array.ndim <= MAX_DIMENSIONS:
        raise DataError(f"write_idx: cannot store an array of dtype {array.dtype} and {array.ndim} dimensions in IDX "
                        f"(1 to {MAX_DIMENSIONS} dimensions)")
    raw = bytes([0, 0, _CODES[big_endian], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += np.ascontiguousarray(array, dtype=big_endian).tobytes()
    if path.endswith(".gz") if compress is None else compress:
        raw = gzip.compress(raw, mtime=0)
    with atomic_write(path, "wb") as handle:
        handle.write(raw)
