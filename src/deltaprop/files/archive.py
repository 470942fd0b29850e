"""The archive behind model files and checkpoints, and its untrusting reader.

An archive is a NumPy ``.npz`` (a zip of uncompressed ``.npy`` arrays) with a ``metadata`` member:
UTF-8 JSON bytes stored as a ``uint8`` array. :func:`write_archive` writes one atomically;
:class:`ArchiveReader` reads one without trusting a byte of it, and nothing is ever unpickled:

1. the path must be a regular file (a FIFO would block) that starts like a zip archive;
2. :mod:`zipfile` reads the archive's directory (its size is bounded by the file's); every
   member must be an uncompressed ``.npy`` array that lies inside the file, so no member can
   expand beyond the bytes on disk;
3. the ``metadata`` member (at most :data:`MAX_METADATA_BYTES`) is parsed as JSON and checked:
   format name and version (the caller checks the rest);
4. the caller derives every array's shape and dtype from the metadata; :meth:`ArchiveReader.expect`
   checks that the bytes they need together fit in the file and that the archive holds exactly
   those arrays, before any array is read;
5. each array's ``.npy`` header (at most 10,000 bytes, parsed by NumPy as a literal) must declare
   exactly that shape and dtype, and its member exactly that many bytes, before its data is read;
   the zip's CRC-32 then checks the data, and float arrays must be finite.

A file can therefore make a reader allocate little more than its own size, and every failure is a
:class:`~deltaprop.errors.ModelFileError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import stat
import struct
import warnings
import zipfile
import zlib

import numpy as np

from ..atomic import atomic_write
from ..core.checks import all_finite, is_count
from ..errors import DeltapropError, ModelFileError

__all__ = ["MAX_METADATA_BYTES", "ArchiveReader", "write_archive", "short"]

MAX_METADATA_BYTES = 1 << 16
"""Largest metadata member written or read (64 KiB). deltaprop writes a few hundred bytes, or a few
kilobytes for a checkpoint; the bound keeps what parsing the JSON allocates small."""

_NPY_HEADER_LIMIT = 10_000  # NumPy's own bound on a header it parses "securely"


def write_archive(path, metadata: dict, arrays: dict) -> None:
    """Write ``metadata`` (JSON) and named ``arrays`` as an uncompressed ``.npz``, atomically."""
    try:
        header = json.dumps(metadata, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise DeltapropError(f"metadata must hold JSON values only: {error}") from None
    if len(header) > MAX_METADATA_BYTES:
        raise DeltapropError(f"metadata takes {len(header)} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed")
    with atomic_write(path, "wb") as handle:
        np.savez(handle, metadata=np.frombuffer(header, dtype=np.uint8), **arrays)


_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL = b"\x80"  # first byte of every pickle of protocol 2 or later

# What zipfile and the file system raise on a damaged archive. ModelFileError is a ValueError, so
# every handler below lets it through first.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
                OverflowError, NotImplementedError, RuntimeError, KeyError, IndexError)


def short(text, limit: int = 60) -> str:
    text = repr(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(names) -> str:
    names = sorted(names)
    shown = ", ".join(names[:5])
    return f"[{shown}{', ...' if len(names) > 5 else ''}]"


class ArchiveReader:
    """Read an archive written by :func:`write_archive`, checking each byte before trusting it.

    Use it as a context manager. :meth:`metadata` parses and checks the JSON metadata,
    :meth:`expect` checks the archive's arrays against the shapes and dtypes the metadata
    implies, and :meth:`array` reads one of them. Every problem raises
    :class:`~deltaprop.errors.ModelFileError` ``"<kind> <path>: <problem>"``.

    Parameters
    ----------
    path : str or os.PathLike
    kind : str
        What the file should be, for messages: ``"model file"``, ``"checkpoint"``.
    """

    def __init__(self, path, kind: str = "model file"):
        self.path, self.kind = os.fspath(path), kind
        self._handle = self._open()
        try:
            self._members = self._directory()
        except BaseException:
            self.close()
            raise

    # -- failing ---------------------------------------------------------------------------------

    def fail(self, problem: str):
        """Raise :class:`ModelFileError` naming the file and ``problem``."""
        raise ModelFileError(f"{self.kind} {self.path}: {problem}")

    # -- opening ---------------------------------------------------------------------------------

    def _open(self):
        try:
            # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            self.fail("does not exist")
        except IsADirectoryError:
            self.fail("is a directory, not a file")
        except OSError as error:
            self.fail(f"cannot be read ({error.strerror or error})")
        try:
            status = os.fstat(fd)
            if stat.S_ISDIR(status.st_mode):
                self.fail("is a directory, not a file")
            if not stat.S_ISREG(status.st_mode):
                self.fail("is not a regular file")
        except BaseException:
            os.close(fd)
            raise
        self.size = status.st_size
        handle = os.fdopen(fd, "rb")
        try:
            self._check_magic(handle.read(8))
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle

    def _check_magic(self, head: bytes) -> None:
        """Refuse, from its first bytes, a file that is not a zip archive (an ``.npz``)."""
        if head.startswith(_ZIP_MAGIC):
            return
        if not head:
            self.fail("is empty")
        if head.startswith(_NPY_MAGIC):
            self.fail(f"is a single .npy array, not a deltaprop {self.kind} (.npz archive)")
        if head.startswith(_PICKLE_PROTOCOL):
            self.fail("is a Python pickle, which deltaprop never loads (unpickling can run code)")
        self.fail(f"is not a deltaprop {self.kind}: expected an .npz (zip) archive, the file starts with {head[:4]!r}")

    def _directory(self) -> dict:
        """Map each array's name to its zip entry, refusing entries that could not be ours."""
        try:
            self._zip = zipfile.ZipFile(self._handle)
            entries = self._zip.infolist()
        except _READ_ERRORS as error:
            self.fail(f"is corrupted ({type(error).__name__}: {error})")
        members = {}
        for info in entries:
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name is None:
                self.fail(f"holds {short(info.filename)}, which is not a .npy array")
            if name in members:
                self.fail(f"holds the array {short(name)} twice")
            if info.flag_bits & 0x1:
                self.fail(f"array {short(name)} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                self.fail(f"array {short(name)} is compressed (zip method {info.compress_type}); "
                          "deltaprop writes and reads uncompressed archives only")
            if info.file_size != info.compress_size or info.header_offset + info.compress_size > self.size:
                self.fail(f"array {short(name)} claims {info.file_size} bytes, more than the file holds (truncated?)")
            members[name] = info
        return members

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self._zip.close()
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- contents --------------------------------------------------------------------------------

    @property
    def names(self) -> set:
        """The names of the archive's arrays, ``metadata`` included."""
        return set(self._members)

    def metadata(self, format_name: str, version: int, hints: dict | None = None) -> dict:
        """Return the JSON metadata, checked to be of ``format_name`` in a version up to ``version``.

        ``hints`` maps other format names to what to say when the file is of that format.
        """
        if "metadata" not in self._members:
            self.fail("is an .npz archive without deltaprop metadata (a foreign file?)")
        raw = self._read("metadata", None, np.dtype(np.uint8))
        try:
            meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            self.fail(f"has unreadable metadata ({short(str(error), 120)})")
        found = meta.get("format") if isinstance(meta, dict) else None
        if found != format_name:
            hint = (hints or {}).get(found) if isinstance(found, str) else None
            self.fail(hint or f"is not a deltaprop {self.kind} (format {short(found)})")
        found_version = meta.get("version")
        if not is_count(found_version, minimum=1):
            self.fail(f"has an invalid format version {short(found_version)}")
        if found_version > version:
            self.fail(f"was written in format version {found_version}; this deltaprop reads versions up to "
                      f"{version} (upgrade deltaprop)")
        return meta

    def expect(self, spec: dict) -> None:
        """Check that the archive holds exactly the arrays of ``spec`` and that they fit in the file.

        ``spec`` maps each array's name to ``(shape, dtype)``; nothing is read.
        """
        expected = set(spec) | {"metadata"}
        if self.names != expected:
            missing, unexpected = expected - self.names, self.names - expected
            self.fail(f"does not match its metadata (missing arrays {_names(missing)}, unexpected {_names(unexpected)})")
        needed = sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in spec.values())
        if needed > self.size:
            self.fail(f"declares arrays of {needed} bytes in all, but the file holds only {self.size} bytes")

    def array(self, name: str, shape: tuple, dtype, finite: bool = True) -> np.ndarray:
        """Read array ``name``, which must have exactly ``shape`` and ``dtype`` (and be finite).

        The result is read-only (a view of the bytes read); copy it to modify it.
        """
        if name not in self._members:
            self.fail(f"lacks the array {short(name)}")
        array = self._read(name, tuple(shape), np.dtype(dtype))
        if finite and array.dtype.kind == "f" and not all_finite(array):
            self.fail(f"array {name} holds NaN or infinity")
        return array

    def _read(self, name, shape, dtype) -> np.ndarray:
        """The array ``name`` after checking its header against ``shape`` (None: 1-D metadata) and ``dtype``."""
        info = self._members[name]
        try:
            with self._zip.open(info) as member:
                found_shape, fortran, found_dtype, offset = self._npy_header(member, name)
                if found_dtype.hasobject:
                    self.fail(f"array {name} contains pickled Python objects, which deltaprop never loads "
                              "(unpickling can run code)")
                if found_dtype != dtype:
                    self.fail(f"array {name} has dtype {found_dtype}; the metadata says {dtype}")
                if shape is None:  # the metadata itself: 1-D bytes of bounded length
                    if len(found_shape) != 1 or not 0 < found_shape[0] <= MAX_METADATA_BYTES:
                        self.fail(f"has metadata of shape {short(found_shape)}; expected up to "
                                  f"{MAX_METADATA_BYTES} bytes of UTF-8 JSON")
                elif found_shape != shape:
                    self.fail(f"array {name} has shape {short(found_shape)}; the metadata needs {shape}")
                nbytes = math.prod(found_shape) * dtype.itemsize
                if info.file_size != offset + nbytes:
                    self.fail(f"array {name} should hold {nbytes} bytes of data but its entry has "
                              f"{info.file_size - offset} (truncated or padded)")
                data = member.read(nbytes)
                if len(data) != nbytes or member.read(1):
                    self.fail(f"array {name} is truncated")
        except ModelFileError:
            raise
        except _READ_ERRORS as error:
            self.fail(f"is corrupted (array {name}: {type(error).__name__}: {short(str(error), 120)})")
        return np.frombuffer(data, dtype=dtype).reshape(found_shape, order="F" if fortran else "C")

    def _npy_header(self, member, name):
        """``(shape, fortran_order, dtype, data offset)`` of the ``.npy`` member, bounded reads only."""
        magic = member.read(8)
        if len(magic) != 8 or not magic.startswith(_NPY_MAGIC):
            self.fail(f"array {name} is not a .npy array")
        version = (magic[6], magic[7])
        if version not in ((1, 0), (2, 0)):
            self.fail(f"array {name} is in .npy format version {version[0]}.{version[1]}; deltaprop reads 1.0 and 2.0")
        length_format = "<H" if version == (1, 0) else "<I"
        length_bytes = member.read(struct.calcsize(length_format))
        if len(length_bytes) != struct.calcsize(length_format):
            self.fail(f"array {name} is truncated")
        (length,) = struct.unpack(length_format, length_bytes)
        if length > _NPY_HEADER_LIMIT:
            self.fail(f"array {name} declares a {length}-byte .npy header; at most {_NPY_HEADER_LIMIT} are accepted")
        header = member.read(length)
        if len(header) != length:
            self.fail(f"array {name} is truncated")
        parse = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # NumPy warns about headers written by Python 2
                shape, fortran, dtype = parse(io.BytesIO(length_bytes + header), max_header_size=_NPY_HEADER_LIMIT)
        except Exception as error:  # noqa: BLE001 - any failure to parse 10 kB of untrusted text is a bad file
            self.fail(f"array {name} has an unreadable .npy header ({type(error).__name__}: {short(str(error), 120)})")
        return shape, fortran, dtype, len(magic) + len(length_bytes) + length


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")
