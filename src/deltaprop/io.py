"""Saved models: one ``.npz`` file that never executes code when it is read.

A model file is a NumPy ``.npz`` archive (a zip of uncompressed ``.npy`` arrays) holding

* ``metadata``: UTF-8 JSON bytes stored as a ``uint8`` array, with the format name and version,
  the layer sizes, each layer's activation, the cost, the dtype and any extra information the
  caller passes (the command line records how the model was trained);
* ``W0, b0, W1, b1, ...``: the weights ``(n_out, n_in)`` and biases ``(n_out,)`` of
  ``net.layers[0], net.layers[1], ...``, in the model's dtype.

Training checkpoints (:mod:`deltaprop.checkpoint`) are archives of the same kind with more
arrays; :func:`write_archive` writes both and :class:`ArchiveReader` reads both.

Reading trusts no byte of the file, and nothing is ever unpickled:

1. the path must be a regular file (a FIFO would block) that starts like a zip archive;
2. :mod:`zipfile` reads the archive's directory (its size is bounded by the file's); every
   member must be an uncompressed ``.npy`` array that lies inside the file, so no member can
   expand beyond the bytes on disk;
3. the ``metadata`` member (at most :data:`MAX_METADATA_BYTES`) is parsed as JSON and checked:
   format name, version, and architecture (sizes, activation and cost names, dtype);
4. the metadata determines every array's shape and dtype. The bytes they need together must fit
   in the file, and the archive must hold exactly those arrays, before any array is read;
5. each array's ``.npy`` header (at most 10,000 bytes, parsed by NumPy as a literal) must declare
   exactly that shape and dtype, and its member exactly that many bytes, before its data is read;
   the zip's CRC-32 then checks the data, and float arrays must be finite.

A file can therefore make :func:`load` allocate little more than its own size, and every
failure is a :class:`~deltaprop.errors.ModelFileError` naming the file and the problem.

Files are written atomically (:func:`atomic_write`): to a temporary file in the same directory,
flushed and fsynced, then renamed over the target, so an interrupted or failed save never leaves
a half-written file or destroys the previous one.

>>> import os, tempfile, numpy as np, deltaprop
>>> net = deltaprop.Network([2, 3, 1], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> save(net, path)
>>> bool(np.array_equal(load(path).feedforward(np.ones((1, 2))), net.feedforward(np.ones((1, 2)))))
True
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import re
import stat
import struct
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from .activations import ACTIVATIONS
from .costs import COSTS
from .errors import DeltapropError, ModelFileError, NonFiniteError
from .layers import Dense
from .network import Network
from .validation import all_finite

__all__ = [
    "CHECKPOINT_FORMAT",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_METADATA_BYTES",
    "ArchiveReader",
    "atomic_write",
    "load",
    "load_history",
    "read_metadata",
    "remove_stale_temporaries",
    "save",
    "save_history",
    "write_archive",
]

FORMAT = "deltaprop-model"
FORMAT_VERSION = 1
"""Version of the file layout; :func:`load` refuses files written by a newer layout."""

CHECKPOINT_FORMAT = "deltaprop-checkpoint"
"""Format name of :mod:`deltaprop.checkpoint` files (named here so that each reader can point
the user to the other when handed the wrong kind of file)."""

MAX_METADATA_BYTES = 1 << 16
"""Largest metadata member written or read (64 KiB). deltaprop writes a few hundred bytes, or a few
kilobytes for a checkpoint; the bound keeps what parsing the JSON allocates small."""

_DTYPES = ("float32", "float64")
_NPY_HEADER_LIMIT = 10_000  # NumPy's own bound on a header it parses "securely"


# -- writing files safely ---------------------------------------------------------------------------

def _temporary_prefix(path: str) -> str:
    # The writer's PID in the name lets remove_stale_temporaries tell a dead writer's leftovers
    # from a live writer's file in progress.
    return f".{os.path.basename(path)}.{os.getpid()}."


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_options):
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``.

    If the body raises, the temporary file is removed and ``path`` is left exactly as it was
    (absent, or holding its previous content). The rename (``os.replace``) is atomic on POSIX
    and Windows because both names are in the same directory; on POSIX the directory is fsynced
    too, so the new name survives a power cut. A process killed mid-write leaves only a
    temporary ``.NAME.PID.XXXXXXXX.tmp``, which :func:`remove_stale_temporaries` clears.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(target, "w") as handle:
    ...     _ = handle.write("hello")
    >>> open(target).read()
    'hello'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=_temporary_prefix(path), suffix=".tmp")
    except OSError as error:  # name the file the caller asked for, not the temporary one
        raise type(error)(error.errno, error.strerror, path) from None
    try:
        with os.fdopen(fd, mode, **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make a rename durable: fsync the directory holding the new name (POSIX only)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(path) -> list[str]:
    """Delete the temporaries of ``path`` that :func:`atomic_write` left when its process died.

    A temporary whose writer is still running is left alone. Returns the paths removed.
    """
    from .lock import pid_alive  # lock.py knows how to ask whether a process lives

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(f".{os.path.basename(path)}.") + r"(\d+)\.[a-z0-9_]{8}\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            match = pattern.fullmatch(name)
            if match and not pid_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    removed.append(os.path.join(directory, name))
    return removed


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


# -- reading archives without trusting them ---------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL = b"\x80"  # first byte of every pickle of protocol 2 or later

# What zipfile and the file system raise on a damaged archive. ModelFileError is a ValueError, so
# every handler below lets it through first.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
                OverflowError, NotImplementedError, RuntimeError, KeyError, IndexError)


def _short(text, limit: int = 60) -> str:
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
                self.fail(f"holds {_short(info.filename)}, which is not a .npy array")
            if name in members:
                self.fail(f"holds the array {_short(name)} twice")
            if info.flag_bits & 0x1:
                self.fail(f"array {_short(name)} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                self.fail(f"array {_short(name)} is compressed (zip method {info.compress_type}); "
                          "deltaprop writes and reads uncompressed archives only")
            if info.file_size != info.compress_size or info.header_offset + info.compress_size > self.size:
                self.fail(f"array {_short(name)} claims {info.file_size} bytes, more than the file holds (truncated?)")
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
            self.fail(f"has unreadable metadata ({_short(str(error), 120)})")
        found = meta.get("format") if isinstance(meta, dict) else None
        if found != format_name:
            hint = (hints or {}).get(found) if isinstance(found, str) else None
            self.fail(hint or f"is not a deltaprop {self.kind} (format {_short(found)})")
        found_version = meta.get("version")
        if not isinstance(found_version, int) or isinstance(found_version, bool) or found_version < 1:
            self.fail(f"has an invalid format version {_short(found_version)}")
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
            self.fail(f"lacks the array {_short(name)}")
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
                        self.fail(f"has metadata of shape {_short(found_shape)}; expected up to "
                                  f"{MAX_METADATA_BYTES} bytes of UTF-8 JSON")
                elif found_shape != shape:
                    self.fail(f"array {name} has shape {_short(found_shape)}; the metadata needs {shape}")
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
            self.fail(f"is corrupted (array {name}: {type(error).__name__}: {_short(str(error), 120)})")
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
            self.fail(f"array {name} has an unreadable .npy header ({type(error).__name__}: {_short(str(error), 120)})")
        return shape, fortran, dtype, len(magic) + len(length_bytes) + length


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


# -- models -----------------------------------------------------------------------------------------

def architecture(net: Network) -> dict:
    """The metadata entries that describe ``net``: sizes, activations, cost and dtype."""
    return {
        "sizes": net.sizes,
        "activations": [layer.activation.name for layer in net.layers],
        "cost": net.cost_function.name,
        "dtype": net.dtype.name,
    }


def weight_arrays(net: Network) -> dict:
    """``{"W0": W, "b0": b, ...}``: the arrays of ``net`` as archives store them."""
    arrays = {}
    for i, layer in enumerate(net.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    return arrays


def check_finite_weights(net: Network, path) -> None:
    """Refuse to write a network with NaN or infinite parameters to ``path`` (a diverged run)."""
    for name, array in weight_arrays(net).items():
        if not all_finite(array):
            raise NonFiniteError(f"{os.fspath(path)} not written: {name} holds NaN or infinity "
                                 "(did training diverge? try a smaller eta)")


def weight_spec(reader: ArchiveReader, meta: dict) -> dict:
    """Check the architecture in ``meta``; return ``{"W0": ((n_out, n_in), dtype), ...}``."""
    sizes, activations = meta.get("sizes"), meta.get("activations")
    cost, dtype = meta.get("cost"), meta.get("dtype")
    if not (isinstance(sizes, list) and 2 <= len(sizes) <= len(reader.names)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)):
        reader.fail(f"has invalid layer sizes {_short(sizes)}")
    if not (isinstance(activations, list) and len(activations) == len(sizes) - 1):
        reader.fail(f"lists activations {_short(activations)} for {len(sizes) - 1} layers")
    for name in activations:
        if not isinstance(name, str) or name not in ACTIVATIONS:
            reader.fail(f"uses activation {_short(name)}, unknown to this deltaprop (known: {', '.join(ACTIVATIONS)})")
    if not isinstance(cost, str) or cost not in COSTS:
        reader.fail(f"uses cost {_short(cost)}, unknown to this deltaprop (known: {', '.join(COSTS)})")
    if dtype not in _DTYPES:
        reader.fail(f"has dtype {_short(dtype)}; expected one of {', '.join(_DTYPES)}")
    spec = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        spec[f"W{i}"], spec[f"b{i}"] = ((n_out, n_in), dtype), ((n_out,), dtype)
    return spec


def read_network(reader: ArchiveReader, meta: dict) -> Network:
    """Build the network from the archive's ``W0, b0, ...`` (checked by :func:`weight_spec`)."""
    spec, layers = weight_spec(reader, meta), []
    for i, activation in enumerate(meta["activations"]):
        W, b = reader.array(f"W{i}", *spec[f"W{i}"]), reader.array(f"b{i}", *spec[f"b{i}"])
        layer = Dense(W.shape[1], W.shape[0], activation)
        layer.W, layer.b = W, b  # the setters copy (the arrays read are read-only) and keep the file's dtype
        layers.append(layer)
    try:
        return Network(layers, cost=meta["cost"], dtype=meta["dtype"])
    except DeltapropError as error:  # e.g. a cost that does not accept the output activation
        reader.fail(f"describes an invalid network: {error}")


def save(net: Network, path, metadata=None) -> None:
    """Write ``net`` to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
        Written exactly as given (no suffix is appended); ``model.npz`` by convention.
    metadata : dict, optional
        Extra JSON-serialisable information stored with the model; :func:`read_metadata` returns
        it under ``"extra"``.

    Raises
    ------
    NonFiniteError
        If a weight or bias is NaN or infinite (a diverged run): such a model is never written.
    """
    if not isinstance(net, Network):
        raise DeltapropError(f"save() takes a deltaprop.Network, got {type(net).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise DeltapropError(f"metadata must be a dict of JSON values, got {type(metadata).__name__}")
    check_finite_weights(net, path)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **architecture(net), "extra": metadata or {}}
    write_archive(path, meta, weight_arrays(net))


_CHECKPOINT_HINT = ("is a training checkpoint, not a model: continue training with 'deltaprop train --resume' or "
                    "read it with deltaprop.checkpoint.load_checkpoint")


def _read_model(path) -> tuple[dict, Network]:
    with ArchiveReader(path, "model file") as reader:
        meta = reader.metadata(FORMAT, FORMAT_VERSION, hints={CHECKPOINT_FORMAT: _CHECKPOINT_HINT})
        reader.expect(weight_spec(reader, meta))
        return meta, read_network(reader, meta)


def read_metadata(path) -> dict:
    """Return the JSON metadata of the model file at ``path`` (validated like :func:`load`)."""
    return _read_model(path)[0]


def load(path) -> Network:
    """Read a model written by :func:`save` (or :meth:`Network.save`) and return the network.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, corrupted, holds pickled objects, is not a deltaprop
        model, was written by a newer format version, or its arrays disagree with its metadata.
    """
    return _read_model(path)[1]


# -- training histories -----------------------------------------------------------------------------

def save_history(history, path) -> None:
    """Write a training history as CSV, one row per epoch, atomically.

    ``history`` is a :class:`~deltaprop.History` or a dict mapping metric names to per-epoch
    lists. The first column is ``epoch`` (counted from 1).
    """
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, dict):
        raise DeltapropError(f"history must be a deltaprop.History or a dict of lists, got {type(history).__name__}")
    names = list(metrics)
    n = max((len(values) for values in metrics.values()), default=0)
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *names])
        for epoch in range(n):
            row = [metrics[name][epoch] if epoch < len(metrics[name]) else "" for name in names]
            writer.writerow([epoch + 1, *(repr(float(v)) if v != "" else "" for v in row)])


def load_history(path) -> dict:
    """Read a history CSV written by :func:`save_history`: ``{metric: [value per epoch]}``.

    Empty cells become NaN. The ``epoch`` column is returned too.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise DeltapropError(f"history file {path} is not a text CSV file") from None
    except OSError as error:
        raise DeltapropError(f"cannot read history file {path}: {error.strerror or error}") from None
    if not rows or not rows[0] or rows[0][0] != "epoch":
        raise DeltapropError(f"history file {path} does not start with a header row 'epoch,...' (written by deltaprop train?)")
    header, body = rows[0], [row for row in rows[1:] if row]
    history = {name: [] for name in header}
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DeltapropError(f"history file {path}, line {line}: {len(row)} cells, but the header has {len(header)}")
        for name, cell in zip(header, row):
            try:
                history[name].append(float(cell) if cell.strip() else math.nan)
            except ValueError:
                raise DeltapropError(f"history file {path}, line {line}, column {name!r}: {cell!r} is not a number") from None
    if not body:
        raise DeltapropError(f"history file {path} has no epochs")
    return history
