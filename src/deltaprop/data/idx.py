"""Reading IDX files, the format of the MNIST distribution (gzip-compressed or raw).

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
32-bit sizes, then the data in row-major order.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from ..errors import DataError

__all__ = ["read_idx", "write_idx"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(t).newbyteorder(">") if np.dtype(t).itemsize > 1 else np.dtype(t): code for code, t in _TYPES.items()}


def read_idx(path) -> np.ndarray:
    """Return the array stored in the IDX file at ``path`` (``.gz`` is decompressed)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise DataError(f"cannot read IDX file {path}: {error.strerror or error}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"{path} is not a valid gzip file: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES or raw[3] == 0:
        raise DataError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty file)'}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path} is truncated or padded: shape {shape} needs {expected} data bytes, the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` to ``path`` as an IDX file, gzip-compressed if ``compress`` (default: ``.gz`` suffix).

    The inverse of :func:`read_idx`; used to build test fixtures. Written atomically.
    """
    from ..atomic import atomic_write

    path = os.fspath(path)
    array = np.asarray(array)
    big_endian = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big_endian not in _CODES or not 1 <= array.ndim <= 255:
        raise DataError(f"write_idx: cannot store an array of dtype {array.dtype} and {array.ndim} dimensions in IDX")
    raw = bytes([0, 0, _CODES[big_endian], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += np.ascontiguousarray(array, dtype=big_endian).tobytes()
    if path.endswith(".gz") if compress is None else compress:
        raw = gzip.compress(raw, mtime=0)
    with atomic_write(path, "wb") as handle:
        handle.write(raw)
